// Graph passes: each rewrite happens where it is safe, not where it is not,
// and the optimized graph computes what the original computes (compared with
// the reference kernels on the unoptimized graph).
#include "passes/passes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "random_tensor.h"
#include "runtime/session.h"

namespace iskra {
namespace {

using test_util::random_f32;

Tensor scalar_f32(float v) {
  Tensor t = Tensor::allocate(DType::kF32, {}).value();
  t.data<float>()[0] = v;
  return t;
}

// A little builder: values by name, nodes appended in order.
struct Builder {
  std::shared_ptr<Graph> g = std::make_shared<Graph>();
  std::map<std::string, int> ids;

  int value(const std::string& name) {
    auto it = ids.find(name);
    if (it != ids.end()) return it->second;
    return ids[name] = g->add_value(name, DType::kF32);
  }
  void input(const std::string& name) { g->inputs.push_back(value(name)); }
  void constant(const std::string& name, Tensor t) { ids[name] = g->add_constant(name, std::move(t)); }
  Node& node(OpKind op, std::vector<std::string> in, std::vector<std::string> out) {
    Node n;
    n.op = op;
    n.name = std::string(op_name(op)) + std::to_string(g->nodes.size());
    n.source_op = op_name(op);
    for (auto& s : in) n.inputs.push_back(s.empty() ? kNoValue : value(s));
    for (auto& s : out) {
      n.outputs.push_back(value(s));
      g->value(value(s)).producer = static_cast<int>(g->nodes.size());
    }
    g->nodes.push_back(std::move(n));
    return g->nodes.back();
  }
  void output(const std::string& name) { g->outputs.push_back(value(name)); }

  void conv_bn(const std::string& x, const std::string& y, int64_t cin, int64_t cout, uint32_t seed) {
    constant(y + "_w", random_f32({cout, cin, 3, 3}, seed));
    constant(y + "_gamma", random_f32({cout}, seed + 1, 0.5f, 1.5f));
    constant(y + "_beta", random_f32({cout}, seed + 2));
    constant(y + "_mean", random_f32({cout}, seed + 3));
    constant(y + "_var", random_f32({cout}, seed + 4, 0.5f, 2.0f));
    node(OpKind::Conv, {x, y + "_w"}, {y + "_conv"}).attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
    node(OpKind::BatchNormalization, {y + "_conv", y + "_gamma", y + "_beta", y + "_mean", y + "_var"}, {y});
  }
};

Tensor i64_tensor(const std::vector<int64_t>& values) {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(values.size())}, values).value();
}

// Ops of the graph a session runs, in order, for checks on what the passes made.
using OpList = std::vector<OpKind>;

std::vector<Tensor> run(const std::shared_ptr<Graph>& g, const std::vector<Tensor>& inputs, bool optimize,
                        PassStats* stats = nullptr, OpList* ops = nullptr) {
  SessionOptions options;
  options.optimize = optimize;
  options.reference_kernels = !optimize;
  auto session = Session::create(Model{g, {}}, options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  std::vector<Tensor> outputs;
  if (!session.is_ok()) return outputs;
  if (stats) *stats = (*session)->pass_stats();
  if (ops)
    for (const Node& n : (*session)->graph().nodes) ops->push_back(n.op);
  Status st = (*session)->run(inputs, outputs);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return outputs;
}

void expect_close(const std::vector<Tensor>& a, const std::vector<Tensor>& b, float tolerance) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t o = 0; o < a.size(); ++o) {
    ASSERT_EQ(a[o].shape(), b[o].shape());
    auto x = a[o].span<float>();
    auto y = b[o].span<float>();
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], tolerance * (1 + std::fabs(x[i]))) << i;
  }
}

// ResNet's block: conv-bn-relu, conv-bn, + identity, relu.
TEST(Passes, ResidualBlockFoldsAndFuses) {
  Builder b;
  b.input("x");
  b.conv_bn("x", "a", 4, 4, 10);
  b.node(OpKind::Relu, {"a"}, {"a_relu"});
  b.conv_bn("a_relu", "c", 4, 4, 20);
  b.node(OpKind::Add, {"c", "x"}, {"sum"});
  b.node(OpKind::Relu, {"sum"}, {"y"});
  b.output("y");
  const std::vector<Tensor> inputs = {random_f32({1, 4, 6, 5}, 1)};
  const auto reference = run(b.g, inputs, false);
  PassStats stats;
  const auto optimized = run(b.g, inputs, true, &stats);
  EXPECT_EQ(stats.batch_norms_folded, 2);
  EXPECT_EQ(stats.residual_adds_fused, 1);
  EXPECT_EQ(stats.activations_fused, 2);
  expect_close(reference, optimized, 1e-5f);
  EXPECT_EQ(b.g->nodes.size(), 7u) << "the caller's graph must not be changed";
}

