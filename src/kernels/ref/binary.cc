// Reference kernels and shape functions: binary, variadic and ternary
// elementwise ops with numpy (multidirectional) broadcasting.
//
// Every op walks its output through for_each_broadcast(), the one
// broadcasting loop of this file. Two-input ops are table-driven: each is one
// line in kTableOps, a generic lambda on the compute type (float for
// f16/bf16, see compute_t). Pow, Max/Min/Sum/Mean and Where have their own
// infer/run pairs built on the same loop.
//
// Integer results are defined for every input: + - * wrap (two's
// complement), x / 0 == 0 and x mod 0 == 0 (numpy's results),
// INT_MIN / -1 == INT_MIN.
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/ref/common.h"
#include "kernels/ref/type_constraints.h"

namespace iskra {
namespace {

using ref::compute_t;
using ref::convert_element;

// Kernels pass named lambdas to the ISKRA_DISPATCH_* macros: a lambda written
// inline would have the macro split it at its commas.

using ref::accepts_type;
using ref::check_input_type;
using ref::Output;
using ref::TableOp;
using ref::Types;

// Checks inputs [first, end) have the dtype of input `first`.
Status check_same_dtype(const InferContext& ctx, size_t first, size_t end) {
  for (size_t i = first + 1; i < end; ++i)
    if (ctx.dtype(i) != ctx.dtype(first))
      return ctx.error("input ", i, " has dtype ", dtype_name(ctx.dtype(i)), ", expected ",
                       dtype_name(ctx.dtype(first)), " like input ", first);
  return Status::ok();
}

// The numpy broadcast of the shapes of inputs [first, end).
Result<Shape> broadcast_inputs(const InferContext& ctx, size_t first, size_t end) {
  Shape shape = ctx.shape(first);
  for (size_t i = first + 1; i < end; ++i) {
    auto next = ref::broadcast_shapes(shape, ctx.shape(i));
    if (!next)
      return ctx.error("input shapes ", shape_to_string(shape), " and ", shape_to_string(ctx.shape(i)),
                       " (input ", i, ") do not broadcast");
    shape = std::move(*next);
  }
  return shape;
}

// The broadcasting loop: calls fn(i, index) for every flat output index i of
// out_shape, where index.offset(k) is the element of inputs[k] that numpy
// broadcasting pairs with output element i.
template <size_t N, typename Fn>
void for_each_broadcast(const Shape& out_shape, const std::array<const Tensor*, N>& inputs, Fn&& fn) {
  std::array<std::vector<int64_t>, N> strides;
  for (size_t k = 0; k < N; ++k) strides[k] = ref::broadcast_strides(inputs[k]->shape(), out_shape);
  ref::StridedIndexer<N> index(out_shape, strides);
  const int64_t count = shape_element_count(out_shape);
  for (int64_t i = 0; i < count; ++i, index.next()) fn(i, index);
}

// ---------------------------------------------------------------------------
// Integer arithmetic without undefined behavior.

// An unsigned type at least as wide as C and as unsigned int, so that
// arithmetic on it never promotes to (overflowing) signed int.
template <typename C>
using Wrap = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;

template <typename C, typename Op>
C wrapping(C a, C b, Op op) {
  if constexpr (std::is_integral_v<C>) return static_cast<C>(op(Wrap<C>(a), Wrap<C>(b)));
  else return op(a, b);
}

template <typename C>
bool is_nan(C x) {
  if constexpr (std::is_floating_point_v<C>) return std::isnan(x);
  else return false;
}

// Integer division truncating toward zero (C, and ONNX); x / 0 == 0.
template <typename C>
C divide(C a, C b) {
  if constexpr (std::is_integral_v<C>) {
    if (b == 0) return C(0);
    if constexpr (std::is_signed_v<C>) {
      if (b == C(-1)) return wrapping(C(0), a, std::minus<>());  // INT_MIN / -1 wraps
    }
    return static_cast<C>(a / b);
  } else {
    return a / b;
  }
}

// Mod: fmod=1 is C fmod (sign of a); fmod=0 is numpy mod (sign of b), for
// floats too: opset 28 defines it (with its special cases) for them.
template <typename C>
C modulo(C a, C b, bool fmod) {
  if constexpr (std::is_integral_v<C>) {
    if (b == 0) return C(0);
    if constexpr (std::is_signed_v<C>) {
      if (b == C(-1)) return C(0);  // avoids INT_MIN % -1
    }
    C r = static_cast<C>(a % b);
    if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<C>(r + b);
    return r;
  } else {
    C r = std::fmod(a, b);
    if (fmod || b == 0 || std::isnan(r)) return r;
    if (r == 0) return std::copysign(C(0), b);
    return (r < 0) != (b < 0) ? r + b : r;
  }
}

// BitShift: shifts of [0, bits) act as usual (left shifts wrap); larger or
// negative amounts give 0, or -1 for a right shift of a negative value.
template <typename C>
C bit_shift(C a, C b, bool left) {
  constexpr int kBits = std::numeric_limits<std::make_unsigned_t<C>>::digits;
  bool in_range = b < C(kBits);
  if constexpr (std::is_signed_v<C>) in_range = in_range && b >= 0;
  if (!in_range) return left ? C(0) : (a < C(0) ? C(-1) : C(0));
  if (left) return static_cast<C>(Wrap<C>(a) << b);
  return static_cast<C>(a >> b);  // arithmetic for signed a (C++20)
}

template <typename C>
C max_of(C a, C b) {  // numpy maximum: NaN propagates
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return a < b ? b : a;
}

template <typename C>
C min_of(C a, C b) {  // numpy minimum: NaN propagates
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return b < a ? b : a;
}

// ---------------------------------------------------------------------------
// Table-driven two-input ops: same dtype for both inputs.

struct BinaryParams {
  bool fmod = false;        // Mod
  bool shift_left = false;  // BitShift
};

BinaryParams read_params(const Node& node) {
  BinaryParams p;
  p.fmod = node.attr_int("fmod", 0) != 0;
  p.shift_left = node.attr_string("direction", "") == "LEFT";
  return p;
}

// Attribute checks for the table-driven ops.
Status check_params(const InferContext& ctx) {
  const Node& node = ctx.node();
  if (node.op == OpKind::Mod) {
    const int64_t fmod = node.attr_int("fmod", 0);
    if (fmod != 0 && fmod != 1) return ctx.error("fmod must be 0 or 1, got ", fmod);
  }
  if (node.op == OpKind::BitShift) {
    const std::string direction = node.attr_string("direction", "");
    if (direction != "LEFT" && direction != "RIGHT")
      return ctx.error("direction must be 'LEFT' or 'RIGHT', got '", direction, "'");
  }
  return Status::ok();
}

// Output dtype of a binary op: the inputs', or bool for comparisons.
template <Types kTypes, Output kResult>
Status infer_binary(InferContext& ctx) {
  if (ctx.input_count() != 2) return ctx.error("expects 2 inputs, got ", ctx.input_count());
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 0, kTypes));
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 1, kTypes));
  ISKRA_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 2));
  ISKRA_RETURN_IF_ERROR(check_params(ctx));
  ISKRA_ASSIGN_OR_RETURN(Shape shape, broadcast_inputs(ctx, 0, 2));
  ctx.set_output(0, kResult == Output::kBool ? DType::kBool : ctx.dtype(0), std::move(shape));
  return Status::ok();
}

