// Fast elementwise kernels (src/kernels/cpu/elementwise_kernels.cc,
// activation.cc) against the reference kernels: every op on sizes that hit
// the SIMD tails, every broadcast pattern in both operand orders, constant
// and run-time operands, 1 and 2 threads, special values (NaN, inf, -0), and
// the cases the fast path must decline.
//
// Tolerances: the unary math is within a few ulp of std:: (measured below and
// printed), so 1e-6 relative; + - * / max min are exact (0).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "hwy/targets.h"
#include "kernels/cpu/activation.h"
#include "kernels/kernel.h"
#include "op_test_util.h"

namespace iskra {
namespace {

using testing::OpTest;
using testing::random_tensor;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
const std::vector<int64_t> kTailSizes = {1, 3, 15, 16, 17, 33, 1000};

// Runs `check` once for every SIMD target compiled in and supported by this
// CPU (here AVX-512, AVX2, SSE4, SSSE3 and scalar), so each code path -- other
// vector widths, hence other tails, and other reciprocal estimates -- is
// tested, not only the one dispatch picks.
const char* g_target_name = "best";  // the target under test, for printed measurements

template <typename Fn>
void for_each_simd_target(Fn&& check) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    g_target_name = hwy::TargetName(target);
    SCOPED_TRACE(g_target_name);
    check();
  }
  hwy::SetSupportedTargetsForTest(0);
  g_target_name = "best";
}

Tensor f32_tensor(const Shape& shape, const std::vector<float>& values) {
  return Tensor::from_vector<float>(shape, values).value();
}

Tensor f32_scalar(float v) { return f32_tensor({}, {v}); }

// Evenly spaced values in [lo, hi], then the special values.
std::vector<float> grid(float lo, float hi, int count) {
  std::vector<float> v;
  for (int i = 0; i < count; ++i) v.push_back(lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(count - 1));
  for (float s : {0.0f, -0.0f, 3.0f, -3.0f, 6.0f, -6.0f, 1e-30f, -1e-30f, 1e30f, -1e30f, kInf, -kInf, kNaN})
    v.push_back(s);
  return v;
}

// Error of `got` against `want`: relative, or (relative=false) relative to
// max(|want|, 1) like the OpTest tolerance, for formulas that cancel (x/6 + 0.5
// near -3, 1 + erf(x) for negative x) where the last ulps of two roundings
// legitimately differ. 0 when both are NaN or equal (infinities), infinite
// when only one is NaN.
double error_of(float got, float want, bool relative = true) {
  if (std::isnan(got) || std::isnan(want)) return std::isnan(got) && std::isnan(want) ? 0.0 : INFINITY;
  if (got == want) return 0.0;
  const double scale = relative ? std::max(std::fabs(static_cast<double>(want)), 1e-30) : std::max(std::fabs(want), 1.0f);
  return std::fabs(static_cast<double>(got) - want) / scale;
}

// Runs `node` on `inputs` through its prepared fast kernel (which must not
// decline) and through its reference kernel, without a session, so values
// like NaN and inf can be compared exactly. Returns {fast, reference}.
std::pair<Tensor, Tensor> run_fast_and_reference(OpKind op, const std::vector<Tensor>& inputs,
                                                 const std::vector<std::pair<std::string, AttrValue>>& attrs = {}) {
  Node node;
  node.op = op;
  node.name = "under_test";
  for (size_t i = 0; i <= inputs.size(); ++i) (i < inputs.size() ? node.inputs : node.outputs).push_back(int(i));
  for (const auto& [key, value] : attrs) node.attrs[key] = value;
  std::vector<const Tensor*> in;
  for (const Tensor& t : inputs) in.push_back(&t);
  const TensorType out_type{DType::kF32, inputs[0].shape()};
  auto kernel = default_op_table().get(op).prepare(PrepareContext{node, in, {&out_type, 1}});
  EXPECT_TRUE(kernel.is_ok() && *kernel != nullptr) << op_name(op) << ": no fast kernel";
  Tensor fast = Tensor::allocate(DType::kF32, out_type.shape).value();
  Tensor ref = Tensor::allocate(DType::kF32, out_type.shape).value();
  if (!kernel.is_ok() || *kernel == nullptr) return {fast, ref};
  for (Tensor* out : {&fast, &ref}) {
    std::vector<Tensor*> outs{out};
    KernelContext ctx{node, in, outs, nullptr};
    const Status st = out == &fast ? (*kernel)->run(ctx) : reference_op_table().get(op).reference(ctx);
    EXPECT_TRUE(st.is_ok()) << st.message();
  }
  return {fast, ref};
}

