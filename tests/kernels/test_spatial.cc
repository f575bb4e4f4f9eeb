// Spatial fast kernels against their definitions: depthwise convolution
// (against its scalar definition and the reference Conv op), the pools and
// the data-movement ops (Transpose, Concat, Resize) against the reference
// kernels, on odd sizes that hit vector tails, borders and thread splits.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/depthwise_conv.h"
#include "op_test_util.h"
#include "runtime/session.h"

namespace iskra::testing {
namespace {

using cpu::Activation;
using cpu::ActivationKind;
using cpu::DepthwiseConvShape;

// --- Depthwise convolution -----------------------------------------------------

struct DepthwiseCase {
  int64_t channels, in_h, in_w;
  int64_t kernel_h, kernel_w;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t batch = 1;
};

// The arguments printed one after another.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

DepthwiseConvShape shape_of(const DepthwiseCase& c) {
  DepthwiseConvShape s;
  s.batch = c.batch;
  s.channels = c.channels;
  s.in_h = c.in_h, s.in_w = c.in_w;
  s.kernel_h = c.kernel_h, s.kernel_w = c.kernel_w;
  s.stride_h = c.stride_h, s.stride_w = c.stride_w;
  s.dilation_h = c.dilation_h, s.dilation_w = c.dilation_w;
  s.pad_top = c.pad_top, s.pad_left = c.pad_left;
  s.out_h = (c.in_h + c.pad_top + c.pad_bottom - (c.kernel_h - 1) * c.dilation_h - 1) / c.stride_h + 1;
  s.out_w = (c.in_w + c.pad_left + c.pad_right - (c.kernel_w - 1) * c.dilation_w - 1) / c.stride_w + 1;
  return s;
}

std::string describe(const DepthwiseCase& c) {
  return cat("C", c.channels, " ", c.in_h, "x", c.in_w, " k", c.kernel_h, "x", c.kernel_w, " s", c.stride_h, ",",
             c.stride_w, " p", c.pad_top, ",", c.pad_left, ",", c.pad_bottom, ",", c.pad_right, " d", c.dilation_h, ",",
             c.dilation_w, " n", c.batch);
}

// Elementwise |got - want| <= tolerance * (1 + |want|); reports the first misses.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, float tolerance,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const float diff = std::fabs(got[i] - want[i]);
    if (!(diff <= tolerance * (1.0f + std::fabs(want[i]))) && !(std::isnan(got[i]) && std::isnan(want[i])))
      if (bad++ < 5) ADD_FAILURE() << what << " element " << i << ": got " << got[i] << " want " << want[i];
  }
}

std::vector<float> random_values(int64_t count, uint32_t seed) {
  const Tensor t = random_tensor({count}, seed);
  return std::vector<float>(t.span<float>().begin(), t.span<float>().end());
}

// fp32 sums of at most 25 products of values in [-1, 1] (plus bias and
// residual): the SIMD order and FMA differ from the scalar definition by a
// few ulps of the terms' magnitude; an index or border error is off by ~0.1.
constexpr float kConvTolerance = 2e-5f;