// Folding rewrites a weight in place only when nothing else can see it: the
// caller's graph keeps its values; a session that owns the only copy folds
// without a new constant.
TEST(Passes, FoldsInPlaceOnlyWhatNobodyElseSees) {
  Builder b;
  b.input("x");
  b.conv_bn("x", "y", 3, 4, 90);
  b.output("y");
  const std::vector<float> before(b.g->value(b.ids["y_w"]).constant->span<float>().begin(),
                                  b.g->value(b.ids["y_w"]).constant->span<float>().end());
  const std::vector<Tensor> inputs = {random_f32({1, 3, 5, 5}, 91)};
  const auto reference = run(b.g, inputs, false);
  expect_close(reference, run(b.g, inputs, true), 1e-5f);
  const auto after = b.g->value(b.ids["y_w"]).constant->span<float>();
  EXPECT_TRUE(std::equal(before.begin(), before.end(), after.begin())) << "the caller's weights changed";

  // A graph nobody else holds, with weights nobody else shares: folded in place.
  Graph alone = *b.g;
  for (Value& v : alone.values)
    if (v.constant) v.constant = v.constant->clone().value();
  const int w = b.ids["y_w"];
  const void* storage = alone.value(w).constant->raw_data();
  EXPECT_EQ(fold_conv_batch_norm(alone), 1);
  EXPECT_EQ(alone.nodes.size(), 1u);
  ASSERT_EQ(alone.nodes[0].inputs[1], w) << "the weight value is kept";
  EXPECT_EQ(alone.value(w).constant->raw_data(), storage) << "folded in place";
  EXPECT_FALSE(std::equal(before.begin(), before.end(), alone.value(w).constant->span<float>().begin()));
}

TEST(Passes, SiluAndClipFuseIdentityGoes) {
  Builder b;
  b.input("x");
  b.constant("w1", random_f32({3, 2, 1, 1}, 3));
  b.node(OpKind::Conv, {"x", "w1"}, {"c1"});
  b.node(OpKind::Sigmoid, {"c1"}, {"s"});
  b.node(OpKind::Mul, {"s", "c1"}, {"silu"});
  b.node(OpKind::Identity, {"silu"}, {"ident"});
  b.constant("w2", random_f32({3, 3, 1, 1}, 4));
  b.constant("lo", scalar_f32(0.0f));
  b.constant("hi", scalar_f32(0.5f));
  b.node(OpKind::Conv, {"ident", "w2"}, {"c2"});
  b.node(OpKind::Clip, {"c2", "lo", "hi"}, {"y"});
  b.output("y");
  const std::vector<Tensor> inputs = {random_f32({1, 2, 5, 5}, 2, -3.0f, 3.0f)};
  PassStats stats;
  expect_close(run(b.g, inputs, false), run(b.g, inputs, true, &stats), 1e-5f);
  EXPECT_EQ(stats.identities_removed, 1);
  EXPECT_EQ(stats.activations_fused, 2);
}

TEST(Passes, NothingFusesAcrossSharedOrOutputValues) {
  Builder b;
  b.input("x");
  b.constant("w", random_f32({2, 2, 1, 1}, 5));
  b.node(OpKind::Conv, {"x", "w"}, {"c"});
  b.node(OpKind::Relu, {"c"}, {"r"});        // c has two readers: no fusion
  b.node(OpKind::Sigmoid, {"c"}, {"s"});
  b.constant("w2", random_f32({2, 2, 1, 1}, 6));
  b.node(OpKind::Conv, {"x", "w2"}, {"d"});  // d is a graph output: no fusion
  b.node(OpKind::Relu, {"d"}, {"dr"});
  b.constant("bias", random_f32({1, 2, 1, 1}, 7));
  b.constant("w3", random_f32({2, 2, 1, 1}, 8));
  b.node(OpKind::Conv, {"x", "w3"}, {"e"});
  b.node(OpKind::Add, {"e", "bias"}, {"eb"});  // a constant addend is not a residual
  b.output("r");
  b.output("s");
  b.output("d");
  b.output("dr");
  b.output("eb");
  const std::vector<Tensor> inputs = {random_f32({1, 2, 3, 3}, 9)};
  PassStats stats;
  expect_close(run(b.g, inputs, false), run(b.g, inputs, true, &stats), 1e-6f);
  EXPECT_EQ(stats.activations_fused, 0);
  EXPECT_EQ(stats.residual_adds_fused, 0);
}

