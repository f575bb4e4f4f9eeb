#include "ir/dtype.h"

#include <limits>

namespace iskra {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32: case DType::kI32: case DType::kU32: return 4;
    case DType::kF64: case DType::kI64: case DType::kU64: return 8;
    case DType::kF16: case DType::kBF16: case DType::kI16: case DType::kU16: return 2;
    case DType::kI8: case DType::kU8: case DType::kBool: return 1;
    case DType::kF8E4M3FN: case DType::kF8E4M3FNUZ: case DType::kF8E5M2: case DType::kF8E5M2FNUZ:
    case DType::kU4: case DType::kI4: case DType::kF4E2M1: case DType::kF8E8M0: case DType::kU2: case DType::kI2:
      return 1;  // unpacked: one element per byte
    case DType::kString: case DType::kUndefined: return 0;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kF64: return "f64";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kI8: return "i8";
    case DType::kU8: return "u8";
    case DType::kI16: return "i16";
    case DType::kU16: return "u16";
    case DType::kI32: return "i32";
    case DType::kU32: return "u32";
    case DType::kI64: return "i64";
    case DType::kU64: return "u64";
    case DType::kBool: return "bool";
    case DType::kF8E4M3FN: return "f8e4m3fn";
    case DType::kF8E4M3FNUZ: return "f8e4m3fnuz";
    case DType::kF8E5M2: return "f8e5m2";
    case DType::kF8E5M2FNUZ: return "f8e5m2fnuz";
    case DType::kU4: return "u4";
    case DType::kI4: return "i4";
    case DType::kF4E2M1: return "f4e2m1";
    case DType::kF8E8M0: return "f8e8m0";
    case DType::kU2: return "u2";
    case DType::kI2: return "i2";
    case DType::kString: return "string";
    case DType::kUndefined: return "undefined";
  }
  return "unknown";
}

// numpy has none of the low-precision types: they have no descr (the CLI
// widens them when it writes .npy files, see tools/iskra/tensor_files.cc).
const char* dtype_numpy_descr(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "<f4";
    case DType::kF64: return "<f8";
    case DType::kF16: return "<f2";
    case DType::kI8: return "|i1";
    case DType::kU8: return "|u1";
    case DType::kI16: return "<i2";
    case DType::kU16: return "<u2";
    case DType::kI32: return "<i4";
    case DType::kU32: return "<u4";
    case DType::kI64: return "<i8";
    case DType::kU64: return "<u8";
    case DType::kBool: return "|b1";
    default: return nullptr;
  }
}

bool dtype_is_supported(DType dtype) { return dtype_size(dtype) != 0; }

bool dtype_is_float(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF64 || dtype == DType::kF16 ||
         dtype == DType::kBF16;
}

bool dtype_is_integer(DType dtype) {
  switch (dtype) {
    case DType::kI8: case DType::kU8: case DType::kI16: case DType::kU16:
    case DType::kI32: case DType::kU32: case DType::kI64: case DType::kU64:
      return true;
    default:
      return false;
  }
}

bool dtype_is_signed(DType dtype) {
  return dtype_is_float(dtype) || dtype == DType::kI8 || dtype == DType::kI16 ||
         dtype == DType::kI32 || dtype == DType::kI64;
}

bool dtype_is_small_float(DType dtype) {
  switch (dtype) {
    case DType::kF8E4M3FN: case DType::kF8E4M3FNUZ: case DType::kF8E5M2: case DType::kF8E5M2FNUZ:
    case DType::kF4E2M1: case DType::kF8E8M0:
      return true;
    default:
      return false;
  }
}

bool dtype_is_small_int(DType dtype) {
  return dtype == DType::kU4 || dtype == DType::kI4 || dtype == DType::kU2 || dtype == DType::kI2;
}

int dtype_bits(DType dtype) {
  switch (dtype) {
    case DType::kU4: case DType::kI4: case DType::kF4E2M1: return 4;
    case DType::kU2: case DType::kI2: return 2;
    default: return static_cast<int>(8 * dtype_size(dtype));
  }
}

DType small_int_storage(DType dtype) {
  return dtype == DType::kI4 || dtype == DType::kI2 ? DType::kI8 : DType::kU8;
}

namespace {
bool small_int_signed(DType dtype) { return dtype == DType::kI4 || dtype == DType::kI2; }
}  // namespace

int64_t small_int_min(DType dtype) {
  return small_int_signed(dtype) ? -(int64_t{1} << (dtype_bits(dtype) - 1)) : 0;
}

int64_t small_int_max(DType dtype) {
  const int bits = dtype_bits(dtype);
  return (int64_t{1} << (small_int_signed(dtype) ? bits - 1 : bits)) - 1;
}

int64_t small_int_wrap(DType dtype, int64_t value) {
  const int bits = dtype_bits(dtype);
  const auto low = static_cast<int64_t>(static_cast<uint64_t>(value) & ((uint64_t{1} << bits) - 1));
  return low > small_int_max(dtype) ? low - (int64_t{1} << bits) : low;
}

float small_float_to_float(DType dtype, uint8_t bits) {
  switch (dtype) {
    case DType::kF8E4M3FN: return Float8E4M3FN::to_float(bits);
    case DType::kF8E4M3FNUZ: return Float8E4M3FNUZ::to_float(bits);
    case DType::kF8E5M2: return Float8E5M2::to_float(bits);
    case DType::kF8E5M2FNUZ: return Float8E5M2FNUZ::to_float(bits);
    case DType::kF4E2M1: return Float4E2M1::to_float(bits);
    case DType::kF8E8M0: return Float8E8M0::to_float(bits);
    default: return std::numeric_limits<float>::quiet_NaN();
  }
}

uint8_t small_float_from_double(DType dtype, double value, const SmallFloatOptions& options) {
  switch (dtype) {
    case DType::kF8E4M3FN: return Float8E4M3FN::from_double(value, options.saturate);
    case DType::kF8E4M3FNUZ: return Float8E4M3FNUZ::from_double(value, options.saturate);
    case DType::kF8E5M2: return Float8E5M2::from_double(value, options.saturate);
    case DType::kF8E5M2FNUZ: return Float8E5M2FNUZ::from_double(value, options.saturate);
    case DType::kF4E2M1: return Float4E2M1::from_double(value, options.saturate);
    // E8M0 rounds the float32 value, as the ONNX reference does.
    case DType::kF8E8M0:
      return Float8E8M0::from_float(static_cast<float>(value), options.saturate, options.e8m0_rounding);
    default: return 0;
  }
}

}  // namespace iskra
