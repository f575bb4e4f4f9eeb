// Low-precision element types: float8/float4/e8m0 conversions checked against
// bit patterns from the ONNX documents (docs/technical/float8.md, float4.md,
// the Cast operator's tables) and the OCP MX spec, the small-integer helpers,
// and how the ONNX importer unpacks 4-bit and 2-bit data.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <limits>

#include "base/float8.h"
#include "import/onnx/onnx_tensor.h"
#include "ir/dtype.h"
#include "ir/tensor.h"

namespace iskra {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// E4M3FN: bias 7, S.1111.111 is NaN, no infinity, max S.1111.110 = 448.
TEST(Float8E4M3FN, KnownEncodings) {
  EXPECT_EQ(Float8E4M3FN::from_float(1.0f), 0x38);
  EXPECT_EQ(Float8E4M3FN::from_float(-2.0f), 0xc0);
  EXPECT_EQ(Float8E4M3FN::from_float(448.0f), 0x7e);                // max
  EXPECT_EQ(Float8E4M3FN::from_float(std::ldexp(1.0f, -6)), 0x08);  // smallest normal
  EXPECT_EQ(Float8E4M3FN::from_float(std::ldexp(1.0f, -9)), 0x01);  // smallest subnormal
  EXPECT_EQ(Float8E4M3FN::from_float(-0.0f), 0x80);
  EXPECT_EQ(Float8E4M3FN::to_float(0x7e), 448.0f);
  EXPECT_EQ(Float8E4M3FN::to_float(0x01), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(Float8E4M3FN::to_float(0x7f)));
  EXPECT_TRUE(std::isnan(Float8E4M3FN::to_float(0xff)));
  EXPECT_EQ(Float8E4M3FN::to_float(0x78), 256.0f);  // exponent 1111 is a normal binade here
}

TEST(Float8E4M3FN, RoundsToNearestEven) {
  EXPECT_EQ(Float8E4M3FN::from_float(1.0625f), 0x38);                   // tie between 1 and 1.125 -> even
  EXPECT_EQ(Float8E4M3FN::from_float(1.1875f), 0x3a);                   // tie between 1.125 and 1.25 -> even
  EXPECT_EQ(Float8E4M3FN::from_float(1.07f), 0x39);                     // above the tie
  EXPECT_EQ(Float8E4M3FN::from_float(std::ldexp(1.0f, -10)), 0x00);     // half the smallest subnormal
  EXPECT_EQ(Float8E4M3FN::from_float(3 * std::ldexp(1.0f, -10)), 0x02);  // tie between subnormals 1 and 2
  EXPECT_EQ(Float8E4M3FN::from_float(-std::ldexp(1.0f, -11)), 0x80);    // rounds to -0
}

// The ONNX Cast tables: saturate (default) and saturate = false.
TEST(Float8E4M3FN, CastTables) {
  EXPECT_EQ(Float8E4M3FN::from_float(kInf), 0x7e);
  EXPECT_EQ(Float8E4M3FN::from_float(-kInf), 0xfe);
  EXPECT_EQ(Float8E4M3FN::from_float(1e6f), 0x7e);
  EXPECT_EQ(Float8E4M3FN::from_float(kNaN), 0x7f);
  EXPECT_EQ(Float8E4M3FN::from_float(kInf, false), 0x7f);
  EXPECT_EQ(Float8E4M3FN::from_float(-kInf, false), 0xff);
  EXPECT_EQ(Float8E4M3FN::from_float(1e6f, false), 0x7f);
  EXPECT_EQ(Float8E4M3FN::from_float(464.0f, false), 0x7e);  // the tie above 448 rounds to it (even)
  EXPECT_EQ(Float8E4M3FN::from_float(465.0f, false), 0x7f);  // rounds past the max: NaN
}

// E4M3FNUZ: bias 8, no -0, 0x80 is the only NaN, max S.1111.111 = 240.
TEST(Float8E4M3FNUZ, KnownEncodingsAndCastTables) {
  EXPECT_EQ(Float8E4M3FNUZ::from_float(1.0f), 0x40);
  EXPECT_EQ(Float8E4M3FNUZ::from_float(240.0f), 0x7f);
  EXPECT_EQ(Float8E4M3FNUZ::from_float(std::ldexp(1.0f, -10)), 0x01);
  EXPECT_EQ(Float8E4M3FNUZ::from_float(-0.0f), 0x00);
  EXPECT_EQ(Float8E4M3FNUZ::from_float(-std::ldexp(1.0f, -12)), 0x00);  // no -0
  EXPECT_EQ(Float8E4M3FNUZ::from_float(kNaN), 0x80);
  EXPECT_EQ(Float8E4M3FNUZ::from_float(-kNaN), 0x80);
  EXPECT_EQ(Float8E4M3FNUZ::from_float(kInf), 0x7f);
  EXPECT_EQ(Float8E4M3FNUZ::from_float(-kInf), 0xff);
  EXPECT_EQ(Float8E4M3FNUZ::from_float(kInf, false), 0x80);
  EXPECT_EQ(Float8E4M3FNUZ::from_float(-1e6f, false), 0x80);
  EXPECT_TRUE(std::isnan(Float8E4M3FNUZ::to_float(0x80)));
  EXPECT_EQ(Float8E4M3FNUZ::to_float(0xff), -240.0f);
}

// E5M2: bias 15, IEEE-like: S.11111.00 is infinity, max S.11110.11 = 57344.
TEST(Float8E5M2, KnownEncodingsAndCastTables) {
  EXPECT_EQ(Float8E5M2::from_float(1.0f), 0x3c);
  EXPECT_EQ(Float8E5M2::from_float(57344.0f), 0x7b);
  EXPECT_EQ(Float8E5M2::from_float(std::ldexp(1.0f, -16)), 0x01);  // smallest subnormal
  EXPECT_EQ(Float8E5M2::from_float(-0.0f), 0x80);
  EXPECT_EQ(Float8E5M2::from_float(kInf), 0x7b);
  EXPECT_EQ(Float8E5M2::from_float(-kInf), 0xfb);
  EXPECT_EQ(Float8E5M2::from_float(kInf, false), 0x7c);
  EXPECT_EQ(Float8E5M2::from_float(-kInf, false), 0xfc);
  EXPECT_EQ(Float8E5M2::from_float(1e6f, false), 0x7c);
  EXPECT_EQ(Float8E5M2::to_float(0x7c), kInf);
  EXPECT_EQ(Float8E5M2::to_float(0xfc), -kInf);
  for (uint8_t nan : {0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff}) EXPECT_TRUE(std::isnan(Float8E5M2::to_float(nan)));
  EXPECT_TRUE(std::isnan(Float8E5M2::to_float(Float8E5M2::from_float(kNaN))));
}

// E5M2FNUZ: bias 16, no infinity, no -0, 0x80 is NaN, max S.11111.11 = 57344.
TEST(Float8E5M2FNUZ, KnownEncodingsAndCastTables) {
  EXPECT_EQ(Float8E5M2FNUZ::from_float(1.0f), 0x40);
  EXPECT_EQ(Float8E5M2FNUZ::from_float(57344.0f), 0x7f);
  EXPECT_EQ(Float8E5M2FNUZ::from_float(std::ldexp(1.0f, -17)), 0x01);
  EXPECT_EQ(Float8E5M2FNUZ::from_float(-0.0f), 0x00);
  EXPECT_EQ(Float8E5M2FNUZ::from_float(kInf), 0x7f);
  EXPECT_EQ(Float8E5M2FNUZ::from_float(kInf, false), 0x80);
  EXPECT_EQ(Float8E5M2FNUZ::from_float(kNaN), 0x80);
  EXPECT_TRUE(std::isnan(Float8E5M2FNUZ::to_float(0x80)));
}

// Every pattern that is not NaN converts to float and back to itself.
template <typename F>
void expect_round_trips(int patterns) {
  for (int b = 0; b < patterns; ++b) {
    const auto bits = static_cast<uint8_t>(b);
    const float f = F::to_float(bits);
    if (std::isnan(f)) continue;
    EXPECT_EQ(F::from_float(f, false), bits) << std::hex << b;
  }
}

TEST(Float8, EveryValueRoundTrips) {
  expect_round_trips<Float8E4M3FN>(256);
  expect_round_trips<Float8E4M3FNUZ>(256);
  expect_round_trips<Float8E5M2>(256);
  expect_round_trips<Float8E5M2FNUZ>(256);
  expect_round_trips<Float4E2M1>(16);
}

// E2M1 (float4.md): values 0, 0.5, 1, 1.5, 2, 3, 4, 6; sign in bit 3;
// out of range and infinities saturate to +-6.
TEST(Float4E2M1, ValueTableAndCast) {
  const float values[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (uint8_t b = 0; b < 8; ++b) {
    EXPECT_EQ(Float4E2M1::to_float(b), values[b]);
    EXPECT_EQ(Float4E2M1::to_float(uint8_t(b | 0x8)), -values[b]);
  }
  EXPECT_EQ(Float4E2M1::from_float(9.0f), 0x7);
  EXPECT_EQ(Float4E2M1::from_float(-8.0f), 0xf);
  EXPECT_EQ(Float4E2M1::from_float(kInf, false), 0x7);  // no infinity: always saturates
  EXPECT_EQ(Float4E2M1::from_float(-kInf), 0xf);
  EXPECT_EQ(Float4E2M1::from_float(-0.0f), 0x8);
  EXPECT_EQ(Float4E2M1::from_float(5.0f), 0x6);   // tie between 4 and 6 -> even
  EXPECT_EQ(Float4E2M1::from_float(0.25f), 0x0);  // tie between 0 and 0.5 -> even
  EXPECT_EQ(Float4E2M1::from_float(1.05f), 0x2);
  // No NaN: a NaN gives -0, as in ONNX's test data (test_cast_FLOAT_to_FLOAT4E2M1).
  EXPECT_EQ(Float4E2M1::from_float(kNaN), 0x8);
}

// E8M0 (OCP MX): 2^(bits - 127), 0xff is NaN; the ONNX Cast table for
// saturate + round up: 0 -> 0 (2^-127), NaN -> NaN, Inf -> max.
TEST(Float8E8M0, KnownEncodingsAndRounding) {
  EXPECT_EQ(Float8E8M0::to_float(0x7f), 1.0f);
  EXPECT_EQ(Float8E8M0::to_float(0xfe), std::ldexp(1.0f, 127));
  EXPECT_EQ(Float8E8M0::to_float(0x00), std::ldexp(1.0f, -127));
  EXPECT_TRUE(std::isnan(Float8E8M0::to_float(0xff)));
  EXPECT_EQ(Float8E8M0::from_float(0.0f), 0x00);
  EXPECT_EQ(Float8E8M0::from_float(kNaN), 0xff);
  EXPECT_EQ(Float8E8M0::from_float(kInf), 0xfe);
  EXPECT_EQ(Float8E8M0::from_float(kInf, false), 0xff);
  EXPECT_EQ(Float8E8M0::from_float(4.0f), 0x81);
  // round_mode: up takes the next power of two, down the previous one,
  // nearest the closer one in the mantissa (1.5 and above go up).
  EXPECT_EQ(Float8E8M0::from_float(1.1f, true, E8M0Rounding::kUp), 0x80);
  EXPECT_EQ(Float8E8M0::from_float(0.124f, true, E8M0Rounding::kUp), 0x7c);  // 0.125
  EXPECT_EQ(Float8E8M0::from_float(1.9f, true, E8M0Rounding::kDown), 0x7f);
  EXPECT_EQ(Float8E8M0::from_float(1.4f, true, E8M0Rounding::kNearest), 0x7f);
  EXPECT_EQ(Float8E8M0::from_float(1.5f, true, E8M0Rounding::kNearest), 0x80);
  // Saturation stops at the max instead of rounding up into NaN.
  EXPECT_EQ(Float8E8M0::from_float(std::ldexp(1.5f, 127), true, E8M0Rounding::kUp), 0xfe);
  EXPECT_EQ(Float8E8M0::from_float(std::ldexp(1.5f, 127), false, E8M0Rounding::kUp), 0xff);
}

TEST(SmallInt, RangesAndWrapping) {
  EXPECT_EQ(small_int_min(DType::kI4), -8);
  EXPECT_EQ(small_int_max(DType::kI4), 7);
  EXPECT_EQ(small_int_max(DType::kU4), 15);
  EXPECT_EQ(small_int_min(DType::kI2), -2);
  EXPECT_EQ(small_int_max(DType::kU2), 3);
  EXPECT_EQ(small_int_wrap(DType::kI4, 17), 1);
  EXPECT_EQ(small_int_wrap(DType::kI4, -9), 7);
  EXPECT_EQ(small_int_wrap(DType::kI4, 8), -8);
  EXPECT_EQ(small_int_wrap(DType::kU4, -1), 15);
  EXPECT_EQ(small_int_wrap(DType::kI2, 2), -2);
  EXPECT_EQ(small_int_wrap(DType::kU2, 5), 1);
  EXPECT_EQ(dtype_size(DType::kI4), 1u);
  EXPECT_EQ(dtype_bits(DType::kI4), 4);
  EXPECT_STREQ(dtype_name(DType::kF8E4M3FN), "f8e4m3fn");
}

// ONNX packs 4-bit values two per byte, the first in the low nibble; an odd
// count leaves the last high nibble unused. Iskra unpacks to one per byte.
TEST(OnnxTensor, UnpacksFourBitValuesLowNibbleFirst) {
  onnx::TensorProto proto;
  proto.set_data_type(22);  // INT4
  proto.add_dims(3);
  proto.set_raw_data(std::string("\x8f\x07", 2));  // -1, -8 | 7, (unused)
  auto t = tensor_from_onnx(proto, "", "int4");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->dtype(), DType::kI4);
  EXPECT_EQ(tensor_int_at(*t, 0), -1);
  EXPECT_EQ(tensor_int_at(*t, 1), -8);
  EXPECT_EQ(tensor_int_at(*t, 2), 7);

  proto.set_raw_data(std::string("\x8f\x07\x00", 3));  // one byte too many
  EXPECT_FALSE(tensor_from_onnx(proto, "", "int4").is_ok());

  proto.clear_raw_data();  // int32_data holds one packed byte per entry
  proto.set_data_type(21);  // UINT4
  proto.add_int32_data(0x8f);
  proto.add_int32_data(0x07);
  t = tensor_from_onnx(proto, "", "uint4");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(tensor_int_at(*t, 0), 15);
  EXPECT_EQ(tensor_int_at(*t, 1), 8);
  EXPECT_EQ(tensor_int_at(*t, 2), 7);
}

TEST(OnnxTensor, UnpacksTwoBitValuesAndReadsFloat8) {
  onnx::TensorProto proto;
  proto.set_data_type(26);  // INT2
  proto.add_dims(5);
  proto.set_raw_data(std::string("\xe4\x01", 2));  // 0b11'10'01'00: 0, 1, -2, -1 | 1
  auto t = tensor_from_onnx(proto, "", "int2");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  const int64_t expected[5] = {0, 1, -2, -1, 1};
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(tensor_int_at(*t, i), expected[i]);

  onnx::TensorProto f8;
  f8.set_data_type(17);  // FLOAT8E4M3FN, one bit pattern per int32_data entry
  f8.add_dims(2);
  f8.add_int32_data(0x7e);
  f8.add_int32_data(0x7f);
  t = tensor_from_onnx(f8, "", "f8");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(tensor_double_at(*t, 0), 448.0);
  EXPECT_TRUE(std::isnan(tensor_double_at(*t, 1)));
}

TEST(OnnxTensor, NamesUnsupportedElementTypes) {
  auto complex = dtype_from_onnx(14, "x");
  ASSERT_FALSE(complex.is_ok());
  EXPECT_NE(complex.status().message().find("COMPLEX64 (14)"), std::string::npos) << complex.status().message();
  auto float6 = dtype_from_onnx(27, "x");
  ASSERT_FALSE(float6.is_ok());
  EXPECT_NE(float6.status().message().find("FLOAT6E2M3 (27)"), std::string::npos) << float6.status().message();
}

}  // namespace
}  // namespace iskra