// Max relative error of the fast kernel over `values`; fails past `bound`.
double expect_unary_accuracy(OpKind op, const std::vector<float>& values, double bound, bool relative,
                             const std::vector<std::pair<std::string, AttrValue>>& attrs = {}) {
  const Tensor x = f32_tensor({static_cast<int64_t>(values.size())}, values);
  const auto [fast, ref] = run_fast_and_reference(op, {x}, attrs);
  double worst = 0.0;
  for (size_t i = 0; i < values.size(); ++i) {
    const float got = fast.data<float>()[i], want = ref.data<float>()[i];
    const double err = error_of(got, want, relative);
    // Tiny results come from subnormal intermediates, which the fast exp
    // flushes to 0 (e.g. Swish(-88) = -88 * 6e-39): not compared relatively.
    if (std::fabs(want) < 1e-30f && std::fabs(got) < 1e-30f) continue;
    EXPECT_LE(err, bound) << op_name(op) << "(" << values[i] << "): fast " << got << " ref " << want;
    worst = std::max(worst, err);
  }
  return worst;
}

// ---------------------------------------------------------------------------
// apply_activation (GEMM/conv epilogues) against activation_reference.

std::vector<cpu::Activation> all_activations() {
  using K = cpu::ActivationKind;
  return {{K::kNone},    {K::kRelu},     {K::kClip, 0.0f, 6.0f}, {K::kClip, -1.0f, 1.0f}, {K::kLeakyRelu, 0.1f},
          {K::kSigmoid}, {K::kHardSigmoid, 0.2f, 0.5f}, {K::kHardSigmoid, 1.0f / 6.0f, 0.5f}, {K::kHardSwish},
          {K::kTanh},    {K::kSilu}};
}

TEST(Activation, VectorMatchesReferenceOnEveryKind) {
  for_each_simd_target([&] {
    const std::vector<float> values = grid(-30.0f, 30.0f, 6001);
    for (const cpu::Activation& act : all_activations()) {
      std::vector<float> data = values;
      cpu::apply_activation(act, data.data(), data.size());
      double worst = 0.0;
      for (size_t i = 0; i < values.size(); ++i) {
        const float want = cpu::activation_reference(act, values[i]);
        const double err = error_of(data[i], want, /*relative=*/false);
        EXPECT_LE(err, 1e-6) << cpu::activation_name(act.kind) << "(" << values[i] << "): " << data[i] << " vs " << want;
        worst = std::max(worst, err);
      }
      std::printf("  %-7s %-12s max error %.2e\n", g_target_name, cpu::activation_name(act.kind), worst);
    }
  });
}

TEST(Activation, ReferenceKeepsNaN) {
  for (const cpu::Activation& act : all_activations())
    EXPECT_TRUE(std::isnan(cpu::activation_reference(act, kNaN))) << cpu::activation_name(act.kind);
}

