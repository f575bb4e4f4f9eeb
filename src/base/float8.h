// ONNX's 8-bit and 4-bit floating-point storage types (FLOAT8E4M3FN,
// FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ, FLOAT4E2M1, FLOAT8E8M0), each
// held in one byte (float4 in the low 4 bits), with exact conversions to
// float and correctly rounded conversions from float/double. Like half.h these
// are storage formats only: arithmetic is done in float.
//
// Format details: onnx/docs/technical/float8.md and float4.md, the OCP 8-bit
// floating point and microscaling (MX) specifications.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "base/half.h"

namespace iskra {

// How a small float format encodes its special values.
enum class MiniFloatKind {
  kIeee,  // E5M2: exponent all ones is inf (mantissa 0) or NaN, as in IEEE 754
  kFN,    // E4M3FN: no inf; only S.1111.111 is NaN, so exponent 1111 is otherwise normal
  kFNUZ,  // E4M3FNUZ, E5M2FNUZ: no inf, no -0; the -0 pattern 0x80 is the one NaN
  kNone,  // E2M1: no inf, no NaN
};

// A float with a sign bit, kExp exponent bits (bias kBias) and kMan mantissa
// bits, in the low 1 + kExp + kMan bits of a byte.
template <int kExp, int kMan, int kBias, MiniFloatKind kKind>
struct MiniFloat {
  static constexpr uint8_t kSign = uint8_t(1u << (kExp + kMan));
  static constexpr uint8_t kMagnitude = uint8_t(kSign - 1);  // all exponent and mantissa bits
  static constexpr uint8_t kExpAllOnes = uint8_t(((1u << kExp) - 1) << kMan);
  // The largest finite magnitude's bit pattern.
  static constexpr uint8_t kMaxFinite = kKind == MiniFloatKind::kIeee ? uint8_t(kExpAllOnes - 1)
                                        : kKind == MiniFloatKind::kFN ? uint8_t(kMagnitude - 1)
                                                                      : kMagnitude;

  uint8_t bits = 0;

  MiniFloat() = default;
  explicit MiniFloat(float f, bool saturate = true) : bits(from_float(f, saturate)) {}
  operator float() const { return to_float(bits); }  // NOLINT: widening is exact

  static bool is_nan(uint8_t b) {
    b &= uint8_t(kSign | kMagnitude);
    switch (kKind) {
      case MiniFloatKind::kIeee: return (b & kExpAllOnes) == kExpAllOnes && (b & ((1u << kMan) - 1)) != 0;
      case MiniFloatKind::kFN: return (b & kMagnitude) == kMagnitude;
      case MiniFloatKind::kFNUZ: return b == kSign;
      case MiniFloatKind::kNone: return false;
    }
    return false;
  }

  static float to_float(uint8_t b) {
    const bool negative = (b & kSign) != 0;
    if (is_nan(b)) return negative ? -std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::quiet_NaN();
    const unsigned magnitude = b & kMagnitude;
    const int exponent = int(magnitude >> kMan);
    const unsigned mantissa = magnitude & ((1u << kMan) - 1);
    float value;
    if (kKind == MiniFloatKind::kIeee && (magnitude & kExpAllOnes) == kExpAllOnes)
      value = std::numeric_limits<float>::infinity();
    else if (exponent == 0)  // subnormal: mantissa * 2^(1 - bias - kMan)
      value = std::ldexp(float(mantissa), 1 - kBias - kMan);
    else
      value = std::ldexp(float(mantissa | (1u << kMan)), exponent - kBias - kMan);
    return negative ? -value : value;
  }

  // Round to nearest even. Out of range values (including infinities) become
  // the largest finite value of that sign when `saturate` is true; otherwise
  // infinity where the format has one (E5M2), else NaN (ONNX Cast tables).
  // E2M1 has neither, so it always saturates.
  static uint8_t from_double(double x, bool saturate = true) {
    const bool negative = std::signbit(x);
    const uint8_t sign = negative ? kSign : 0;
    if (std::isnan(x)) return nan_bits(negative);
    const double a = std::fabs(x);
    uint8_t magnitude = 0;
    if (std::isinf(a)) {
      magnitude = uint8_t(kMaxFinite + 1);  // marks overflow below
    } else if (a != 0.0) {
      constexpr int kMinExponent = 1 - kBias;  // exponent of the smallest normal
      int e;
      std::frexp(a, &e);
      const int exponent = e - 1;  // a is in [2^exponent, 2^(exponent+1))
      const bool subnormal = exponent < kMinExponent;
      // Scale so the last mantissa bit weighs 1, then round half to even (the
      // scaling is exact). A carry into the next binade, or from subnormal to
      // normal, lands on the right bit pattern by itself.
      const double q = std::nearbyint(std::ldexp(a, kMan - (subnormal ? kMinExponent : exponent)));
      const double code = subnormal ? q : q - double(1u << kMan) + std::ldexp(double(exponent + kBias), kMan);
      magnitude = code > double(kMaxFinite) ? uint8_t(kMaxFinite + 1) : uint8_t(code);
    }
    if (magnitude > kMaxFinite) {  // overflow
      if (saturate || kKind == MiniFloatKind::kNone) return sign | kMaxFinite;
      return kKind == MiniFloatKind::kIeee ? uint8_t(sign | kExpAllOnes) : nan_bits(negative);
    }
    // FNUZ formats have no -0 (its pattern is NaN): negative values that round to zero become +0.
    if (magnitude == 0 && kKind == MiniFloatKind::kFNUZ) return 0;
    return sign | magnitude;
  }
  static uint8_t from_float(float f, bool saturate = true) { return from_double(f, saturate); }