// The residual operand is computed after the Conv in node order: the fused
// node must move to where both are available.
TEST(Passes, ResidualComputedAfterTheConv) {
  Builder b;
  b.input("x");
  b.constant("w", random_f32({2, 2, 3, 3}, 11));
  b.node(OpKind::Conv, {"x", "w"}, {"c"}).attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  b.node(OpKind::Sigmoid, {"x"}, {"late"});
  b.node(OpKind::Add, {"late", "c"}, {"y"});
  b.output("y");
  const std::vector<Tensor> inputs = {random_f32({1, 2, 4, 4}, 12)};
  PassStats stats;
  expect_close(run(b.g, inputs, false), run(b.g, inputs, true, &stats), 1e-5f);
  EXPECT_EQ(stats.residual_adds_fused, 1);
}

// PaddleOCR's MobileOne block: Conv, a learned scale and shift, then
// HardSwish written out as x·Clip(x+3, 0, 6)/6. All of it becomes one FusedConv.
TEST(Passes, AffineFoldsAndWrittenOutHardSwishFuses) {
  Builder b;
  b.input("x");
  b.constant("w", random_f32({3, 2, 3, 3}, 21));
  b.constant("bias", random_f32({3}, 22));
  b.node(OpKind::Conv, {"x", "w", "bias"}, {"c"}).attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  b.constant("scale", scalar_f32(1.7f));
  b.node(OpKind::Mul, {"scale", "c"}, {"scaled"});
  b.constant("shift", random_f32({3, 1, 1}, 23));
  b.node(OpKind::Add, {"scaled", "shift"}, {"h"});
  b.constant("three", scalar_f32(3.0f));
  b.constant("zero", scalar_f32(0.0f));
  b.constant("six", scalar_f32(6.0f));
  b.node(OpKind::Add, {"h", "three"}, {"h3"});
  b.node(OpKind::Clip, {"h3", "zero", "six"}, {"clipped"});
  b.node(OpKind::Mul, {"h", "clipped"}, {"prod"});
  b.node(OpKind::Div, {"prod", "six"}, {"y"});
  b.output("y");
  const std::vector<Tensor> inputs = {random_f32({1, 2, 6, 7}, 24, -4.0f, 4.0f)};
  PassStats stats;
  expect_close(run(b.g, inputs, false), run(b.g, inputs, true, &stats), 1e-5f);
  EXPECT_EQ(stats.affines_folded, 2);
  EXPECT_EQ(stats.hard_swishes_recognized, 1);
  EXPECT_EQ(stats.activations_fused, 1);
}

// A constant that varies along a spatial axis is not a per-channel affine,
// and a Clip with other bounds is not HardSwish.
TEST(Passes, LookalikesStayUnchanged) {
  Builder b;
  b.input("x");
  b.constant("w", random_f32({3, 3, 1, 1}, 31));
  b.node(OpKind::Conv, {"x", "w"}, {"c"});
  b.constant("row_scale", random_f32({5, 1}, 32));  // broadcasts along H
  b.node(OpKind::Mul, {"c", "row_scale"}, {"h"});
  b.constant("three", scalar_f32(3.0f));
  b.constant("zero", scalar_f32(0.0f));
  b.constant("five", scalar_f32(5.0f));
  b.constant("six", scalar_f32(6.0f));
  b.node(OpKind::Add, {"h", "three"}, {"h3"});
  b.node(OpKind::Clip, {"h3", "zero", "five"}, {"clipped"});
  b.node(OpKind::Mul, {"h", "clipped"}, {"prod"});
  b.node(OpKind::Div, {"prod", "six"}, {"y"});
  b.output("y");
  const std::vector<Tensor> inputs = {random_f32({1, 3, 5, 4}, 33, -4.0f, 4.0f)};
  PassStats stats;
  expect_close(run(b.g, inputs, false), run(b.g, inputs, true, &stats), 1e-5f);
  EXPECT_EQ(stats.affines_folded, 0);
  EXPECT_EQ(stats.hard_swishes_recognized, 0);
}

int count(const OpList& ops, OpKind op) { return static_cast<int>(std::count(ops.begin(), ops.end(), op)); }

