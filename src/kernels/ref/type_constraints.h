// Type constraints of elementwise ops: which dtypes an op accepts, checked at
// infer time (accepts) and used at compile time to instantiate only the
// kernels that can run (accepts_type).
#pragma once

#include <type_traits>

#include "ir/infer.h"
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra::ref {

// The element types an op accepts (its ONNX type constraint, rounded to the
// dtypes Iskra stores).
enum class Types {
  kFloat,    // f16, bf16, f32, f64
  kSigned,   // floats and signed integers
  kNumeric,  // floats and all integers
  kInteger,  // all integers
  kBool,     // bool only
  kAny,      // numeric or bool
};

inline bool accepts(Types types, DType dtype) {
  const bool numeric = dtype_is_float(dtype) || dtype_is_integer(dtype);
  switch (types) {
    case Types::kFloat: return dtype_is_float(dtype);
    case Types::kSigned: return dtype_is_signed(dtype);
    case Types::kNumeric: return numeric;
    case Types::kInteger: return dtype_is_integer(dtype);
    case Types::kBool: return dtype == DType::kBool;
    case Types::kAny: return numeric || dtype == DType::kBool;
  }
  return false;
}

// The compile-time twin of accepts(): which element types a kernel instantiates.
template <Types kTypes, typename T>
constexpr bool accepts_type() {
  constexpr bool is_float = std::is_floating_point_v<compute_t<T>>;
  constexpr bool is_bool = std::is_same_v<T, bool>;
  constexpr bool is_int = std::is_integral_v<T> && !is_bool;
  switch (kTypes) {
    case Types::kFloat: return is_float;
    case Types::kSigned: return is_float || (is_int && std::is_signed_v<T>);
    case Types::kNumeric: return is_float || is_int;
    case Types::kInteger: return is_int;
    case Types::kBool: return is_bool;
    case Types::kAny: return true;
  }
  return false;
}

// Checks input `i` is present and of an accepted dtype.
inline Status check_input_type(const InferContext& ctx, size_t i, Types types) {
  if (!ctx.has_input(i)) return ctx.error("missing input ", i);
  const DType dtype = ctx.dtype(i);
  if (!dtype_is_supported(dtype) || dtype == DType::kString)
    return ctx.unsupported_error("input ", i, " has unsupported dtype ", dtype_name(dtype));
  if (!accepts(types, dtype)) return ctx.error("input ", i, " has dtype ", dtype_name(dtype), ", not allowed for this op");
  return Status::ok();
}

// Result dtype of a table-driven elementwise op: the input's, or bool.
enum class Output { kSame, kBool };

// Element type an elementwise op with result kind kResult writes for input type T.
template <Output kResult, typename T>
using result_t = std::conditional_t<kResult == Output::kBool, bool, T>;

// Stores one elementwise result: bool results as they are; others first
// narrowed back to the compute type (int8 arithmetic promotes to int), then
// converted to T.
template <Output kResult, typename T, typename R>
void store_result(result_t<kResult, T>& out, R r) {
  if constexpr (kResult == Output::kBool) out = r;
  else out = convert_element<T>(static_cast<compute_t<T>>(r));
}

// One row of a table of elementwise ops (unary.cc, binary.cc).
struct TableOp {
  OpKind op;
  InferFn infer;
  RefKernelFn run;
};

}  // namespace iskra::ref