const std::vector<DepthwiseCase>& depthwise_cases() {
  static const std::vector<DepthwiseCase> cases = [] {
    std::vector<DepthwiseCase> v;
    for (int64_t c : {1, 3, 16, 17})
      for (int64_t hw : {1, 7, 56}) {
        v.push_back({c, hw, hw, 3, 3, 1, 1, 1, 1, 1, 1});  // mobilenet 3x3 s1
        v.push_back({c, hw, hw, 3, 3, 2, 2, 1, 1, 1, 1});  // 3x3 s2
        v.push_back({c, hw, hw, 5, 5, 1, 1, 2, 2, 2, 2});  // efficientnet 5x5 s1
        v.push_back({c, hw, hw, 5, 5, 2, 2, 2, 2, 2, 2});  // 5x5 s2
      }
    for (int64_t c : {3, 17}) {
      v.push_back({c, 13, 17, 3, 3, 1, 1, 1, 1, 1, 1});
      v.push_back({c, 13, 17, 3, 3, 2, 2, 1, 1, 1, 1});
      v.push_back({c, 13, 17, 5, 5, 2, 2, 2, 2, 2, 2});
      v.push_back({c, 24, 37, 3, 3, 2, 1, 1, 1, 1, 1});   // PaddleOCR rec: stride (2, 1)
      v.push_back({c, 12, 41, 3, 3, 1, 2, 1, 1, 1, 1});   // stride (1, 2)
      v.push_back({c, 13, 17, 3, 3, 1, 1, 0, 0, 0, 0});   // no padding
      v.push_back({c, 13, 17, 3, 3, 2, 2, 0, 1, 2, 0});   // asymmetric pads
      v.push_back({c, 13, 17, 3, 3, 1, 1, 4, 5, 4, 5});   // pads wider than the kernel
      v.push_back({c, 13, 17, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2});  // dilation 2
      v.push_back({c, 13, 17, 2, 4, 1, 1, 1, 2, 0, 1});   // generic kernel size
      v.push_back({c, 14, 19, 3, 3, 3, 3, 1, 1, 1, 1});   // stride 3
      v.push_back({c, 15, 23, 4, 4, 4, 4, 1, 1, 1, 1});   // stride 4
      v.push_back({c, 9, 11, 1, 1, 1, 1});                // 1x1
      v.push_back({c, 13, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2});  // batch 2
      // Same-width stride 1 on narrow planes: the direct (unstaged) path.
      v.push_back({c, 9, 11, 3, 3, 1, 1, 0, 2, 2, 0});             // asymmetric pads
      v.push_back({c, 9, 11, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2});       // dilation 2
      v.push_back({c, 6, 9, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 2});     // 5x5, batch 2
      // Stride 2 halving even sizes on narrow planes: the direct path on phase planes.
      v.push_back({c, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1});             // mobilenet 576x14x14
      v.push_back({c, 14, 14, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 2});    // efficientnet 672x14x14, batch 2
      v.push_back({c, 12, 16, 3, 3, 2, 2, 0, 1, 1, 0});             // asymmetric pads
      v.push_back({c, 12, 16, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2});       // dilation 2
    }
    v.push_back({3, 400, 15, 3, 3, 1, 1, 1, 1, 1, 1});   // direct path, row blocks not vector-aligned
    v.push_back({3, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1});  // few planes: row-block tasks
    v.push_back({1, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1});
    v.push_back({2, 20, 40, 3, 17, 1, 1, 1, 8, 1, 8});   // kernel wider than the SIMD path: scalar
    return v;
  }();
  return cases;
}

TEST(DepthwiseConv, MatchesScalarDefinition) {
  ThreadPool pool(2);
  const Activation activations[] = {{}, {ActivationKind::kRelu}, {ActivationKind::kClip, 0.0f, 6.0f},
                                    {ActivationKind::kHardSwish}, {ActivationKind::kSilu}};
  uint32_t seed = 1;
  for (const DepthwiseCase& c : depthwise_cases()) {
    const DepthwiseConvShape s = shape_of(c);
    const int64_t out_count = s.batch * s.channels * s.out_h * s.out_w;
    const std::vector<float> input = random_values(s.batch * s.channels * s.in_h * s.in_w, seed++);
    const std::vector<float> weights = random_values(s.channels * s.kernel_h * s.kernel_w, seed++);
    const std::vector<float> bias = random_values(s.channels, seed++);
    const std::vector<float> residual = random_values(out_count, seed++);
    for (int variant = 0; variant < 4; ++variant) {
      const bool with_bias = variant & 1, with_residual = variant & 2;
      const Activation& act = activations[(variant + seed) % std::size(activations)];
      std::vector<float> want(static_cast<size_t>(out_count)), got(want.size(), NAN);
      cpu::depthwise_conv2d_reference(s, input.data(), weights.data(), with_bias ? bias.data() : nullptr,
                                      with_residual ? residual.data() : nullptr, act, want.data());
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        cpu::depthwise_conv2d(s, input.data(), weights.data(), with_bias ? bias.data() : nullptr,
                              with_residual ? residual.data() : nullptr, act, got.data(), p);
        expect_close(got, want, kConvTolerance,
                     cat(describe(c), " bias ", with_bias, " residual ", with_residual, " ",
                         cpu::activation_name(act.kind), p ? " 2 threads" : " 1 thread"));
      }
    }
  }
}

