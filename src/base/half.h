// IEEE binary16 (float16) and bfloat16 storage types with float conversion.
// Arithmetic is done in float: these are storage formats only.
#pragma once

#include <cstdint>
#include <cstring>

namespace iskra {

inline float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

struct Float16 {
  uint16_t bits = 0;

  Float16() = default;
  explicit Float16(float f) : bits(from_float(f)) {}
  operator float() const { return to_float(bits); }  // NOLINT: implicit widening is exact

  static float to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    if (exponent == 0x1f) return bits_to_float(sign | 0x7f800000 | (mantissa << 13));  // inf/nan
    if (exponent == 0) {
      if (mantissa == 0) return bits_to_float(sign);
      // Subnormal: value = mantissa * 2^-24.
      float value = float(mantissa) * (1.0f / 16777216.0f);
      return sign ? -value : value;
    }
    return bits_to_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
  }

  // Round to nearest even, with overflow to infinity and NaN kept quiet.
  static uint16_t from_float(float f) {
    const uint32_t x = float_to_bits(f);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000);
    const uint32_t abs = x & 0x7fffffff;
    if (abs >= 0x7f800000) return sign | (abs > 0x7f800000 ? 0x7e00 : 0x7c00);
    if (abs >= 0x477ff000) return sign | 0x7c00;  // rounds to >= 65520: overflow
    if (abs < 0x38800000) {                      // below the smallest normal half
      // Subnormal half: scale so the half ulp (2^-24) becomes 1, round to even.
      const float scaled = bits_to_float(abs) * 16777216.0f;
      // Adding and subtracting 2^23 rounds to the nearest integer, ties to even.
      const float rounded = (scaled + 8388608.0f) - 8388608.0f;
      return sign | uint16_t(rounded);
    }
    uint32_t mantissa = abs & 0x7fffff;
    uint32_t exponent = (abs >> 23) - 112;
    uint32_t half = (exponent << 10) | (mantissa >> 13);
    const uint32_t rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;
    return sign | uint16_t(half);
  }
};

struct BFloat16 {
  uint16_t bits = 0;

  BFloat16() = default;
  explicit BFloat16(float f) : bits(from_float(f)) {}
  operator float() const { return bits_to_float(uint32_t(bits) << 16); }  // NOLINT

  static uint16_t from_float(float f) {
    uint32_t x = float_to_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000) return uint16_t((x >> 16) | 0x40);  // quiet NaN
    x += 0x7fff + ((x >> 16) & 1);  // round to nearest even
    return uint16_t(x >> 16);
  }
};

static_assert(sizeof(Float16) == 2 && sizeof(BFloat16) == 2);

}  // namespace iskra