// z = kFn(a, b, params) with broadcasting, computed in compute_t<T>.
template <Types kTypes, Output kResult, auto kFn>
Status run_binary(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  Tensor& z = ctx.output(0);
  const BinaryParams params = read_params(ctx.node);
  auto run_typed = [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (accepts_type<kTypes, T>()) {
      using C = compute_t<T>;
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      auto* out = z.data<ref::result_t<kResult, T>>();
      for_each_broadcast<2>(z.shape(), {&a, &b}, [&](int64_t i, const auto& index) {
        ref::store_result<kResult, T>(out[i], kFn(C(pa[index.offset(0)]), C(pb[index.offset(1)]), params));
      });
      return Status::ok();
    } else {
      return ctx.unsupported_error("dtype ", dtype_name(a.dtype()));
    }
  };
  return ISKRA_DISPATCH_ALL(a.dtype(), run_typed, ctx.unsupported_error("dtype ", dtype_name(a.dtype())));
}

template <Types kTypes, auto kFn, Output kResult = Output::kSame>
constexpr TableOp binary(OpKind op) {
  return {op, infer_binary<kTypes, kResult>, run_binary<kTypes, kResult, kFn>};
}

using P = const BinaryParams&;

constexpr TableOp kTableOps[] = {
    // Arithmetic.
    binary<Types::kNumeric, [](auto a, auto b, P) { return wrapping(a, b, std::plus<>()); }>(OpKind::Add),
    binary<Types::kNumeric, [](auto a, auto b, P) { return wrapping(a, b, std::minus<>()); }>(OpKind::Sub),
    binary<Types::kNumeric, [](auto a, auto b, P) { return wrapping(a, b, std::multiplies<>()); }>(OpKind::Mul),
    binary<Types::kNumeric, [](auto a, auto b, P) { return divide(a, b); }>(OpKind::Div),
    binary<Types::kNumeric, [](auto a, auto b, P p) { return modulo(a, b, p.fmod); }>(OpKind::Mod),
    // Bitwise and logical.
    binary<Types::kInteger, [](auto a, auto b, P p) { return bit_shift(a, b, p.shift_left); }>(OpKind::BitShift),
    binary<Types::kInteger, [](auto a, auto b, P) { return a & b; }>(OpKind::BitwiseAnd),
    binary<Types::kInteger, [](auto a, auto b, P) { return a | b; }>(OpKind::BitwiseOr),
    binary<Types::kInteger, [](auto a, auto b, P) { return a ^ b; }>(OpKind::BitwiseXor),
    binary<Types::kBool, [](auto a, auto b, P) { return a && b; }>(OpKind::And),
    binary<Types::kBool, [](auto a, auto b, P) { return a || b; }>(OpKind::Or),
    binary<Types::kBool, [](auto a, auto b, P) { return a != b; }>(OpKind::Xor),
    // Comparisons (bool results).
    binary<Types::kAny, [](auto a, auto b, P) { return a == b; }, Output::kBool>(OpKind::Equal),
    binary<Types::kNumeric, [](auto a, auto b, P) { return (a > b); }, Output::kBool>(OpKind::Greater),
    binary<Types::kNumeric, [](auto a, auto b, P) { return (a >= b); }, Output::kBool>(OpKind::GreaterOrEqual),
    binary<Types::kNumeric, [](auto a, auto b, P) { return a < b; }, Output::kBool>(OpKind::Less),
    binary<Types::kNumeric, [](auto a, auto b, P) { return a <= b; }, Output::kBool>(OpKind::LessOrEqual),
};