// A small conv net in the style of the real ones: every op between the
// first conv and the Flatten runs channels-last, so the only transposes are
// the input's and the one before Flatten.
TEST(Layout, ConvNetRunsChannelsLastBetweenTwoTransposes) {
  Builder b;
  b.input("x");
  b.constant("w1", random_f32({8, 3, 3, 3}, 41));
  b.node(OpKind::Conv, {"x", "w1"}, {"c1"}).attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  b.node(OpKind::Relu, {"c1"}, {"r1"});
  Node& pool = b.node(OpKind::MaxPool, {"r1"}, {"p1"});
  pool.attrs["kernel_shape"] = std::vector<int64_t>{3, 3};
  pool.attrs["strides"] = std::vector<int64_t>{2, 2};
  pool.attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  b.constant("wd", random_f32({8, 1, 3, 3}, 42));  // depthwise, then a residual add
  Node& dw = b.node(OpKind::Conv, {"p1", "wd"}, {"d1"});
  dw.attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  dw.attrs["group"] = int64_t{8};
  b.node(OpKind::Add, {"d1", "p1"}, {"a1"});
  b.constant("w2", random_f32({4, 8, 1, 1}, 43));
  b.node(OpKind::Conv, {"a1", "w2"}, {"c2"});
  b.node(OpKind::Concat, {"c2", "a1"}, {"cat"}).attrs["axis"] = int64_t{1};
  b.constant("gamma", random_f32({12}, 44, 0.5f, 1.5f));
  b.constant("beta", random_f32({12}, 45));
  b.constant("mean", random_f32({12}, 46));
  b.constant("var", random_f32({12}, 47, 0.5f, 2.0f));
  b.node(OpKind::BatchNormalization, {"cat", "gamma", "beta", "mean", "var"}, {"bn"});
  b.constant("scales", Tensor::from_vector<float>({4}, {1, 1, 2, 2}).value());
  Node& up = b.node(OpKind::Resize, {"bn", "", "scales"}, {"up"});
  up.attrs["mode"] = std::string("linear");
  b.constant("channel_scale", random_f32({12, 1, 1}, 48));
  b.node(OpKind::Mul, {"up", "channel_scale"}, {"scaled"});
  b.constant("se_w", random_f32({12, 12, 1, 1}, 49));
  b.node(OpKind::GlobalAveragePool, {"scaled"}, {"gap"});
  b.node(OpKind::Conv, {"gap", "se_w"}, {"se"});
  b.node(OpKind::Sigmoid, {"se"}, {"gate"});
  b.node(OpKind::Mul, {"scaled", "gate"}, {"gated"});
  b.node(OpKind::GlobalAveragePool, {"gated"}, {"pooled"});
  b.node(OpKind::Flatten, {"pooled"}, {"y"});
  b.output("y");
  const std::vector<Tensor> inputs = {random_f32({2, 3, 11, 13}, 40)};
  PassStats stats;
  OpList ops;
  expect_close(run(b.g, inputs, false), run(b.g, inputs, true, &stats, &ops), 2e-5f);
  EXPECT_GT(stats.channels_last_nodes, 10);
  EXPECT_EQ(count(ops, OpKind::Transpose), 2);
  EXPECT_EQ(count(ops, OpKind::FusedConvNhwc), 4);
  EXPECT_EQ(count(ops, OpKind::MaxPoolNhwc), 1);
  EXPECT_EQ(count(ops, OpKind::ReduceMean), 2);  // the global pools
  EXPECT_EQ(count(ops, OpKind::Conv) + count(ops, OpKind::FusedConv) + count(ops, OpKind::BatchNormalization), 0);
}

// Where the graph needs NCHW: graph outputs, Reshape, an operand of unknown
// rank, a reduction without keepdims. A Transpose of a channels-last value
// composes its permutation; Slice, Pad, Softmax and Split follow the layout.
TEST(Layout, NchwWhereTheGraphNeedsIt) {
  Builder b;
  b.input("x");
  b.input("row");  // shape not declared: its rank is unknown to the pass
  b.constant("w", random_f32({6, 2, 3, 3}, 51));
  b.node(OpKind::Conv, {"x", "w"}, {"c"}).attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  b.output("c");  // read both as an output and by channels-last ops
  b.constant("starts", i64_tensor({1, 0}));
  b.constant("ends", i64_tensor({5, 4}));
  b.constant("axes", i64_tensor({1, 3}));
  b.node(OpKind::Slice, {"c", "starts", "ends", "axes"}, {"sliced"});
  b.constant("pads", i64_tensor({0, 1, 2, 0, 0, 0, 1, 3}));
  b.node(OpKind::Pad, {"sliced", "pads"}, {"padded"});
  b.node(OpKind::Softmax, {"padded"}, {"soft"}).attrs["axis"] = int64_t{1};
  b.constant("split", i64_tensor({1, 4}));
  b.node(OpKind::Split, {"soft", "split"}, {"s0", "s1"}).attrs["axis"] = int64_t{1};
  b.node(OpKind::Transpose, {"s1"}, {"t"}).attrs["perm"] = std::vector<int64_t>{0, 2, 3, 1};
  b.output("t");
  b.output("s0");
  b.node(OpKind::Add, {"c", "row"}, {"plus_row"});  // unknown rank: stays NCHW
  b.output("plus_row");
  b.constant("shape", i64_tensor({2, -1}));
  b.node(OpKind::Reshape, {"c", "shape"}, {"flat"});
  b.output("flat");
  b.constant("mean_axes", i64_tensor({1}));
  b.node(OpKind::ReduceMean, {"c", "mean_axes"}, {"mean"}).attrs["keepdims"] = int64_t{0};
  b.output("mean");
  const std::vector<Tensor> inputs = {random_f32({2, 2, 6, 5}, 50), random_f32({5}, 52)};
  PassStats stats;
  OpList ops;
  expect_close(run(b.g, inputs, false), run(b.g, inputs, true, &stats, &ops), 2e-5f);
  EXPECT_EQ(count(ops, OpKind::FusedConvNhwc), 1);
  // x in; c back once (output, Add, Reshape, ReduceMean share it); s0 back;
  // t is the user's Transpose, composed.
  EXPECT_EQ(count(ops, OpKind::Transpose), 4);
}

