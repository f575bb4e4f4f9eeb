// The channels-last ops of the layout pass (FusedConvNhwc, ConvTransposeNhwc,
// MaxPoolNhwc, AveragePoolNhwc): fast kernels against their reference, which
// is the NCHW op's reference kernel on transposed tensors.
#include <gtest/gtest.h>

#include <ostream>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/winograd.h"
#include "kernels/fused.h"
#include "op_test_util.h"

namespace iskra::testing {
namespace {

struct ConvCase {
  int64_t batch, in_c, out_c, h, w, k_h, k_w, stride, pad, dilation, group;
  bool bias;
};

void PrintTo(const ConvCase& c, std::ostream* os) {
  *os << c.batch << "x" << c.h << "x" << c.w << "x" << c.in_c << " -> " << c.out_c << " k" << c.k_h << "x" << c.k_w
      << " s" << c.stride << " p" << c.pad << " d" << c.dilation << " g" << c.group << (c.bias ? " bias" : "");
}

OpTest make_conv_nhwc(const ConvCase& c, uint32_t seed) {
  OpTest t(OpKind::FusedConvNhwc);
  t.input("x", random_tensor({c.batch, c.h, c.w, c.in_c}, seed));
  t.constant("w", random_tensor({c.out_c, c.in_c / c.group, c.k_h, c.k_w}, seed + 1));
  if (c.bias) t.constant("b", random_tensor({c.out_c}, seed + 2));
  else t.absent_input();
  t.attr("strides", std::vector<int64_t>{c.stride, c.stride});
  t.attr("pads", std::vector<int64_t>{c.pad, c.pad, c.pad, c.pad});
  t.attr("dilations", std::vector<int64_t>{c.dilation, c.dilation});
  t.attr("group", c.group);
  return t;
}

class ConvNhwcShapes : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvNhwcShapes, MatchesReference) {
  const ConvCase c = GetParam();
  for (int threads : {1, 2}) make_conv_nhwc(c, 7).expect_fast_matches_reference(2e-5f, threads);
}

INSTANTIATE_TEST_SUITE_P(
    ConvNhwc, ConvNhwcShapes,
    ::testing::Values(
        // batch, in_c, out_c, h, w, kh, kw, stride, pad, dilation, group, bias
        ConvCase{1, 16, 24, 14, 14, 1, 1, 1, 0, 1, 1, true},     // pointwise (X is the GEMM operand)
        ConvCase{2, 13, 7, 5, 6, 1, 1, 1, 0, 1, 1, false},       // pointwise, batch 2, odd channels
        ConvCase{1, 16, 24, 14, 14, 1, 1, 2, 0, 1, 1, true},     // strided 1x1 (im2col)
        ConvCase{1, 3, 17, 15, 13, 3, 3, 1, 1, 1, 1, true},      // 3x3, odd sizes
        ConvCase{2, 5, 7, 9, 11, 3, 3, 2, 1, 1, 1, false},       // stride 2, batch 2
        ConvCase{1, 3, 8, 23, 23, 7, 7, 2, 3, 1, 1, true},       // ResNet stem
        ConvCase{1, 4, 6, 10, 10, 3, 3, 1, 2, 2, 1, true},       // dilation 2
        ConvCase{1, 8, 12, 9, 9, 3, 3, 1, 1, 1, 4, true},        // grouped
        ConvCase{1, 2, 3, 1, 1, 1, 1, 1, 0, 1, 1, true},         // 1x1 image
        ConvCase{1, 64, 33, 8, 8, 3, 3, 1, 1, 1, 1, true},       // K = 576
        ConvCase{1, 64, 16, 40, 40, 3, 3, 1, 1, 2, 1, true},     // im2col in several blocks (dilated: no Winograd)
        ConvCase{2, 3, 32, 33, 31, 3, 3, 2, 1, 1, 1, true},      // MobileNet stem (direct), batch 2, odd sizes
        ConvCase{1, 3, 64, 45, 45, 7, 7, 2, 3, 1, 1, true},      // ResNet stem (direct)
        ConvCase{1, 1, 5, 9, 9, 5, 5, 1, 2, 1, 1, false},        // direct, one channel in, 5 out
        ConvCase{1, 8, 8, 17, 19, 1, 1, 1, 0, 1, 1, true},       // direct, few outputs: MediaPipe pose's 8 -> 8
        ConvCase{2, 24, 5, 11, 9, 3, 3, 2, 1, 1, 1, true},       // direct, 5 outputs, stride 2, batch 2
        ConvCase{1, 8, 1, 13, 15, 3, 3, 1, 1, 1, 1, true},       // direct, one output (a segmentation head)
        ConvCase{1, 16, 16, 12, 12, 3, 3, 1, 1, 1, 16, true},    // depthwise 3x3
        ConvCase{1, 24, 24, 15, 15, 5, 5, 2, 2, 1, 24, false},   // depthwise 5x5 stride 2
        ConvCase{2, 13, 13, 9, 7, 3, 3, 1, 1, 1, 13, true},      // depthwise, channels not a multiple of lanes
        ConvCase{1, 40, 40, 11, 11, 3, 3, 2, 2, 2, 40, true},    // depthwise, stride and dilation 2
        ConvCase{1, 96, 96, 56, 56, 3, 3, 2, 1, 1, 96, true},    // depthwise large enough for threads
        // Narrow channels, stride 1: the interior flattened over pixels and channels.
        ConvCase{1, 8, 8, 20, 19, 3, 3, 1, 1, 1, 8, true},       // MediaPipe pose's 8-channel depthwise
        ConvCase{2, 3, 3, 9, 23, 3, 3, 1, 1, 1, 3, true},        // 3 weight phases per tap, batch 2
        ConvCase{1, 1, 1, 11, 40, 5, 5, 1, 2, 1, 1, false},      // one channel, 5x5
        ConvCase{1, 12, 12, 7, 30, 3, 3, 1, 0, 1, 12, true},     // unpadded, 3 phases
        ConvCase{1, 5, 5, 8, 8, 5, 5, 1, 2, 1, 5, true},         // 25 taps x 5 phases: too many, channel path
        ConvCase{1, 8, 8, 10, 40, 3, 3, 1, 1, 1, 8, true}));     // the flat row's last partial vector

TEST(FusedConvNhwc, ResidualAndEveryActivation) {
  using cpu::ActivationKind;
  const cpu::Activation acts[] = {{ActivationKind::kNone},      {ActivationKind::kRelu},
                                  {ActivationKind::kClip, 0, 6}, {ActivationKind::kLeakyRelu, 0.1f},
                                  {ActivationKind::kSigmoid},   {ActivationKind::kHardSigmoid, 0.2f, 0.5f},
                                  {ActivationKind::kHardSwish}, {ActivationKind::kTanh},
                                  {ActivationKind::kSilu}};
  for (const auto& act : acts) {
    for (const ConvCase& c : {ConvCase{2, 6, 12, 7, 9, 3, 3, 1, 1, 1, 1, true},   // im2col GEMM
                              ConvCase{2, 3, 20, 7, 9, 3, 3, 1, 1, 1, 1, true},   // direct (3 channels in)
                              ConvCase{2, 6, 6, 7, 9, 3, 3, 1, 1, 1, 1, true},    // direct (6 channels out)
                              ConvCase{2, 8, 1, 7, 9, 3, 3, 1, 1, 1, 1, true},    // direct, one output: dot products
                              ConvCase{2, 6, 6, 7, 9, 3, 3, 1, 1, 1, 6, true},    // depthwise (flattened rows)
                              ConvCase{2, 6, 10, 7, 9, 1, 1, 1, 0, 1, 1, true}}) {  // pointwise
      OpTest t = make_conv_nhwc(c, 11);
      t.input("sum", random_tensor({c.batch, c.h, c.w, c.out_c}, 12, -3.0f, 3.0f));
      Node carrier;
      set_fused_activation(carrier, act);
      for (auto& [key, value] : carrier.attrs) t.attr(key, value);
      t.expect_fast_matches_reference(2e-5f, 2);
    }
  }
}

// 3x3 stride-1 convolutions that take the Winograd F(4x4, 3x3) path: edge
// tiles (sizes not multiples of 4), paddings 0..2, channel counts off the
// vector width, batch 2, residual and activation, 1 and 2 threads.
TEST(FusedConvNhwc, WinogradMatchesReference) {
  struct Case {
    int64_t batch, in_c, out_c, h, w, pad;
  };
  for (const Case& c : {Case{1, 64, 64, 56, 56, 1},     // ResNet layer 1
                        Case{2, 45, 37, 21, 19, 1},     // edge tiles, odd channels, batch 2
                        Case{1, 32, 24, 28, 27, 0},     // no padding
                        Case{1, 16, 40, 26, 23, 2},     // padding 2
                        Case{1, 96, 24, 40, 40, 1}}) {  // PaddleOCR det's head
    const ConvCase conv{c.batch, c.in_c, c.out_c, c.h, c.w, 3, 3, 1, c.pad, 1, 1, true};
    const int64_t out_h = c.h + 2 * c.pad - 2, out_w = c.w + 2 * c.pad - 2;
    ASSERT_TRUE(cpu::winograd_pays_off(
        cpu::WinogradShape{c.batch, c.in_c, c.out_c, c.h, c.w, out_h, out_w, c.pad, c.pad}))
        << "the case must take the Winograd path";
    for (int threads : {1, 2}) {
      SCOPED_TRACE(::testing::PrintToString(conv) + " threads " + std::to_string(threads));
      OpTest plain = make_conv_nhwc(conv, 71);
      // F(4x4, 3x3) rounds about 10x more than a direct sum: outputs are sums
      // of 9·C products of values in [-1, 1], with a standard deviation of
      // sqrt(C) (8 for C = 64), and errors reach 3e-5 of it (2.4e-4 for
      // C = 96). 5e-4 is 6e-5 of that scale, 1.5e-5 of the largest outputs.
      plain.expect_fast_matches_reference(5e-4f, threads);
      OpTest fused = make_conv_nhwc(conv, 72);
      fused.input("sum", random_tensor({c.batch, out_h, out_w, c.out_c}, 73, -3.0f, 3.0f));
      Node carrier;
      set_fused_activation(carrier, cpu::Activation{cpu::ActivationKind::kClip, 0.0f, 6.0f});
      for (auto& [key, value] : carrier.attrs) fused.attr(key, value);
      fused.expect_fast_matches_reference(5e-4f, threads);
    }
  }
}

TEST(ConvTransposeNhwc, UpsamplingAndOverlappingWindows) {
  struct Case {
    int64_t in_c, out_c, h, w, k, stride, pad;
    bool bias;
  };
  for (const Case& c : {Case{8, 4, 5, 7, 2, 2, 0, false},   // PaddleOCR det's ×2 upsampling (windows tile the output)
                        Case{16, 1, 6, 9, 2, 2, 0, true},   // selfie segmentation's head: one output, dot products
                        Case{19, 1, 4, 5, 3, 3, 0, false},  // tiling 3x3, a dot product with a tail
                        Case{5, 3, 4, 5, 3, 3, 0, true},    // tiling 3x3, three outputs
                        Case{3, 5, 4, 4, 3, 2, 1, true},    // overlapping windows, padding
                        Case{6, 2, 3, 5, 4, 1, 0, true}}) {
    for (int threads : {1, 2}) {
      OpTest t(OpKind::ConvTransposeNhwc);
      t.input("x", random_tensor({2, c.h, c.w, c.in_c}, 21));
      t.constant("w", random_tensor({c.in_c, c.out_c, c.k, c.k}, 22));
      if (c.bias) t.constant("b", random_tensor({c.out_c}, 23));
      t.attr("strides", std::vector<int64_t>{c.stride, c.stride});
      t.attr("pads", std::vector<int64_t>{c.pad, c.pad, c.pad, c.pad});
      t.expect_fast_matches_reference(2e-5f, threads);
    }
  }
}

TEST(PoolNhwc, MaxAndAverageMatchReference) {
  struct Case {
    int64_t c, h, w, k, stride, pad;
    bool ceil_mode, count_include_pad;
  };
  for (const Case& c : {Case{64, 112, 112, 3, 2, 1, false, false},  // ResNet's MaxPool
                        Case{13, 9, 11, 3, 2, 0, true, false},      // ceil_mode, odd channels
                        Case{8, 7, 7, 2, 1, 1, false, true},        // padding counted
                        Case{5, 6, 5, 3, 3, 1, true, true},         // ceil_mode with counted pads
                        Case{16, 13, 13, 3, 1, 0, false, false},
                        Case{4, 9, 21, 3, 1, 1, false, false},      // narrow channels, stride 1: flattened
                        Case{3, 8, 17, 2, 1, 0, true, false},
                        Case{16, 20, 20, 20, 1, 0, false, false},   // a window larger than the window kernels'
                        Case{5, 19, 23, 17, 3, 2, true, true}}) {   // the same with pads counted, ceil_mode
    for (OpKind op : {OpKind::MaxPoolNhwc, OpKind::AveragePoolNhwc}) {
      OpTest t(op);
      t.input("x", random_tensor({2, c.h, c.w, c.c}, 31));
      t.attr("kernel_shape", std::vector<int64_t>{c.k, c.k});
      t.attr("strides", std::vector<int64_t>{c.stride, c.stride});
      t.attr("pads", std::vector<int64_t>{c.pad, c.pad, c.pad, c.pad});
      t.attr("ceil_mode", int64_t{c.ceil_mode});
      if (op == OpKind::AveragePoolNhwc) t.attr("count_include_pad", int64_t{c.count_include_pad});
      t.expect_fast_matches_reference(1e-6f, 2);
    }
  }
}

}  // namespace
}  // namespace iskra::testing