// ---------------------------------------------------------------------------
// Pow(base, exponent): the exponent may have another dtype; the result has
// the base's. Integer ** integer is exact with wrapping; a negative integer
// exponent gives 1 / base**-e truncated (0 unless base is +-1; numpy
// rejects it). Otherwise computed in double, then converted to the base
// type (to integers: truncated, NaN -> 0, saturated when out of range).

template <typename B, typename E>
B integer_pow(B base, E exponent) {
  if constexpr (std::is_signed_v<E>) {
    if (exponent < 0) {
      if (base == 1) return B(1);
      if constexpr (std::is_signed_v<B>) {
        if (base == -1) return (exponent % 2 == 0) ? B(1) : B(-1);
      }
      return B(0);
    }
  }
  uint64_t result = 1, factor = static_cast<uint64_t>(base);
  for (uint64_t e = static_cast<uint64_t>(exponent); e != 0; e >>= 1) {
    if (e & 1) result *= factor;
    factor *= factor;
  }
  return static_cast<B>(result);
}


Status infer_pow(InferContext& ctx) {
  if (ctx.input_count() != 2) return ctx.error("expects 2 inputs, got ", ctx.input_count());
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kNumeric));
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 1, Types::kNumeric));
  ISKRA_ASSIGN_OR_RETURN(Shape shape, broadcast_inputs(ctx, 0, 2));
  ctx.set_output(0, ctx.dtype(0), std::move(shape));
  return Status::ok();
}

Status run_pow(KernelContext& ctx) {
  const Tensor& base = ctx.input(0);
  const Tensor& exponent = ctx.input(1);
  Tensor& z = ctx.output(0);
  const Status bad = ctx.unsupported_error("dtypes ", dtype_name(base.dtype()), ", ", dtype_name(exponent.dtype()));
  auto base_typed = [&](auto base_tag) -> Status {
    using B = decltype(base_tag);
    auto exponent_typed = [&](auto exponent_tag) -> Status {
      using E = decltype(exponent_tag);
      const B* pb = base.data<B>();
      const E* pe = exponent.data<E>();
      B* out = z.data<B>();
      for_each_broadcast<2>(z.shape(), {&base, &exponent}, [&](int64_t i, const auto& index) {
        const B b = pb[index.offset(0)];
        const E e = pe[index.offset(1)];
        if constexpr (std::is_integral_v<B> && std::is_integral_v<E>) {
          out[i] = integer_pow(b, e);
        } else {
          out[i] = ref::saturate_from_double<B>(std::pow(static_cast<double>(b), static_cast<double>(e)));
        }
      });
      return Status::ok();
    };
    return ISKRA_DISPATCH_NUMERIC(exponent.dtype(), exponent_typed, bad);
  };
  return ISKRA_DISPATCH_NUMERIC(base.dtype(), base_typed, bad);
}