// Every length and start offset around the vector width: the tail must not
// touch elements outside [0, n) nor apply the activation twice.
TEST(Activation, TailsInPlaceTouchOnlyTheirRange) {
  for_each_simd_target([&] {
    const cpu::Activation sigmoid{cpu::ActivationKind::kSigmoid};
    for (size_t start = 0; start < 4; ++start) {
      for (size_t n = 0; n <= 70; ++n) {
        std::vector<float> data(80);
        for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i) * 0.1f - 3.0f;
        const std::vector<float> before = data;
        cpu::apply_activation(sigmoid, data.data() + start, n);
        for (size_t i = 0; i < data.size(); ++i) {
          const bool inside = i >= start && i < start + n;
          const float want = inside ? cpu::activation_reference(sigmoid, before[i]) : before[i];
          ASSERT_NEAR(data[i], want, 1e-6f) << "start " << start << " n " << n << " i " << i;
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------
// Unary ops.

struct UnaryCase {
  OpKind op;
  float lo, hi;  // input range of the random tests
  std::vector<std::pair<std::string, AttrValue>> attrs = {};
};

std::vector<UnaryCase> unary_cases() {
  return {{OpKind::Relu, -2, 2},
          {OpKind::LeakyRelu, -2, 2},
          {OpKind::LeakyRelu, -2, 2, {{"alpha", 0.3f}}},
          {OpKind::Sigmoid, -20, 20},
          {OpKind::HardSigmoid, -8, 8},
          {OpKind::HardSigmoid, -8, 8, {{"alpha", 1.0f / 6.0f}, {"beta", 0.5f}}},
          {OpKind::HardSwish, -8, 8},
          {OpKind::Tanh, -10, 10},
          {OpKind::Exp, -80, 80},
          {OpKind::Sqrt, 0, 100},
          {OpKind::Neg, -5, 5},
          {OpKind::Abs, -5, 5},
          {OpKind::Erf, -5, 5},
          {OpKind::Softplus, -30, 30},
          {OpKind::Swish, -20, 20, {{"alpha", 1.5f}}},
          {OpKind::Gelu, -10, 10},
          {OpKind::Gelu, -10, 10, {{"approximate", std::string("tanh")}}}};
}

TEST(Unary, EveryOpOnTailSizes) {
  for_each_simd_target([&] {
    for (const UnaryCase& c : unary_cases()) {
      for (int64_t n : kTailSizes) {
        SCOPED_TRACE(std::string(op_name(c.op)) + " n=" + std::to_string(n));
        OpTest t(c.op);
        t.input("x", random_tensor({n}, 7, c.lo, c.hi));
        for (const auto& [key, value] : c.attrs) t.attr(key, value);
        t.expect_fast_matches_reference(1e-6f);
      }
    }
  });
}

TEST(Unary, FourDimensionalAndThreaded) {
  for (const UnaryCase& c : unary_cases()) {
    SCOPED_TRACE(op_name(c.op));
    for (const Shape& shape : {Shape{1, 3, 7, 9}, Shape{1, 32, 56, 56}}) {
      OpTest t(c.op);
      t.input("x", random_tensor(shape, 11, c.lo, c.hi));
      for (const auto& [key, value] : c.attrs) t.attr(key, value);
      t.expect_fast_matches_reference(1e-6f, /*threads=*/2);
    }
  }
}

// Dense grids and special values, with the measured worst error printed.
TEST(Unary, AccuracyAndSpecialValues) {
  for_each_simd_target([&] {
    struct Sweep {
      OpKind op;
      float lo, hi;
      double bound;
      bool relative = true;
      std::vector<std::pair<std::string, AttrValue>> attrs = {};
    };
    const std::pair<std::string, AttrValue> tanh_approximation{"approximate", std::string("tanh")};
    for (const Sweep& s : std::vector<Sweep>{{OpKind::Exp, -104, 89, 2.5e-7},
                                             {OpKind::Sigmoid, -104, 104, 3e-7},
                                             {OpKind::Tanh, -20, 20, 3e-7},
                                             {OpKind::Erf, -5, 5, 3e-7},
                                             {OpKind::Softplus, -100, 100, 3e-7},
                                             {OpKind::Swish, -100, 100, 3e-7},
                                             {OpKind::Sqrt, 0, 1000, 0},
                                             {OpKind::Relu, -8, 8, 0},
                                             {OpKind::Gelu, -10, 10, 5e-7, false},
                                             {OpKind::Gelu, -10, 10, 5e-7, false, {tanh_approximation}},
                                             {OpKind::HardSwish, -8, 8, 2.5e-7, false},
                                             {OpKind::HardSigmoid, -8, 8, 2.5e-7, false}}) {
      const double worst = expect_unary_accuracy(s.op, grid(s.lo, s.hi, 200001), s.bound, s.relative, s.attrs);
      std::printf("  %-7s %-11s max %s error %.2e over [%g, %g] and specials\n", g_target_name, op_name(s.op),
                  s.relative ? "relative" : "mixed", worst, s.lo, s.hi);
    }
  });
}

TEST(Unary, ClipWithConstantBounds) {
  for_each_simd_target([&] {
    for (int64_t n : kTailSizes) {
      OpTest t(OpKind::Clip);
      t.input("x", random_tensor({n}, 3, -10, 10)).constant("min", f32_scalar(0.0f)).constant("max", f32_scalar(6.0f));
      t.expect_fast_matches_reference(0.0f);
    }
    OpTest only_max(OpKind::Clip);
    only_max.input("x", random_tensor({2, 5, 7, 9}, 4, -10, 10)).absent_input().constant("max", f32_scalar(1.0f));
    only_max.expect_fast_matches_reference(0.0f);
    OpTest only_min(OpKind::Clip);
    only_min.input("x", random_tensor({2, 5, 7, 9}, 5, -10, 10)).constant("min", f32_scalar(-1.0f));
    only_min.expect_fast_matches_reference(0.0f);
    OpTest unbounded(OpKind::Clip);
    unbounded.input("x", random_tensor({17}, 6, -10, 10));
    unbounded.expect_fast_matches_reference(0.0f);
    const auto [fast, ref] = run_fast_and_reference(OpKind::Clip, {f32_tensor({3}, {kNaN, -kInf, kInf}), f32_scalar(0),
                                                                   f32_scalar(6)});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(error_of(fast.data<float>()[i], ref.data<float>()[i]), 0.0) << i;
  });
}

TEST(Unary, PowWithConstantExponent) {
  for_each_simd_target([&] {
    for (float exponent : {1.0f, 2.0f, 0.5f}) {
      for (int64_t n : kTailSizes) {
        OpTest t(OpKind::Pow);
        t.input("x", random_tensor({n}, 8, exponent == 0.5f ? 0.0f : -3.0f, 3.0f)).constant("e", f32_scalar(exponent));
        t.expect_fast_matches_reference(1e-6f);
      }
    }
    OpTest integer_exponent(OpKind::Pow);
    integer_exponent.input("x", random_tensor({4, 33}, 9)).constant("e", Tensor::from_vector<int64_t>({1}, {2}).value());
    integer_exponent.expect_fast_matches_reference(1e-6f);
    // std::pow's special cases that a plain sqrt gets wrong.
    const auto [fast, ref] = run_fast_and_reference(OpKind::Pow, {f32_tensor({4}, {-0.0f, -kInf, -1.0f, kNaN}),
                                                                  f32_scalar(0.5f)});
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(error_of(fast.data<float>()[i], ref.data<float>()[i]), 0.0) << i;
      if (!std::isnan(ref.data<float>()[i])) {  // pow(-0, 0.5) is +0
        EXPECT_EQ(std::signbit(fast.data<float>()[i]), std::signbit(ref.data<float>()[i])) << i;
      }
    }
  });
}

TEST(Unary, DeclinedCases) {
  OpTest f64(OpKind::Relu);
  f64.input("x", Tensor::allocate(DType::kF64, {17}).value());
  f64.expect_reference_fallback();
  OpTest runtime_bound(OpKind::Clip);
  runtime_bound.input("x", random_tensor({17}, 1)).input("min", f32_scalar(0.0f));
  runtime_bound.expect_reference_fallback();
  OpTest cube(OpKind::Pow);
  cube.input("x", random_tensor({17}, 1)).constant("e", f32_scalar(3.0f));
  cube.expect_reference_fallback();
  OpTest runtime_exponent(OpKind::Pow);
  runtime_exponent.input("x", random_tensor({17}, 1)).input("e", f32_scalar(2.0f));
  runtime_exponent.expect_reference_fallback();
  OpTest exponent_vector(OpKind::Pow);
  exponent_vector.input("x", random_tensor({2, 17}, 1)).constant("e", f32_tensor({2, 1}, {2.0f, 2.0f}));
  exponent_vector.expect_reference_fallback();
}

// ---------------------------------------------------------------------------
// Binary ops.

const std::vector<OpKind> kBinaryOps = {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div, OpKind::Max, OpKind::Min};

// a op b, then b op a, each with the second operand run-time or constant.
void expect_binary_matches(OpKind op, const Shape& a_shape, const Shape& b_shape, int threads = 1) {
  for (bool swap : {false, true}) {
    for (bool constant_b : {false, true}) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + shape_to_string(swap ? b_shape : a_shape) + " op " +
                   shape_to_string(swap ? a_shape : b_shape) + (constant_b ? " (constant)" : ""));
      // Divisors stay away from 0 so the quotients are well-conditioned.
      Tensor a = random_tensor(a_shape, 21, 0.5f, 2.0f), b = random_tensor(b_shape, 22, -2.0f, -0.5f);
      if (swap) std::swap(a, b);
      OpTest t(op);
      t.input("a", a);
      if (constant_b) t.constant("b", b);
      else t.input("b", b);
      t.expect_fast_matches_reference(0.0f, threads);
    }
  }
}

TEST(Binary, SameShapeOnTailSizes) {
  for_each_simd_target([&] {
    for (OpKind op : kBinaryOps)
      for (int64_t n : kTailSizes) expect_binary_matches(op, {n}, {n});
  });
}

TEST(Binary, EveryBroadcastPattern) {
  for_each_simd_target([&] {
    const std::vector<std::pair<Shape, Shape>> patterns = {
        {{1, 3, 7, 9}, {1, 3, 7, 9}},  // same shape
        {{1, 3, 7, 9}, {}},            // scalar
        {{17}, {1}},                   // one-element vector
        {{2, 5, 7, 9}, {1, 5, 1, 1}},  // per channel
        {{2, 5, 7, 9}, {5, 1, 1}},     // per channel, lower rank
        {{2, 5, 7, 9}, {2, 5, 1, 1}},  // squeeze-excitation
        {{33, 17}, {17}},              // rows
        {{2, 3, 17}, {1, 1, 17}},      // rows, padded rank
        {{33, 17}, {33, 1}},           // a value per row
        {{2, 1, 4}, {3, 1}},           // both broadcast: [2, 3, 4]
        {{2, 3, 1, 5}, {3, 4, 1}},     // alternating
        {{2, 1, 3, 1, 2, 1, 3}, {1, 2, 1, 3, 1, 2, 1}},  // 7 loops after collapsing
        {{1, 1, 1}, {1}},              // one element
        {{3, 0, 4}, {4}},              // empty
    };
    for (OpKind op : kBinaryOps)
      for (const auto& [a, b] : patterns) expect_binary_matches(op, a, b);
  });
}

TEST(Binary, LargeTensorsOnTwoThreads) {
  for (OpKind op : {OpKind::Add, OpKind::Mul, OpKind::Div}) {
    expect_binary_matches(op, {1, 64, 56, 56}, {1, 64, 56, 56}, 2);
    expect_binary_matches(op, {1, 64, 56, 56}, {1, 64, 1, 1}, 2);
    expect_binary_matches(op, {3, 129, 257}, {257}, 2);
  }
}

TEST(Binary, InputsMayAlias) {
  const Tensor x = random_tensor({2, 5, 7, 9}, 31);
  const auto [fast, ref] = run_fast_and_reference(OpKind::Mul, {x, x});
  for (int64_t i = 0; i < x.element_count(); ++i) EXPECT_EQ(fast.data<float>()[i], ref.data<float>()[i]);
}

TEST(Binary, MaxMinPropagateNaN) {
  for_each_simd_target([&] {
    const Tensor a = f32_tensor({4}, {kNaN, 1.0f, kNaN, -kInf});
    const Tensor b = f32_tensor({4}, {1.0f, kNaN, kNaN, kInf});
    for (OpKind op : {OpKind::Max, OpKind::Min}) {
      const auto [fast, ref] = run_fast_and_reference(op, {a, b});
      for (int i = 0; i < 4; ++i)
        EXPECT_EQ(error_of(fast.data<float>()[i], ref.data<float>()[i]), 0.0) << op_name(op) << " " << i;
    }
  });
}

TEST(Binary, PReluSlopeBroadcast) {
  for_each_simd_target([&] {
    for (const auto& [x, slope] : std::vector<std::pair<Shape, Shape>>{
             {{17}, {17}}, {{1, 3, 7, 9}, {3, 1, 1}}, {{2, 5, 7, 9}, {1}}, {{33, 16}, {16}}, {{1, 64, 56, 56}, {64, 1, 1}}}) {
      SCOPED_TRACE(shape_to_string(x) + " slope " + shape_to_string(slope));
      OpTest t(OpKind::PRelu);
      t.input("x", random_tensor(x, 41)).constant("slope", random_tensor(slope, 42, 0.0f, 0.5f));
      t.expect_fast_matches_reference(0.0f, 2);
    }
  });
}

TEST(Binary, DeclinedCases) {
  OpTest f64(OpKind::Add);
  f64.input("a", Tensor::allocate(DType::kF64, {17}).value()).input("b", Tensor::allocate(DType::kF64, {17}).value());
  f64.expect_reference_fallback();
  OpTest three_way_max(OpKind::Max);
  three_way_max.input("a", random_tensor({17}, 1)).input("b", random_tensor({17}, 2)).input("c", random_tensor({17}, 3));
  three_way_max.expect_reference_fallback();
  OpTest nine_loops(OpKind::Add);  // more loops than the broadcast plan holds
  nine_loops.input("a", random_tensor({2, 1, 2, 1, 2, 1, 2, 1, 2}, 1)).input("b", random_tensor({2, 1, 2, 1, 2, 1, 2, 1}, 2));
  nine_loops.expect_reference_fallback();
}

// ---------------------------------------------------------------------------
// Normalizations and reductions (normalize_kernels.cc). The reference computes
// in double; these sum in fp32, hence tolerances of a few 1e-6.

Tensor i64_tensor(const std::vector<int64_t>& values) {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(values.size())}, values).value();
}