// Random shapes: any kernel, stride, dilation and padding the engine takes
// (and some it does not), against the scalar definition.
TEST(DepthwiseConv, RandomShapesMatchScalarDefinition) {
  std::mt19937 rng(42);
  const auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  ThreadPool pool(2);
  for (int n = 0; n < 300; ++n) {
    DepthwiseCase c{pick(1, 20), pick(1, 30), pick(1, 30), pick(1, 6), pick(1, n % 50 == 0 ? 18 : 6)};
    c.stride_h = pick(1, 4), c.stride_w = pick(1, n % 40 == 0 ? 5 : 4);
    c.dilation_h = pick(1, 3), c.dilation_w = pick(1, 3);
    c.pad_top = pick(0, 4), c.pad_left = pick(0, 4), c.pad_bottom = pick(0, 4), c.pad_right = pick(0, 4);
    c.batch = pick(1, 2);
    if (c.in_h + c.pad_top + c.pad_bottom < (c.kernel_h - 1) * c.dilation_h + 1 ||
        c.in_w + c.pad_left + c.pad_right < (c.kernel_w - 1) * c.dilation_w + 1)
      continue;  // no output
    const DepthwiseConvShape s = shape_of(c);
    const int64_t out_count = s.batch * s.channels * s.out_h * s.out_w;
    const std::vector<float> input = random_values(s.batch * s.channels * s.in_h * s.in_w, 1000 + n);
    const std::vector<float> weights = random_values(s.channels * s.kernel_h * s.kernel_w, 2000 + n);
    const std::vector<float> bias = random_values(s.channels, 3000 + n);
    const std::vector<float> residual = random_values(out_count, 4000 + n);
    const bool with_residual = n % 3 == 0;
    const Activation act = n % 2 ? Activation{ActivationKind::kRelu} : Activation{};
    std::vector<float> want(static_cast<size_t>(out_count)), got(want.size(), NAN);
    cpu::depthwise_conv2d_reference(s, input.data(), weights.data(), bias.data(),
                                    with_residual ? residual.data() : nullptr, act, want.data());
    cpu::depthwise_conv2d(s, input.data(), weights.data(), bias.data(), with_residual ? residual.data() : nullptr, act,
                          got.data(), n % 2 ? &pool : nullptr);
    expect_close(got, want, kConvTolerance, describe(c));
  }
}

TEST(DepthwiseConv, OutputMayAliasResidual) {
  const DepthwiseCase c{5, 13, 17, 3, 3, 1, 1, 1, 1, 1, 1};
  const DepthwiseConvShape s = shape_of(c);
  const std::vector<float> input = random_values(s.channels * s.in_h * s.in_w, 7);
  const std::vector<float> weights = random_values(s.channels * 9, 8);
  std::vector<float> residual = random_values(s.channels * s.out_h * s.out_w, 9);
  std::vector<float> want(residual.size());
  cpu::depthwise_conv2d_reference(s, input.data(), weights.data(), nullptr, residual.data(), {}, want.data());
  cpu::depthwise_conv2d(s, input.data(), weights.data(), nullptr, residual.data(), {}, residual.data(), nullptr);
  expect_close(residual, want, kConvTolerance, "in place");
}

