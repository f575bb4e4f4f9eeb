// Element types of tensors. Values match ONNX TensorProto.DataType so that the
// ONNX importer and the .pb reader convert by a range check, not a table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/float8.h"
#include "base/half.h"

namespace iskra {

enum class DType : int32_t {
  kUndefined = 0,
  kF32 = 1,
  kU8 = 2,
  kI8 = 3,
  kU16 = 4,
  kI16 = 5,
  kI32 = 6,
  kI64 = 7,
  kString = 8,  // known so it can be named in errors; no kernel runs strings
  kBool = 9,
  kF16 = 10,
  kF64 = 11,
  kU32 = 12,
  kU64 = 13,
  kBF16 = 16,
  // Low-precision types: storage only, one byte per element in memory
  // (sub-byte types unpacked: int4 as an int8 in [-8, 7], uint4 as a uint8
  // in [0, 15], float4 as its 4-bit code in the low bits; packed only in ONNX
  // files). Kernels do not dispatch on them (they are not in the
  // ISKRA_DISPATCH_* sets): Cast/CastLike, QuantizeLinear/DequantizeLinear
  // and byte-copying ops handle them explicitly. Formats: base/float8.h.
  kF8E4M3FN = 17,
  kF8E4M3FNUZ = 18,
  kF8E5M2 = 19,
  kF8E5M2FNUZ = 20,
  kU4 = 21,
  kI4 = 22,
  kF4E2M1 = 23,
  kF8E8M0 = 24,
  kU2 = 25,
  kI2 = 26,
};

// Size in bytes of one element; 0 for kUndefined and kString.
size_t dtype_size(DType dtype);
// Short lowercase name: "f32", "i64", "bool", ...
const char* dtype_name(DType dtype);
// The numpy dtype string ("<f4", "|b1", ...) or nullptr if numpy has none.
const char* dtype_numpy_descr(DType dtype);
// True for the element types Iskra can store in a tensor.
bool dtype_is_supported(DType dtype);
// The arithmetic types (what the ISKRA_DISPATCH_* macros cover); these three
// are false for the low-precision types below.
bool dtype_is_float(DType dtype);    // f16, bf16, f32, f64
bool dtype_is_integer(DType dtype);  // signed or unsigned integers (not bool)
bool dtype_is_signed(DType dtype);   // signed integers and floats

// Low-precision types (see the enum): small floats (the float8 types, f4e2m1,
// f8e8m0) and small integers (u4, i4, u2, i2).
bool dtype_is_small_float(DType dtype);
bool dtype_is_small_int(DType dtype);
inline bool dtype_is_low_precision(DType dtype) { return dtype_is_small_float(dtype) || dtype_is_small_int(dtype); }
// Bits per element in ONNX files: 4 for u4/i4/f4e2m1, 2 for u2/i2, else 8 * dtype_size.
int dtype_bits(DType dtype);
// The 8-bit integer type a small integer is stored as (i4, i2 -> i8; u4, u2 -> u8).
DType small_int_storage(DType dtype);
// The value range of a small integer type ([-8, 7] for i4, ...).
int64_t small_int_min(DType dtype);
int64_t small_int_max(DType dtype);
// An integer reduced to a small integer type's width (two's complement
// wrap, like a cast to a narrower integer): 17 -> 1, -9 -> 7 for i4.
int64_t small_int_wrap(DType dtype, int64_t value);

// Options of a conversion to a small float type (Cast/QuantizeLinear
// attributes `saturate` and `round_mode`).
struct SmallFloatOptions {
  bool saturate = true;
  E8M0Rounding e8m0_rounding = E8M0Rounding::kUp;
};
// Exact value of a small float bit pattern (NaN stays NaN).
float small_float_to_float(DType dtype, uint8_t bits);
// A double rounded to a small float type (base/float8.h rules).
uint8_t small_float_from_double(DType dtype, double value, const SmallFloatOptions& options = {});

// Maps a C++ element type to its DType.
template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kF32; }
template <> constexpr DType dtype_of<double>() { return DType::kF64; }
template <> constexpr DType dtype_of<Float16>() { return DType::kF16; }
template <> constexpr DType dtype_of<BFloat16>() { return DType::kBF16; }
template <> constexpr DType dtype_of<int8_t>() { return DType::kI8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kU8; }
template <> constexpr DType dtype_of<int16_t>() { return DType::kI16; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::kU16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kI32; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::kU32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kI64; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::kU64; }
template <> constexpr DType dtype_of<bool>() { return DType::kBool; }

}  // namespace iskra

// Dispatch on a runtime dtype to a generic lambda taking a typed tag:
//   ISKRA_DISPATCH_ALL(dtype, [&](auto tag) { using T = decltype(tag); ... });
// Each macro returns whatever the lambda returns; for a dtype outside the set it
// returns the value of the trailing argument(s) (typically a Status
// expression, which may contain commas). Define `fn` as a named lambda first:
// commas inside an unparenthesized lambda body would split macro arguments.
#define ISKRA_DTYPE_CASE(DT, T, fn) \
  case ::iskra::DType::DT: return fn(T{});

#define ISKRA_FLOAT_CASES(fn)                    \
  ISKRA_DTYPE_CASE(kF32, float, fn)              \
  ISKRA_DTYPE_CASE(kF64, double, fn)             \
  ISKRA_DTYPE_CASE(kF16, ::iskra::Float16, fn)   \
  ISKRA_DTYPE_CASE(kBF16, ::iskra::BFloat16, fn)

#define ISKRA_INTEGER_CASES(fn)          \
  ISKRA_DTYPE_CASE(kI8, int8_t, fn)      \
  ISKRA_DTYPE_CASE(kU8, uint8_t, fn)     \
  ISKRA_DTYPE_CASE(kI16, int16_t, fn)    \
  ISKRA_DTYPE_CASE(kU16, uint16_t, fn)   \
  ISKRA_DTYPE_CASE(kI32, int32_t, fn)    \
  ISKRA_DTYPE_CASE(kU32, uint32_t, fn)   \
  ISKRA_DTYPE_CASE(kI64, int64_t, fn)    \
  ISKRA_DTYPE_CASE(kU64, uint64_t, fn)

#define ISKRA_DISPATCH_FLOAT(dtype, fn, ...) \
  [&]() {                                    \
    switch (dtype) {                         \
      ISKRA_FLOAT_CASES(fn)                  \
      default: return __VA_ARGS__;           \
    }                                        \
  }()

#define ISKRA_DISPATCH_NUMERIC(dtype, fn, ...) \
  [&]() {                                      \
    switch (dtype) {                           \
      ISKRA_FLOAT_CASES(fn)                    \
      ISKRA_INTEGER_CASES(fn)                  \
      default: return __VA_ARGS__;             \
    }                                          \
  }()

#define ISKRA_DISPATCH_ALL(dtype, fn, ...) \
  [&]() {                                  \
    switch (dtype) {                       \
      ISKRA_FLOAT_CASES(fn)                \
      ISKRA_INTEGER_CASES(fn)              \
      ISKRA_DTYPE_CASE(kBool, bool, fn)    \
      default: return __VA_ARGS__;         \
    }                                      \
  }()