TEST(Softmax, EveryAxisAndShape) {
  for_each_simd_target([&] {
    for (OpKind op : {OpKind::Softmax, OpKind::LogSoftmax}) {
      for (const Shape& shape : {Shape{1, 1000}, Shape{3, 17}, Shape{1}, Shape{2, 5, 7, 9}, Shape{4, 33, 3}}) {
        for (int64_t axis = -1; axis < static_cast<int64_t>(shape.size()); ++axis) {
          SCOPED_TRACE(std::string(op_name(op)) + " " + shape_to_string(shape) + " axis " + std::to_string(axis));
          OpTest t(op);
          t.input("x", random_tensor(shape, 51, -5.0f, 5.0f)).attr("axis", axis);
          t.expect_fast_matches_reference(2e-6f);
        }
      }
    }
  });
}

TEST(Softmax, Coerce2dFlattensTrailingAxes) {
  for_each_simd_target([&] {
    for (OpKind op : {OpKind::Softmax, OpKind::LogSoftmax}) {
      for (int64_t axis : {0, 1, 2, 3}) {
        OpTest t(op);
        t.input("x", random_tensor({2, 3, 4, 5}, 52, -5.0f, 5.0f)).attr("axis", axis).attr("coerce_2d", int64_t{1});
        t.expect_fast_matches_reference(2e-6f);
      }
    }
  });
}