// Runs one Conv node with the reference kernels only.
std::vector<float> reference_conv(const DepthwiseCase& c, const std::vector<float>& input,
                                  const std::vector<float>& weights, const std::vector<float>& bias) {
  const DepthwiseConvShape s = shape_of(c);
  auto g = std::make_shared<Graph>();
  Node node;
  node.op = OpKind::Conv;
  node.name = "conv";
  node.source_op = "Conv";
  const int x = g->add_value("x", DType::kF32);
  g->inputs.push_back(x);
  node.inputs = {x,
                 g->add_constant("w", Tensor::from_vector<float>({s.channels, 1, s.kernel_h, s.kernel_w}, weights).value()),
                 g->add_constant("b", Tensor::from_vector<float>({s.channels}, bias).value())};
  node.outputs = {g->add_value("y")};
  node.attrs["group"] = s.channels;
  node.attrs["kernel_shape"] = std::vector<int64_t>{c.kernel_h, c.kernel_w};
  node.attrs["strides"] = std::vector<int64_t>{c.stride_h, c.stride_w};
  node.attrs["dilations"] = std::vector<int64_t>{c.dilation_h, c.dilation_w};
  node.attrs["pads"] = std::vector<int64_t>{c.pad_top, c.pad_left, c.pad_bottom, c.pad_right};
  g->nodes.push_back(node);
  g->values[static_cast<size_t>(node.outputs[0])].producer = 0;
  g->outputs.push_back(node.outputs[0]);
  SessionOptions options;
  options.reference_kernels = true;
  auto session = Session::create(Model{g, {}}, options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  if (!session.is_ok()) return {};
  std::vector<Tensor> outputs;
  const std::vector<Tensor> inputs{Tensor::from_vector<float>({s.batch, s.channels, s.in_h, s.in_w}, input).value()};
  const Status st = (*session)->run(inputs, outputs);
  EXPECT_TRUE(st.is_ok()) << st.message();
  if (!st.is_ok()) return {};
  return std::vector<float>(outputs[0].span<float>().begin(), outputs[0].span<float>().end());
}

TEST(DepthwiseConv, MatchesReferenceConvOp) {
  uint32_t seed = 100;
  for (const DepthwiseCase& c : depthwise_cases()) {
    const DepthwiseConvShape s = shape_of(c);
    const std::vector<float> input = random_values(s.batch * s.channels * s.in_h * s.in_w, seed++);
    const std::vector<float> weights = random_values(s.channels * s.kernel_h * s.kernel_w, seed++);
    const std::vector<float> bias = random_values(s.channels, seed++);
    std::vector<float> got(static_cast<size_t>(s.batch * s.channels * s.out_h * s.out_w));
    cpu::depthwise_conv2d(s, input.data(), weights.data(), bias.data(), nullptr, {}, got.data(), nullptr);
    expect_close(got, reference_conv(c, input, weights, bias), kConvTolerance, describe(c));
  }
}

// --- Pools -----------------------------------------------------------------------

using Ints = std::vector<int64_t>;

struct PoolCase {
  Shape x;
  Ints kernel, strides, pads;
  int64_t ceil_mode = 0;
  std::string auto_pad = "NOTSET";
  Ints dilations = {};
};

std::vector<PoolCase> pool_cases() {
  std::vector<PoolCase> v;
  for (int64_t c : {1, 3, 16, 17})
    for (int64_t hw : {1, 7, 56}) {
      v.push_back({{1, c, hw, hw}, {3, 3}, {2, 2}, {1, 1, 1, 1}});        // resnet
      if (hw > 1) v.push_back({{1, c, hw, hw}, {2, 2}, {2, 2}, {0, 0, 0, 0}});  // PaddleOCR cls
    }
  for (int64_t c : {3, 17}) {
    v.push_back({{1, c, 13, 17}, {3, 3}, {2, 2}, {0, 0, 0, 0}, 1});       // squeezenet: ceil_mode
    v.push_back({{1, c, 55, 55}, {3, 3}, {2, 2}, {0, 0, 0, 0}, 1});
    v.push_back({{1, c, 13, 17}, {3, 3}, {2, 2}, {1, 1, 1, 1}, 1});       // ceil_mode + pads
    v.push_back({{1, c, 14, 16}, {2, 2}, {2, 2}, {0, 0, 0, 0}, 1});       // ceil_mode, nothing to add
    v.push_back({{1, c, 3, 40}, {3, 2}, {3, 2}, {0, 0, 0, 0}});           // PaddleOCR rec
    v.push_back({{2, c, 13, 17}, {3, 3}, {1, 1}, {1, 1, 1, 1}});          // batch 2, stride 1
    v.push_back({{1, c, 13, 17}, {3, 3}, {1, 2}, {0, 2, 1, 0}});          // asymmetric
    v.push_back({{1, c, 13, 17}, {5, 4}, {3, 3}, {2, 1, 2, 1}});
    v.push_back({{1, c, 13, 17}, {3, 3}, {2, 2}, {}, 0, "SAME_UPPER"});
    v.push_back({{1, c, 13, 17}, {4, 4}, {3, 3}, {}, 0, "SAME_LOWER"});
    v.push_back({{1, c, 13, 17}, {3, 3}, {2, 2}, {}, 0, "VALID"});
    v.push_back({{1, c, 13, 17}, {3, 3}, {1, 1}, {2, 2, 2, 2}, 0, "NOTSET", {2, 2}});  // dilations
    v.push_back({{1, c, 29}, {3}, {2}, {1, 1}});                          // 1-D
    v.push_back({{2, c, 7, 9}, {3, 3}, {1, 1}, {1, 1, 1, 1}});            // narrow same-width: direct path
    v.push_back({{1, c, 14, 14}, {2, 2}, {2, 2}, {0, 0, 0, 0}});          // halving: direct path on phase planes
    v.push_back({{2, c, 14, 12}, {3, 3}, {2, 2}, {1, 1, 1, 1}});
  }
  v.push_back({{1, 8, 112, 112}, {3, 3}, {2, 2}, {1, 1, 1, 1}});          // threads split planes
  v.push_back({{1, 1, 112, 112}, {3, 3}, {1, 1}, {1, 1, 1, 1}});          // threads split rows
  v.push_back({{1, 2, 2000, 11}, {3, 3}, {1, 1}, {1, 1, 1, 1}});          // direct path split rows
  return v;
}

void add_pool_attrs(OpTest& t, const PoolCase& c) {
  t.attr("kernel_shape", c.kernel);
  if (!c.strides.empty()) t.attr("strides", c.strides);
  if (!c.pads.empty()) t.attr("pads", c.pads);
  if (!c.dilations.empty()) t.attr("dilations", c.dilations);
  t.attr("ceil_mode", c.ceil_mode);
  t.attr("auto_pad", c.auto_pad);
}

TEST(MaxPool, MatchesReference) {
  uint32_t seed = 200;
  for (const PoolCase& c : pool_cases())
    for (int threads : {1, 2}) {
      SCOPED_TRACE(cat(shape_to_string(c.x), " k", shape_to_string(c.kernel), " threads ", threads));
      OpTest t(OpKind::MaxPool);
      t.input("x", random_tensor(c.x, seed++));
      add_pool_attrs(t, c);
      t.expect_fast_matches_reference(0.0f, threads);  // a max is exact
    }
}

TEST(AveragePool, MatchesReference) {
  uint32_t seed = 300;
  for (const PoolCase& c : pool_cases())
    for (int64_t count_pads : {0, 1})
      for (int threads : {1, 2}) {
        SCOPED_TRACE(cat(shape_to_string(c.x), " k", shape_to_string(c.kernel), " count_include_pad ", count_pads,
                         " threads ", threads));
        OpTest t(OpKind::AveragePool);
        t.input("x", random_tensor(c.x, seed++));
        add_pool_attrs(t, c);
        t.attr("count_include_pad", count_pads);
        // fp32 sum of <= 20 values in [-1, 1] times two rounded reciprocals vs a double mean.
        t.expect_fast_matches_reference(2e-6f, threads);
      }
}

TEST(Pools, RandomWindowsMatchReference) {
  std::mt19937 rng(7);
  const auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (int n = 0; n < 60; ++n) {
    const Shape x{pick(1, 2), pick(1, 9), pick(1, 20), pick(1, 20)};
    const Ints kernel{pick(1, 4), pick(1, 4)};
    const Ints pads{pick(0, kernel[0] - 1), pick(0, kernel[1] - 1), pick(0, kernel[0] - 1), pick(0, kernel[1] - 1)};
    if (x[2] + pads[0] + pads[2] < kernel[0] || x[3] + pads[1] + pads[3] < kernel[1]) continue;
    const PoolCase c{x, kernel, {pick(1, 3), pick(1, 3)}, pads, pick(0, 1)};
    const bool average = n % 2;
    SCOPED_TRACE(cat(average ? "AveragePool " : "MaxPool ", shape_to_string(c.x), " k", shape_to_string(c.kernel), " s",
                     shape_to_string(c.strides), " p", shape_to_string(c.pads), " ceil ", c.ceil_mode));
    OpTest t(average ? OpKind::AveragePool : OpKind::MaxPool);
    t.input("x", random_tensor(c.x, 800 + n));
    add_pool_attrs(t, c);
    if (average) t.attr("count_include_pad", pick(0, 1));
    t.expect_fast_matches_reference(average ? 2e-6f : 0.0f, 1 + n % 2);
  }
}

TEST(MaxPool, DeclinesIndicesAndUnsupportedWindows) {
  {
    OpTest t(OpKind::MaxPool, 2);  // the Indices output is used
    t.input("x", random_tensor({1, 3, 9, 9}, 1));
    t.attr("kernel_shape", Ints{3, 3});
    t.expect_reference_fallback();
  }
  {
    OpTest t(OpKind::MaxPool);  // 3-D window
    t.input("x", random_tensor({1, 2, 5, 6, 7}, 2));
    t.attr("kernel_shape", Ints{2, 2, 2});
    t.expect_reference_fallback();
  }
  {
    OpTest t(OpKind::AveragePool);  // wider than the engine's kernels
    t.input("x", random_tensor({1, 2, 3, 40}, 3));
    t.attr("kernel_shape", Ints{1, 17});
    t.expect_reference_fallback();
  }
}

TEST(GlobalPool, MatchesReference) {
  uint32_t seed = 400;
  std::vector<Shape> shapes;
  for (int64_t c : {1, 3, 16, 17})
    for (int64_t hw : {1, 7, 13, 56}) shapes.push_back({1, c, hw, hw + (hw == 13 ? 4 : 0)});
  shapes.push_back({1, 32, 112, 112});  // threads
  shapes.push_back({2, 5, 33});         // rank 3
  shapes.push_back({1, 3, 4, 5, 6});    // rank 5
  for (const Shape& x : shapes)
    for (int threads : {1, 2}) {
      SCOPED_TRACE(cat(shape_to_string(x), " threads ", threads));
      OpTest max_pool(OpKind::GlobalMaxPool);
      max_pool.input("x", random_tensor(x, seed++));
      max_pool.expect_fast_matches_reference(0.0f, threads);
      OpTest average_pool(OpKind::GlobalAveragePool);
      average_pool.input("x", random_tensor(x, seed++));
      // fp32 sums of up to 12544 values in [-1, 1] (in 4 * lanes partial sums) vs a double mean.
      average_pool.expect_fast_matches_reference(1e-5f, threads);
    }
}

// --- Transpose, Concat ----------------------------------------------------------------

TEST(Transpose, MatchesReference) {
  struct Case {
    Shape x;
    Ints perm;  // empty: the default (reversed dims)
  };
  const Case cases[] = {
      {{2, 7, 3, 5}, {0, 2, 1, 3}},   {{1, 13, 17, 33}, {0, 2, 1, 3}},  // attention heads
      {{2, 7, 3, 5}, {0, 2, 3, 1}},   {{1, 17, 13, 19}, {0, 2, 3, 1}},  // NCHW -> NHWC
      {{2, 7, 3, 5}, {0, 3, 1, 2}},   {{1, 19, 13, 17}, {0, 3, 1, 2}},  // NHWC -> NCHW
      {{3, 40, 17}, {0, 2, 1}},       {{1, 1, 40, 17}, {0, 1, 3, 2}},   // PaddleOCR rec
      {{3, 2, 5, 4, 6}, {2, 0, 3, 1, 4}},                                // rec attention qkv split
      {{37, 53}, {1, 0}},             {{5, 1, 7, 1}, {3, 2, 1, 0}},     // size-1 dims
      {{2, 3, 4, 5}, {}},             {{1, 1, 1}, {2, 0, 1}},           {{4, 6, 8}, {0, 1, 2}},
      {{2, 0, 3}, {1, 2, 0}},  // empty
      {{64, 128, 40}, {2, 0, 1}},  // > 1 MiB: threads
  };
  uint32_t seed = 500;
  for (const Case& c : cases)
    for (int threads : {1, 2}) {
      SCOPED_TRACE(cat(shape_to_string(c.x), " perm ", shape_to_string(c.perm), " threads ", threads));
      OpTest t(OpKind::Transpose);
      t.input("x", random_tensor(c.x, seed++));
      if (!c.perm.empty()) t.attr("perm", c.perm);
      t.expect_fast_matches_reference(0.0f, threads);
    }
}

TEST(Concat, MatchesReference) {
  struct Case {
    std::vector<Shape> inputs;
    int64_t axis;
  };
  const Case cases[] = {
      {{{1, 64, 5, 5}, {1, 64, 5, 5}}, 1},                       // squeezenet fire
      {{{1, 3, 7, 9}, {1, 1, 7, 9}, {1, 17, 7, 9}}, 1},
      {{{2, 3, 7, 9}, {2, 1, 7, 9}, {2, 4, 7, 9}, {2, 2, 7, 9}}, -3},
      {{{2, 3, 7, 9}, {4, 3, 7, 9}}, 0},
      {{{2, 3, 7, 9}, {2, 3, 1, 9}, {2, 3, 5, 9}}, 2},
      {{{2, 3, 7, 9}, {2, 3, 7, 1}, {2, 3, 7, 13}}, -1},
      {{{5}, {3}, {1}}, 0},
      {{{2, 3, 0, 4}, {2, 3, 2, 4}}, 2},                         // an empty input
      {{{1, 96, 80, 80}, {1, 96, 80, 80}}, 1},                   // > 1 MiB: threads split one block
      {{{4, 8, 201, 100}, {4, 8, 99, 100}}, 2},                  // threads split blocks mid-run
  };
  uint32_t seed = 600;
  for (const Case& c : cases)
    for (int threads : {1, 2}) {
      SCOPED_TRACE(cat(shape_to_string(c.inputs[0]), " axis ", c.axis, " threads ", threads));
      OpTest t(OpKind::Concat);
      for (size_t i = 0; i < c.inputs.size(); ++i) t.input(cat("x", i), random_tensor(c.inputs[i], seed++));
      t.attr("axis", c.axis);
      t.expect_fast_matches_reference(0.0f, threads);
    }
}

// Constant-mode Pad: channel padding of an NHWC tensor (BlazeFace), spatial
// padding, every axis at once, a non-zero value, a 1-D tensor; negative pads
// (cropping) and the other modes stay with the reference kernel.
TEST(Pad, MatchesReference) {
  struct Case {
    Shape x;
    Ints pads;
    float value;
  };
  const Case cases[] = {
      {{1, 64, 64, 24}, {0, 0, 0, 0, 0, 0, 0, 4}, 0.0f},     // BlazeFace channel_padding
      {{1, 3, 17, 19}, {0, 0, 1, 2, 0, 0, 2, 1}, 0.0f},
      {{2, 3, 5, 7}, {1, 2, 3, 4, 4, 3, 2, 1}, -1.5f},
      {{9}, {3, 0}, 2.0f},
      {{1, 20, 20, 3}, {0, 1, 1, 0, 0, 1, 1, 0}, 0.0f},       // pose's input padding: C unpadded, merged into W
      {{2, 3, 5, 7}, {0, 2, 0, 0, 1, 1, 0, 0}, 0.25f},        // the last two dims unpadded
      {{1, 96, 80, 80}, {0, 0, 1, 1, 0, 0, 1, 1}, 0.0f},      // > 1 MiB: threads split rows
      {{2, 0, 3}, {0, 1, 0, 0, 1, 2}, 0.5f},                  // an empty input
  };
  uint32_t seed = 900;
  for (const Case& c : cases)
    for (int threads : {1, 2}) {
      SCOPED_TRACE(cat(shape_to_string(c.x), " pads ", shape_to_string(c.pads), " threads ", threads));
      OpTest t(OpKind::Pad);
      t.input("x", random_tensor(c.x, seed++));
      t.constant("pads", Tensor::from_vector<int64_t>({static_cast<int64_t>(c.pads.size())}, c.pads).value());
      t.constant("value", Tensor::from_vector<float>({}, {c.value}).value());
      t.expect_fast_matches_reference(0.0f, threads);
    }
  OpTest crop(OpKind::Pad);
  crop.input("x", random_tensor({1, 3, 5, 5}, 1));
  crop.constant("pads", Tensor::from_vector<int64_t>({8}, {0, 0, -1, 0, 0, 0, 1, 0}).value());
  crop.expect_reference_fallback();
  OpTest reflect(OpKind::Pad);
  reflect.input("x", random_tensor({1, 3, 5, 5}, 2));
  reflect.constant("pads", Tensor::from_vector<int64_t>({8}, {0, 0, 1, 1, 0, 0, 1, 1}).value());
  reflect.attr("mode", std::string("reflect"));
  reflect.expect_reference_fallback();
}

// --- Resize -------------------------------------------------------------------------------

struct ResizeCase {
  Shape x;
  std::vector<float> scales;  // empty: sizes
  Ints sizes;
  std::string mode, transform, nearest_mode = "round_prefer_floor";
};

OpTest resize_test(const ResizeCase& c, uint32_t seed) {
  OpTest t(OpKind::Resize);
  t.input("x", random_tensor(c.x, seed));
  t.absent_input();  // roi
  if (!c.scales.empty()) {
    t.constant("scales", Tensor::from_vector<float>({static_cast<int64_t>(c.scales.size())}, c.scales).value());
  } else {
    t.absent_input();
    t.constant("sizes", Tensor::from_vector<int64_t>({static_cast<int64_t>(c.sizes.size())}, c.sizes).value());
  }
  t.attr("mode", c.mode);
  t.attr("coordinate_transformation_mode", c.transform);
  t.attr("nearest_mode", c.nearest_mode);
  return t;
}

std::string describe(const ResizeCase& c) {
  std::ostringstream scales;
  for (float v : c.scales) scales << v << ",";
  return cat(c.mode, " ", c.transform, " ", c.nearest_mode, " ", shape_to_string(c.x), " scales ", scales.str(),
             " sizes ", shape_to_string(c.sizes));
}

TEST(Resize, MatchesReference) {
  std::vector<ResizeCase> cases;
  const char* transforms[] = {"half_pixel",   "half_pixel_symmetric", "pytorch_half_pixel",
                              "align_corners", "asymmetric",          "tf_half_pixel_for_nn"};
  const std::vector<std::vector<float>> scale_sets = {
      {1, 1, 2, 2}, {1, 1, 0.5f, 0.5f}, {1, 1, 4, 4}, {1, 1, 1.7f, 0.6f}, {1, 1, 1, 3}, {1, 1, 2.5f, 1}};
  for (const char* transform : transforms) {
    for (const auto& scales : scale_sets) {
      for (const char* nearest : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"})
        cases.push_back({{1, 3, 13, 17}, scales, {}, "nearest", transform, nearest});
      cases.push_back({{1, 3, 13, 17}, scales, {}, "linear", transform});
    }
    cases.push_back({{2, 3, 7, 9}, {}, {2, 3, 15, 4}, "nearest", transform});  // sizes
    cases.push_back({{2, 3, 7, 9}, {}, {2, 3, 15, 4}, "linear", transform});
    cases.push_back({{2, 3, 7, 9}, {}, {2, 3, 1, 1}, "linear", transform});
    cases.push_back({{3, 1, 1}, {1, 2, 3}, {}, "linear", transform});          // rank 3, 1x1 source
  }
  // PaddleOCR det FPN: nearest asymmetric floor x2, x4 (and 2 threads on a big one).
  cases.push_back({{1, 24, 20, 20}, {1, 1, 2, 2}, {}, "nearest", "asymmetric", "floor"});
  cases.push_back({{1, 24, 20, 20}, {1, 1, 4, 4}, {}, "nearest", "asymmetric", "floor"});
  cases.push_back({{1, 96, 40, 40}, {1, 1, 4, 4}, {}, "nearest", "asymmetric", "floor"});
  cases.push_back({{1, 16, 64, 64}, {1, 1, 2, 2}, {}, "linear", "half_pixel"});
  // Channels-last tensors (the layout pass's): axes 1 and 2 resize.
  for (const char* mode : {"nearest", "linear"}) {
    for (const auto& scales : std::vector<std::vector<float>>{{1, 2, 2, 1}, {1, 0.5f, 0.5f, 1}, {1, 1.7f, 0.6f, 1}})
      cases.push_back({{2, 13, 17, 3}, scales, {}, mode, "half_pixel", "round_prefer_floor"});
    cases.push_back({{2, 7, 9, 11}, {}, {2, 15, 4, 11}, mode, "align_corners", "round_prefer_floor"});
  }
  cases.push_back({{1, 20, 20, 24}, {1, 2, 2, 1}, {}, "nearest", "asymmetric", "floor"});
  cases.push_back({{1, 40, 40, 96}, {1, 4, 4, 1}, {}, "nearest", "asymmetric", "floor"});
  cases.push_back({{1, 64, 64, 16}, {1, 2, 2, 1}, {}, "linear", "half_pixel"});
  uint32_t seed = 700;
  for (const ResizeCase& c : cases)
    for (int threads : {1, 2}) {
      SCOPED_TRACE(cat(describe(c), " threads ", threads));
      // Nearest copies values; linear: two fp32 weighted sums of values in
      // [-1, 1] against the reference's double.
      resize_test(c, seed++).expect_fast_matches_reference(c.mode == "nearest" ? 0.0f : 1e-6f, threads);
    }
}

TEST(Resize, DeclinesUnsupportedModes) {
  const ResizeCase cubic{{1, 2, 5, 5}, {1, 1, 2, 2}, {}, "cubic", "half_pixel"};
  resize_test(cubic, 1).expect_reference_fallback();
  const ResizeCase crop{{1, 2, 5, 5}, {1, 1, 2, 2}, {}, "linear", "tf_crop_and_resize"};
  resize_test(crop, 2).expect_reference_fallback();
  const ResizeCase channels{{1, 2, 5, 5}, {1, 2, 2, 2}, {}, "nearest", "asymmetric"};
  resize_test(channels, 3).expect_reference_fallback();
  OpTest antialias = resize_test({{1, 2, 8, 8}, {1, 1, 0.5f, 0.5f}, {}, "linear", "half_pixel"}, 4);
  antialias.attr("antialias", int64_t{1});
  antialias.expect_reference_fallback();
  OpTest exclude = resize_test({{1, 2, 8, 8}, {1, 1, 2, 2}, {}, "linear", "half_pixel"}, 5);
  exclude.attr("exclude_outside", int64_t{1});
  exclude.expect_reference_fallback();
}

}  // namespace
}  // namespace iskra::testing