// A graph that is channels-last already (as TFLite's are, imported with a
// Transpose to NCHW before each conv and one back after it): the transposes
// cancel, the Add and Relu after a conv fuse into it, and only a Transpose
// whose output is a graph output remains.
TEST(Layout, ChannelsLastSourceGraphLosesItsTransposes) {
  const std::vector<int64_t> to_nchw = {0, 3, 1, 2}, to_nhwc = {0, 2, 3, 1};
  Builder b;
  b.input("x");  // [N, H, W, C]
  auto conv = [&](const std::string& in, const std::string& out, int64_t cin, int64_t cout, uint32_t seed) {
    b.node(OpKind::Transpose, {in}, {in + "_nchw"}).attrs["perm"] = to_nchw;
    b.constant(out + "_w", random_f32({cout, cin, 3, 3}, seed));
    b.constant(out + "_b", random_f32({cout}, seed + 1));
    b.node(OpKind::Conv, {in + "_nchw", out + "_w", out + "_b"}, {out + "_nchw"}).attrs["pads"] =
        std::vector<int64_t>{1, 1, 1, 1};
    b.node(OpKind::Transpose, {out + "_nchw"}, {out}).attrs["perm"] = to_nhwc;
  };
  conv("x", "c1", 4, 4, 71);
  b.node(OpKind::Relu, {"c1"}, {"r1"});
  conv("r1", "c2", 4, 4, 73);
  b.node(OpKind::Add, {"c2", "x"}, {"sum"});  // residual, in NHWC
  b.node(OpKind::Relu, {"sum"}, {"r2"});
  b.constant("mean_axes", i64_tensor({1, 2}));
  b.node(OpKind::ReduceMean, {"r2", "mean_axes"}, {"mean"}).attrs["keepdims"] = int64_t{0};
  b.output("mean");
  b.node(OpKind::Transpose, {"r2"}, {"r2_nchw"}).attrs["perm"] = to_nchw;  // an NCHW output
  b.output("r2_nchw");
  const std::vector<Tensor> inputs = {random_f32({1, 7, 9, 4}, 70)};
  PassStats stats;
  OpList ops;
  expect_close(run(b.g, inputs, false), run(b.g, inputs, true, &stats, &ops), 2e-5f);
  EXPECT_EQ(count(ops, OpKind::FusedConvNhwc), 2);
  EXPECT_EQ(count(ops, OpKind::Transpose), 1);  // r2 to NCHW, for the output
  EXPECT_EQ(count(ops, OpKind::Add) + count(ops, OpKind::Relu), 0);
  EXPECT_EQ(stats.residual_adds_fused, 1);
  EXPECT_EQ(stats.activations_fused, 2);
}

TEST(Layout, OffWhenAsked) {
  Builder b;
  b.input("x");
  b.constant("w", random_f32({3, 2, 1, 1}, 61));
  b.node(OpKind::Conv, {"x", "w"}, {"y"});
  b.output("y");
  SessionOptions options;
  options.channels_last = false;
  auto session = Session::create(Model{b.g, {}}, options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  EXPECT_EQ((*session)->pass_stats().channels_last_nodes, 0);
  EXPECT_EQ((*session)->graph().nodes.at(0).op, OpKind::Conv);
}

}  // namespace
}  // namespace iskra