TEST(Softmax, LargeOnTwoThreads) {
  for (OpKind op : {OpKind::Softmax, OpKind::LogSoftmax}) {
    for (const auto& [shape, axis] : std::vector<std::pair<Shape, int64_t>>{{{64, 6625}, -1}, {{2, 96, 40, 40}, 1}}) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + shape_to_string(shape));
      OpTest t(op);
      t.input("x", random_tensor(shape, 53, -10.0f, 10.0f)).attr("axis", axis);
      const float diff = t.expect_fast_matches_reference(2e-6f, 2);
      std::printf("  %s %s: max |diff| %.2e\n", op_name(op), shape_to_string(shape).c_str(), diff);
    }
  }
}

// Logits 100 apart: many quotients fall below FLT_MIN (flushed to 0, within
// the tolerance), a path that once hit slow subnormal arithmetic.
TEST(Softmax, WideLogitRange) {
  for_each_simd_target([&] {
    for (OpKind op : {OpKind::Softmax, OpKind::LogSoftmax}) {
      for (int64_t axis : {0, 1}) {
        OpTest t(op);
        t.input("x", random_tensor({40, 333}, 54, -100.0f, 100.0f)).attr("axis", axis);
        t.expect_fast_matches_reference(2e-6f);
      }
    }
  });
}