// ---------------------------------------------------------------------------
// Variadic Max / Min / Sum / Mean: all inputs broadcast together, folded left
// to right into the output in the storage type (like numpy).

Status infer_variadic(InferContext& ctx, Types types) {
  if (ctx.input_count() < 1) return ctx.error("expects at least 1 input");
  for (size_t i = 0; i < ctx.input_count(); ++i) ISKRA_RETURN_IF_ERROR(check_input_type(ctx, i, types));
  ISKRA_RETURN_IF_ERROR(check_same_dtype(ctx, 0, ctx.input_count()));
  ISKRA_ASSIGN_OR_RETURN(Shape shape, broadcast_inputs(ctx, 0, ctx.input_count()));
  ctx.set_output(0, ctx.dtype(0), std::move(shape));
  return Status::ok();
}

Status infer_max_min(InferContext& ctx) { return infer_variadic(ctx, Types::kNumeric); }
Status infer_sum_mean(InferContext& ctx) { return infer_variadic(ctx, Types::kFloat); }

// out = kFn(...kFn(kFn(x0, x1), x2)..., xn); Mean divides by n at the end.
template <auto kFn, bool kMean = false>
Status run_variadic(KernelContext& ctx) {
  Tensor& out = ctx.output(0);
  auto run_typed = [&](auto tag) -> Status {
    using T = decltype(tag);
    using C = compute_t<T>;
    T* po = out.data<T>();
    const T* p0 = ctx.input(0).data<T>();
    for_each_broadcast<1>(out.shape(), {&ctx.input(0)}, [&](int64_t i, const auto& index) {
      po[i] = p0[index.offset(0)];
    });
    for (size_t k = 1; k < ctx.input_count(); ++k) {
      const T* pk = ctx.input(k).data<T>();
      for_each_broadcast<1>(out.shape(), {&ctx.input(k)}, [&](int64_t i, const auto& index) {
        po[i] = convert_element<T>(static_cast<C>(kFn(C(po[i]), C(pk[index.offset(0)]))));
      });
    }
    if constexpr (kMean) {
      const C n = static_cast<C>(ctx.input_count());
      for (T& v : out.span<T>()) v = convert_element<T>(static_cast<C>(C(v) / n));
    }
    return Status::ok();
  };
  return ISKRA_DISPATCH_NUMERIC(out.dtype(), run_typed, ctx.unsupported_error("dtype ", dtype_name(out.dtype())));
}

constexpr auto kMax = [](auto a, auto b) { return max_of(a, b); };
constexpr auto kMin = [](auto a, auto b) { return min_of(a, b); };
constexpr auto kAdd = [](auto a, auto b) { return wrapping(a, b, std::plus<>()); };

// ---------------------------------------------------------------------------
// Where(cond, x, y): cond ? x : y, all three broadcast together.

Status infer_where(InferContext& ctx) {
  if (ctx.input_count() != 3) return ctx.error("expects 3 inputs, got ", ctx.input_count());
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kBool));
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 1, Types::kAny));
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 2, Types::kAny));
  ISKRA_RETURN_IF_ERROR(check_same_dtype(ctx, 1, 3));
  ISKRA_ASSIGN_OR_RETURN(Shape shape, broadcast_inputs(ctx, 0, 3));
  ctx.set_output(0, ctx.dtype(1), std::move(shape));
  return Status::ok();
}

Status run_where(KernelContext& ctx) {
  const Tensor& cond = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  Tensor& out = ctx.output(0);
  auto run_typed = [&](auto tag) -> Status {
    using T = decltype(tag);
    const bool* pc = cond.data<bool>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out.data<T>();
    for_each_broadcast<3>(out.shape(), {&cond, &x, &y}, [&](int64_t i, const auto& index) {
      po[i] = pc[index.offset(0)] ? px[index.offset(1)] : py[index.offset(2)];
    });
    return Status::ok();
  };
  return ISKRA_DISPATCH_ALL(x.dtype(), run_typed, ctx.unsupported_error("dtype ", dtype_name(x.dtype())));
}

}  // namespace

void register_binary_ops(OpTable& table) {
  for (const TableOp& op : kTableOps) table.add(op.op, op.infer, op.run);
  table.add(OpKind::Pow, infer_pow, run_pow);
  table.add(OpKind::Max, infer_max_min, run_variadic<kMax>);
  table.add(OpKind::Min, infer_max_min, run_variadic<kMin>);
  table.add(OpKind::Sum, infer_sum_mean, run_variadic<kAdd>);
  table.add(OpKind::Mean, infer_sum_mean, run_variadic<kAdd, true>);
  table.add(OpKind::Where, infer_where, run_where);
}

}  // namespace iskra
