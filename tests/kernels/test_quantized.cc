// The fast kernels of quantized models (src/kernels/cpu/quantized_kernels.cc)
// against the reference kernels: QLinearConvNhwc (the reference is QLinearConv
// on transposed tensors, then the activation clamp), MaxPoolNhwc on int8,
// QuantizeLinear and DequantizeLinear. The fast convolution requantizes in float32, the reference
// in double: a value on a rounding tie may differ by one step.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <ostream>
#include <random>

#include "op_test_util.h"

namespace iskra::testing {
namespace {

template <class T>
Tensor random_ints(const Shape& shape, uint32_t seed, int lo, int hi) {
  Tensor t = Tensor::allocate(sizeof(T) == 1 && std::is_signed_v<T> ? DType::kI8 : DType::kI32, shape).value();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  for (T& v : t.span<T>()) v = static_cast<T>(dist(rng));
  return t;
}

Tensor scalar_f32(float v) { return Tensor::from_vector<float>(Shape{}, {v}).value(); }
Tensor scalar_i8(int8_t v) { return Tensor::from_vector<int8_t>(Shape{}, {v}).value(); }

struct QConvCase {
  int64_t batch, in_c, out_c, h, w, k, stride, pad, group;
  int x_zp, y_zp;
  bool per_channel, bias, clamp;
};

void PrintTo(const QConvCase& c, std::ostream* os) {
  *os << c.batch << "x" << c.h << "x" << c.w << "x" << c.in_c << " -> " << c.out_c << " k" << c.k << " s" << c.stride
      << " p" << c.pad << " g" << c.group << " zp " << c.x_zp << "/" << c.y_zp << (c.per_channel ? " per-channel" : "")
      << (c.bias ? " bias" : "") << (c.clamp ? " clamp" : "");
}

OpTest make_qconv(const QConvCase& c, uint32_t seed) {
  OpTest t(OpKind::QLinearConvNhwc);
  const int64_t k_total = c.in_c / c.group * c.k * c.k;
  t.input("x", random_ints<int8_t>({c.batch, c.h, c.w, c.in_c}, seed, -128, 127));
  t.constant("x_scale", scalar_f32(0.02f));
  t.constant("x_zp", scalar_i8(static_cast<int8_t>(c.x_zp)));
  t.constant("w", random_ints<int8_t>({c.out_c, c.in_c / c.group, c.k, c.k}, seed + 1, -127, 127));
  if (c.per_channel) {
    std::vector<float> scales;
    for (int64_t m = 0; m < c.out_c; ++m) scales.push_back(0.004f + 0.001f * static_cast<float>(m % 5));
    t.constant("w_scale", Tensor::from_vector<float>(Shape{c.out_c}, scales).value());
    t.constant("w_zp", Tensor::from_vector<int8_t>(Shape{c.out_c}, std::vector<int8_t>(static_cast<size_t>(c.out_c), 0)).value());
  } else {
    t.constant("w_scale", scalar_f32(0.005f));
    t.constant("w_zp", scalar_i8(0));
  }
  // The output scale spreads the accumulators over about the int8 range.
  t.constant("y_scale", scalar_f32(0.02f * 0.005f * 40.0f * std::sqrt(static_cast<float>(k_total))));
  t.constant("y_zp", scalar_i8(static_cast<int8_t>(c.y_zp)));
  if (c.bias) t.constant("b", random_ints<int32_t>({c.out_c}, seed + 2, -5000, 5000));
  t.attr("strides", std::vector<int64_t>{c.stride, c.stride});
  t.attr("pads", std::vector<int64_t>{c.pad, c.pad, c.pad, c.pad});
  t.attr("group", c.group);
  if (c.clamp) {  // a fused RELU6-like range
    t.attr("activation_min", int64_t{c.y_zp});
    t.attr("activation_max", int64_t{std::min(127, c.y_zp + 60)});
  }
  return t;
}

class QLinearConvNhwcShapes : public ::testing::TestWithParam<QConvCase> {};

TEST_P(QLinearConvNhwcShapes, MatchesReferenceWithinOneStep) {
  for (int threads : {1, 2}) make_qconv(GetParam(), 11).expect_fast_matches_reference(1.0f, threads);
}

INSTANTIATE_TEST_SUITE_P(
    QLinearConvNhwc, QLinearConvNhwcShapes,
    ::testing::Values(
        // batch, in_c, out_c, h, w, k, stride, pad, group, x_zp, y_zp, per_channel, bias, clamp
        QConvCase{1, 16, 24, 9, 9, 1, 1, 0, 1, -3, 5, true, true, false},     // pointwise
        QConvCase{2, 13, 7, 5, 6, 1, 1, 0, 1, 10, -20, false, false, false},  // odd channels (K not a multiple of 4), batch 2
        QConvCase{1, 3, 32, 15, 13, 3, 2, 1, 1, -1, -128, true, true, true},  // a stem: padding, stride 2, clamp
        QConvCase{1, 40, 70, 7, 7, 3, 1, 1, 1, 100, 0, true, true, false},    // two channel tiles and a tail, zero point 100
        QConvCase{1, 1280, 10, 1, 1, 1, 1, 0, 1, -5, 3, false, true, false},  // fully connected as a 1x1 conv
        QConvCase{1, 32, 32, 12, 12, 3, 1, 1, 32, -7, 4, true, true, true},   // depthwise
        QConvCase{2, 19, 19, 9, 8, 3, 2, 1, 19, 20, -9, true, false, false},  // depthwise, stride 2, odd channels
        QConvCase{1, 24, 24, 6, 6, 5, 1, 2, 24, 0, 0, false, true, false}));  // depthwise 5x5

TEST(QLinearConvNhwc, OtherGroupsRunTheReference) {
  make_qconv(QConvCase{1, 8, 12, 6, 6, 3, 1, 1, 4, 0, 0, true, true, false}, 3).expect_reference_fallback();
}

TEST(QLinearConvNhwc, AsymmetricWeightsRunTheReference) {
  OpTest u(OpKind::QLinearConvNhwc);
  u.input("x", random_ints<int8_t>({1, 5, 5, 8}, 5, -128, 127));
  u.constant("x_scale", scalar_f32(0.02f));
  u.constant("x_zp", scalar_i8(0));
  u.constant("w", random_ints<int8_t>({8, 8, 1, 1}, 6, -127, 127));
  u.constant("w_scale", scalar_f32(0.005f));
  u.constant("w_zp", scalar_i8(3));
  u.constant("y_scale", scalar_f32(0.05f));
  u.constant("y_zp", scalar_i8(0));
  u.expect_reference_fallback();
}

TEST(MaxPoolNhwc, Int8MatchesReferenceExactly) {
  struct Case { int64_t c, k, stride, pad; };
  for (const Case& c : {Case{16, 2, 2, 0}, Case{37, 3, 2, 1}, Case{5, 3, 1, 1}}) {
    OpTest t(OpKind::MaxPoolNhwc);
    t.input("x", random_ints<int8_t>({2, 9, 11, c.c}, 9, -128, 127));
    t.attr("kernel_shape", std::vector<int64_t>{c.k, c.k});
    t.attr("strides", std::vector<int64_t>{c.stride, c.stride});
    t.attr("pads", std::vector<int64_t>{c.pad, c.pad, c.pad, c.pad});
    EXPECT_EQ(t.expect_fast_matches_reference(0.0f, 2), 0.0f) << "c " << c.c << " k " << c.k;
  }
}

TEST(QuantizeLinear, PerTensorMatchesReference) {
  for (DType out : {DType::kI8, DType::kU8}) {
    OpTest t(OpKind::QuantizeLinear);
    Tensor x = random_tensor({3, 1000}, 4, -3.0f, 3.0f);  // beyond the range: saturates
    x.data<float>()[17] = std::numeric_limits<float>::quiet_NaN();  // gives 0
    t.input("x", std::move(x));
    t.constant("scale", scalar_f32(0.0173f));
    if (out == DType::kI8) t.constant("zp", scalar_i8(-9));
    else t.constant("zp", Tensor::from_vector<uint8_t>(Shape{}, {120}).value());
    EXPECT_EQ(t.expect_fast_matches_reference(0.0f, 2), 0.0f);  // same float32 quotient: exact
  }
}

TEST(DequantizeLinear, PerTensorMatchesReference) {
  OpTest t(OpKind::DequantizeLinear);
  t.input("x", random_ints<int8_t>({5, 999}, 8, -128, 127));
  t.constant("scale", scalar_f32(0.0311f));
  t.constant("zp", scalar_i8(17));
  EXPECT_EQ(t.expect_fast_matches_reference(0.0f, 2), 0.0f);
}

}  // namespace
}  // namespace iskra::testing