// A NaN or +inf in a lane makes the whole lane NaN (exp(inf - inf)), as in the reference.
TEST(Softmax, NaNAndInfinityLikeTheReference) {
  for_each_simd_target([&] {
    const Tensor x = f32_tensor({4, 3}, {1, kNaN, 2, 1, kInf, 2, -kInf, 0, 1, -kInf, -kInf, -kInf});
    for (OpKind op : {OpKind::Softmax, OpKind::LogSoftmax}) {
      for (int64_t axis : {0, 1}) {
        const auto [fast, ref] = run_fast_and_reference(op, {x}, {{"axis", axis}});
        for (int i = 0; i < 12; ++i)
          EXPECT_LE(error_of(fast.data<float>()[i], ref.data<float>()[i]), 1e-6) << op_name(op) << " axis " << axis << " " << i;
      }
    }
  });
}

TEST(Softmax, DeclinedCases) {
  OpTest f64(OpKind::Softmax);
  f64.input("x", Tensor::allocate(DType::kF64, {3, 17}).value());
  f64.expect_reference_fallback();
}

TEST(BatchNorm, ConstantStatistics) {
  for_each_simd_target([&] {
    for (const Shape& shape : {Shape{2, 5, 7, 9}, Shape{3, 17}, Shape{2, 5, 7}, Shape{2, 33, 1, 1}, Shape{1, 32, 56, 56}}) {
      SCOPED_TRACE(shape_to_string(shape));
      const int64_t c = shape[1];
      OpTest t(OpKind::BatchNormalization);
      t.input("x", random_tensor(shape, 61, -3.0f, 3.0f))
          .constant("scale", random_tensor({c}, 62, 0.5f, 2.0f))
          .constant("B", random_tensor({c}, 63))
          .constant("mean", random_tensor({c}, 64))
          .constant("var", random_tensor({c}, 65, 0.1f, 2.0f))
          .attr("epsilon", 1e-3f);
      t.expect_fast_matches_reference(2e-6f, 2);
    }
  });
}