 private:
  // The NaN pattern of a conversion from a NaN (as ml_dtypes, which made the
  // ONNX test data, encodes it). E2M1 has no NaN: like ml_dtypes we give -0
  // for NaN and +0 for -NaN (the ONNX float4 notes say 6; nothing is exact).
  static uint8_t nan_bits(bool negative) {
    switch (kKind) {
      case MiniFloatKind::kIeee: return uint8_t((negative ? kSign : 0) | kExpAllOnes | (1u << (kMan - 1)));
      case MiniFloatKind::kFN: return uint8_t((negative ? kSign : 0) | kMagnitude);
      case MiniFloatKind::kFNUZ: return kSign;
      case MiniFloatKind::kNone: return negative ? 0 : kSign;
    }
    return 0;
  }
};

using Float8E4M3FN = MiniFloat<4, 3, 7, MiniFloatKind::kFN>;        // max 448, NaN 0x7f
using Float8E4M3FNUZ = MiniFloat<4, 3, 8, MiniFloatKind::kFNUZ>;    // max 240, NaN 0x80
using Float8E5M2 = MiniFloat<5, 2, 15, MiniFloatKind::kIeee>;       // max 57344, inf 0x7c
using Float8E5M2FNUZ = MiniFloat<5, 2, 16, MiniFloatKind::kFNUZ>;   // max 57344, NaN 0x80
using Float4E2M1 = MiniFloat<2, 1, 1, MiniFloatKind::kNone>;        // max 6, low 4 bits

static_assert(sizeof(Float8E4M3FN) == 1 && sizeof(Float4E2M1) == 1);

// E8M0 rounding of Cast's `round_mode` attribute.
enum class E8M0Rounding { kUp, kDown, kNearest };

// FLOAT8E8M0 (OCP MX scale): an unsigned power of two 2^(bits - 127), no zero,
// 0xff is NaN.
struct Float8E8M0 {
  static constexpr uint8_t kNaN = 0xff;
  static constexpr uint8_t kMax = 0xfe;  // 2^127

  uint8_t bits = 0;

  Float8E8M0() = default;
  explicit Float8E8M0(float f, bool saturate = true, E8M0Rounding mode = E8M0Rounding::kUp)
      : bits(from_float(f, saturate, mode)) {}
  operator float() const { return to_float(bits); }  // NOLINT: widening is exact

  static float to_float(uint8_t b) {
    if (b == kNaN) return std::numeric_limits<float>::quiet_NaN();
    return std::ldexp(1.0f, int(b) - 127);  // 2^-127 is a float subnormal: exact
  }

  // Rounds the float32 exponent field as onnx.numpy_helper.to_float8e8m0 does
  // (the sign is ignored: ONNX leaves negative inputs unspecified). `up`
  // rounds any nonzero fraction up, `nearest` rounds up when the fraction is
  // >= 1/2, `down` truncates; with `saturate` nothing rounds up to NaN. NaN
  // gives NaN; infinity gives the max when saturating (ONNX Cast table), NaN
  // otherwise.
  static uint8_t from_float(float f, bool saturate = true, E8M0Rounding mode = E8M0Rounding::kUp) {
    const uint32_t x = float_to_bits(f);
    const uint32_t exponent = (x >> 23) & 0xff;
    if (exponent == 0xff) return (std::isinf(f) && saturate) ? kMax : kNaN;
    const uint32_t fraction = x & 0x7fffff;
    bool round_up = false;
    switch (mode) {
      case E8M0Rounding::kUp: round_up = fraction != 0; break;
      case E8M0Rounding::kDown: break;
      case E8M0Rounding::kNearest: {
        // Guard bit set and (round bit, sticky bits or the exponent's lsb) set,
        // with the lsb taken as "exponent > 0", as the ONNX reference does.
        const bool guard = (x & 0x400000) != 0, rest = (x & 0x3fffff) != 0;
        round_up = guard && (rest || exponent > 0);
        break;
      }
    }
    if (round_up && saturate && exponent == kMax) round_up = false;
    return uint8_t(exponent + (round_up ? 1 : 0));
  }
};

}  // namespace iskra
