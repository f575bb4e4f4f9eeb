// Conv / FusedConv fast kernel against the reference Conv (and the reference
// FusedConv) on the shapes real models use plus awkward ones.
#include <gtest/gtest.h>

#include <ostream>

#include "kernels/cpu/activation.h"
#include "kernels/fused.h"
#include "op_test_util.h"

namespace iskra::testing {
namespace {

struct ConvCase {
  int64_t batch, in_c, out_c, h, w, k_h, k_w, stride, pad, dilation, group;
  bool bias;
};

void PrintTo(const ConvCase& c, std::ostream* os) {
  *os << c.batch << "x" << c.in_c << "x" << c.h << "x" << c.w << " -> " << c.out_c << " k" << c.k_h << "x" << c.k_w
      << " s" << c.stride << " p" << c.pad << " d" << c.dilation << " g" << c.group << (c.bias ? " bias" : "");
}

OpTest make_conv(const ConvCase& c, uint32_t seed, OpKind op = OpKind::Conv) {
  OpTest t(op);
  t.input("x", random_tensor({c.batch, c.in_c, c.h, c.w}, seed));
  t.constant("w", random_tensor({c.out_c, c.in_c / c.group, c.k_h, c.k_w}, seed + 1));
  if (c.bias) t.constant("b", random_tensor({c.out_c}, seed + 2));
  else if (op == OpKind::FusedConv) t.absent_input();
  t.attr("strides", std::vector<int64_t>{c.stride, c.stride});
  t.attr("pads", std::vector<int64_t>{c.pad, c.pad, c.pad, c.pad});
  t.attr("dilations", std::vector<int64_t>{c.dilation, c.dilation});
  t.attr("group", c.group);
  return t;
}

class ConvShapes : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvShapes, MatchesReference) {
  const ConvCase c = GetParam();
  for (int threads : {1, 2}) {
    OpTest t = make_conv(c, 7);
    t.expect_fast_matches_reference(2e-5f, threads);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Conv, ConvShapes,
    ::testing::Values(
        // batch, in_c, out_c, h, w, kh, kw, stride, pad, dilation, group, bias
        ConvCase{1, 16, 24, 14, 14, 1, 1, 1, 0, 1, 1, true},    // pointwise
        ConvCase{1, 3, 17, 15, 13, 3, 3, 1, 1, 1, 1, true},     // 3x3, odd sizes
        ConvCase{2, 5, 7, 9, 11, 3, 3, 2, 1, 1, 1, false},      // stride 2, batch 2
        ConvCase{1, 3, 8, 23, 23, 7, 7, 2, 3, 1, 1, true},      // ResNet stem
        ConvCase{1, 4, 6, 10, 10, 3, 3, 1, 2, 2, 1, true},      // dilation 2
        ConvCase{1, 8, 12, 9, 9, 3, 3, 1, 1, 1, 4, true},       // grouped
        ConvCase{1, 16, 16, 12, 12, 3, 3, 1, 1, 1, 16, true},   // depthwise 3x3
        ConvCase{1, 24, 24, 15, 15, 5, 5, 2, 2, 1, 24, false},  // depthwise 5x5 stride 2
        ConvCase{1, 2, 3, 1, 1, 1, 1, 1, 0, 1, 1, true},        // 1x1 image
        ConvCase{1, 64, 33, 8, 8, 3, 3, 1, 1, 1, 1, true},      // K = 576
        ConvCase{1, 64, 16, 64, 64, 3, 3, 1, 1, 1, 1, true},    // im2col in 7 blocks (threads take blocks)
        ConvCase{1, 64, 8, 81, 67, 3, 3, 2, 1, 1, 1, false}));  // 3 blocks ending mid-row, stride 2

TEST(Conv, AsymmetricPadsAndSameUpper) {
  OpTest t = make_conv(ConvCase{1, 3, 5, 10, 9, 3, 3, 2, 0, 1, 1, true}, 3);
  t.attr("pads", std::vector<int64_t>{0, 1, 2, 0});
  t.expect_fast_matches_reference(2e-5f);
  OpTest same = make_conv(ConvCase{1, 3, 5, 10, 9, 3, 3, 2, 0, 1, 1, true}, 4);
  same.attr("pads", std::vector<int64_t>{});
  same.attr("auto_pad", std::string("SAME_UPPER"));
  same.expect_fast_matches_reference(2e-5f);
}

TEST(FusedConv, ResidualAndEveryActivation) {
  using cpu::ActivationKind;
  const cpu::Activation acts[] = {{ActivationKind::kNone},      {ActivationKind::kRelu},
                                  {ActivationKind::kClip, 0, 6}, {ActivationKind::kLeakyRelu, 0.1f},
                                  {ActivationKind::kSigmoid},   {ActivationKind::kHardSigmoid, 0.2f, 0.5f},
                                  {ActivationKind::kHardSwish}, {ActivationKind::kTanh},
                                  {ActivationKind::kSilu}};
  for (const auto& act : acts) {
    for (int64_t group : {1, 6}) {
      const ConvCase c{2, 6, 6, 7, 9, 3, 3, 1, 1, 1, group, true};
      OpTest t = make_conv(c, 11, OpKind::FusedConv);
      t.input("sum", random_tensor({2, 6, 7, 9}, 12, -3.0f, 3.0f));
      Node carrier;
      set_fused_activation(carrier, act);
      for (auto& [key, value] : carrier.attrs) t.attr(key, value);
      t.expect_fast_matches_reference(2e-5f, 2);
    }
  }
}

TEST(ConvTranspose, UpsamplingAndOverlappingWindows) {
  struct Case {
    int64_t in_c, out_c, h, w, k, stride, pad;
    bool bias;
  };
  for (const Case& c : {Case{8, 4, 5, 7, 2, 2, 0, false},   // PaddleOCR det's ×2 upsampling
                        Case{3, 5, 4, 4, 3, 2, 1, true},    // overlapping windows, padding
                        Case{6, 2, 3, 5, 4, 1, 0, true}}) {
    for (int threads : {1, 2}) {
      OpTest t(OpKind::ConvTranspose);
      t.input("x", random_tensor({2, c.in_c, c.h, c.w}, 21));
      t.constant("w", random_tensor({c.in_c, c.out_c, c.k, c.k}, 22));
      if (c.bias) t.constant("b", random_tensor({c.out_c}, 23));
      t.attr("strides", std::vector<int64_t>{c.stride, c.stride});
      t.attr("pads", std::vector<int64_t>{c.pad, c.pad, c.pad, c.pad});
      t.expect_fast_matches_reference(2e-5f, threads);
    }
  }
}

TEST(Conv, DeclinesWhatItDoesNotHandle) {
  // Weights computed at run time.
  OpTest runtime_w(OpKind::Conv);
  runtime_w.input("x", random_tensor({1, 2, 5, 5}, 1));
  runtime_w.input("w", random_tensor({3, 2, 3, 3}, 2));
  runtime_w.expect_reference_fallback();
  // 1-D convolution.
  OpTest conv1d(OpKind::Conv);
  conv1d.input("x", random_tensor({1, 2, 9}, 3));
  conv1d.constant("w", random_tensor({3, 2, 3}, 4));
  conv1d.expect_reference_fallback();
}

}  // namespace
}  // namespace iskra::testing