TEST(BatchNorm, DeclinedCases) {
  OpTest runtime_mean(OpKind::BatchNormalization);
  runtime_mean.input("x", random_tensor({2, 5, 7, 9}, 1))
      .constant("scale", random_tensor({5}, 2))
      .constant("B", random_tensor({5}, 3))
      .input("mean", random_tensor({5}, 4))
      .constant("var", random_tensor({5}, 5, 0.1f, 1.0f));
  runtime_mean.expect_reference_fallback();
}

TEST(LayerNorm, TrailingAxesWithAndWithoutBias) {
  for_each_simd_target([&] {
    struct Case {
      Shape x, scale;
      int64_t axis;
    };
    for (const Case& c : std::vector<Case>{{{2, 7, 33}, {33}, -1},
                                           {{1, 25, 120}, {120}, 2},
                                           {{2, 3, 4, 5}, {3, 4, 5}, 1},
                                           {{2, 3, 4, 5}, {1, 3, 4, 5}, 1},
                                           {{2, 3, 4, 5}, {2, 3, 4, 5}, 0},
                                           {{5, 1}, {1}, 1},
                                           {{64, 25, 384}, {384}, -1}}) {
      for (bool bias : {false, true}) {
        for (bool constant : {false, true}) {
          SCOPED_TRACE(shape_to_string(c.x) + " axis " + std::to_string(c.axis) + (bias ? " bias" : ""));
          OpTest t(OpKind::LayerNormalization);
          t.input("x", random_tensor(c.x, 71, -3.0f, 3.0f)).attr("axis", c.axis).attr("epsilon", 1e-6f);
          if (constant) t.constant("scale", random_tensor(c.scale, 72));
          else t.input("scale", random_tensor(c.scale, 72));
          if (bias) t.constant("B", random_tensor(c.scale, 73));
          t.expect_fast_matches_reference(5e-6f, 2);
        }
      }
    }
  });
}

