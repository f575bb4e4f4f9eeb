#include "base/half.h"

#include <gtest/gtest.h>

#include <cmath>

namespace iskra {
namespace {

// Bit patterns from IEEE 754 binary16 (checked against numpy.float16).
TEST(Float16, KnownEncodings) {
  EXPECT_EQ(Float16(1.0f).bits, 0x3c00);
  EXPECT_EQ(Float16(-2.0f).bits, 0xc000);
  EXPECT_EQ(Float16(65504.0f).bits, 0x7bff);         // largest finite
  EXPECT_EQ(Float16(65520.0f).bits, 0x7c00);         // rounds to infinity
  EXPECT_EQ(Float16(std::ldexp(1.0f, -24)).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(Float16(std::ldexp(1.0f, -26)).bits, 0x0000);  // rounds to zero
  EXPECT_EQ(Float16(std::ldexp(1.0f, -14)).bits, 0x0400);  // smallest normal
}

TEST(Float16, RoundsToNearestEven) {
  EXPECT_EQ(Float16(1.0f + std::ldexp(1.0f, -11)).bits, 0x3c00);      // tie → even
  EXPECT_EQ(Float16(1.0f + 3 * std::ldexp(1.0f, -11)).bits, 0x3c02);  // tie → even (up)
  EXPECT_EQ(Float16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)).bits, 0x3c01);
}

TEST(Float16, RoundTripsEveryFiniteValue) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    if ((bits & 0x7c00) == 0x7c00) continue;  // inf/nan
    Float16 h;
    h.bits = static_cast<uint16_t>(bits);
    ASSERT_EQ(Float16(static_cast<float>(h)).bits, bits) << std::hex << bits;
  }
}

TEST(Float16, NanAndInfinity) {
  EXPECT_TRUE(std::isnan(static_cast<float>(Float16(NAN))));
  EXPECT_TRUE(std::isinf(static_cast<float>(Float16(INFINITY))));
}

TEST(BFloat16, RoundsToNearestEven) {
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(BFloat16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);      // tie → even
  EXPECT_EQ(BFloat16(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3f82);  // tie → even (up)
  EXPECT_EQ(static_cast<float>(BFloat16(3.0f)), 3.0f);
}

}  // namespace
}  // namespace iskra