TEST(LayerNorm, DeclinedCases) {
  OpTest statistics(OpKind::LayerNormalization, /*output_count=*/3);  // Mean and InvStdDev used
  statistics.input("x", random_tensor({2, 7, 33}, 1)).constant("scale", random_tensor({33}, 2));
  statistics.expect_reference_fallback();
  OpTest scale_per_row(OpKind::LayerNormalization);
  scale_per_row.input("x", random_tensor({2, 7, 33}, 1)).constant("scale", random_tensor({7, 33}, 2));
  scale_per_row.expect_reference_fallback();
}

TEST(Reduce, MeanAndSumOverContiguousAxes) {
  for_each_simd_target([&] {
    struct Case {
      Shape x;
      std::vector<int64_t> axes;  // empty: the axes input is absent
    };
    for (OpKind op : {OpKind::ReduceMean, OpKind::ReduceSum}) {
      for (const Case& c : std::vector<Case>{{{2, 7, 33}, {-1}},
                                             {{2, 5, 7, 9}, {2, 3}},
                                             {{2, 5, 7, 9}, {1}},
                                             {{2, 5, 7, 9}, {1, 2}},
                                             {{2, 5, 7, 9}, {0}},
                                             {{2, 5, 7, 9}, {}},
                                             {{17}, {0}},
                                             {{64, 128, 96}, {2}},
                                             {{64, 128, 96}, {1}}}) {
        for (int64_t keepdims : {0, 1}) {
          SCOPED_TRACE(std::string(op_name(op)) + " " + shape_to_string(c.x) + " keepdims " + std::to_string(keepdims));
          OpTest t(op);
          t.input("x", random_tensor(c.x, 81));
          if (!c.axes.empty()) t.constant("axes", i64_tensor(c.axes));
          t.attr("keepdims", keepdims);
          t.expect_fast_matches_reference(5e-6f, 2);
        }
      }
    }
  });
}

// The global average pool of an NHWC tensor: a mean over 160 x 160 pixels of
// positive values per channel. A float sum in one sequence drifts by ~1e-5
// relative here; the kernel must stay close to the reference's.
TEST(Reduce, LongMeanOverMiddleAxesStaysAccurate) {
  for (int threads : {1, 2}) {
    OpTest t(OpKind::ReduceMean);
    t.input("x", random_tensor({1, 160, 160, 24}, 82, 0.5f, 1.5f));
    t.constant("axes", i64_tensor({1, 2}));
    t.attr("keepdims", int64_t{1});
    t.expect_fast_matches_reference(5e-7f, threads);
  }
}

TEST(Reduce, DeclinedCases) {
  OpTest split_axes(OpKind::ReduceMean);
  split_axes.input("x", random_tensor({2, 5, 7, 9}, 1)).constant("axes", i64_tensor({1, 3}));
  split_axes.expect_reference_fallback();
  OpTest runtime_axes(OpKind::ReduceSum);
  runtime_axes.input("x", random_tensor({2, 5, 7, 9}, 1)).input("axes", i64_tensor({1}));
  runtime_axes.expect_reference_fallback();
  OpTest noop(OpKind::ReduceSum);
  noop.input("x", random_tensor({2, 5}, 1)).attr("noop_with_empty_axes", int64_t{1});
  noop.expect_reference_fallback();
}

}  // namespace
}  // namespace iskra
