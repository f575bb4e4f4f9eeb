// MatMul and Gemm fast kernels against the reference.
#include <gtest/gtest.h>

#include <cmath>

#include "op_test_util.h"

namespace iskra::testing {
namespace {

// fp32 sums of k products of values in [-1, 1) differ from the double
// reference by rounding that grows like sqrt(k) (blocked summation order).
float product_tolerance(int64_t k) { return 4e-6f * std::sqrt(static_cast<float>(k)); }

TEST(MatMul, ConstantWeightsAnyBatch) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1, 2048}, {2048, 1000}},     // classifier
      {{3, 17}, {17, 5}},            // odd sizes
      {{2, 40, 96}, {96, 33}},       // batch dims flattened into rows
      {{2, 3, 7, 16}, {16, 16}},
      {{17}, {17, 9}},               // 1-D A
      {{4, 17}, {17}},               // 1-D B
  };
  for (const auto& [a, b] : cases) {
    for (int threads : {1, 2}) {
      OpTest t(OpKind::MatMul);
      t.input("a", random_tensor(a, 1));
      t.constant("b", random_tensor(b, 2));
      t.expect_fast_matches_reference(product_tolerance(a.back()), threads);
    }
  }
}

TEST(MatMul, RuntimeOperandsWithBroadcastBatches) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{8, 40, 32}, {8, 32, 40}},      // attention scores
      {{2, 8, 15, 7}, {2, 8, 7, 15}},
      {{2, 1, 5, 6}, {1, 3, 6, 4}},    // both broadcast
      {{5, 6}, {3, 6, 4}},             // A without batch dims
  };
  for (const auto& [a, b] : cases) {
    OpTest t(OpKind::MatMul);
    t.input("a", random_tensor(a, 3));
    t.input("b", random_tensor(b, 4));
    t.expect_fast_matches_reference(1e-5f, 2);
  }
}

TEST(Gemm, TransposesAlphaBetaAndBiasShapes) {
  struct Case {
    bool trans_a, trans_b;
    float alpha, beta;
    Shape c;  // empty: no C
    bool c_constant;
  };
  const int64_t m = 5, k = 19, n = 23;
  const Case cases[] = {
      {false, true, 1.0f, 1.0f, {n}, true},        // torchvision Linear
      {false, false, 0.5f, 2.0f, {1, n}, true},
      {true, false, 1.0f, 1.0f, {}, true},
      {true, true, 1.5f, -1.0f, {m, 1}, true},
      {false, true, 1.0f, 3.0f, {1}, true},
      {false, false, 1.0f, 1.0f, {m, n}, false},   // residual C
  };
  for (const Case& c : cases) {
    OpTest t(OpKind::Gemm);
    t.input("a", random_tensor(c.trans_a ? Shape{k, m} : Shape{m, k}, 5));
    t.constant("b", random_tensor(c.trans_b ? Shape{n, k} : Shape{k, n}, 6));
    if (!c.c.empty()) {
      if (c.c_constant) t.constant("c", random_tensor(c.c, 7));
      else t.input("c", random_tensor(c.c, 7));
    }
    t.attr("transA", int64_t{c.trans_a});
    t.attr("transB", int64_t{c.trans_b});
    t.attr("alpha", c.alpha);
    t.attr("beta", c.beta);
    t.expect_fast_matches_reference(1e-5f);
  }
}

TEST(Gemm, DeclinesRuntimeWeights) {
  OpTest t(OpKind::Gemm);
  t.input("a", random_tensor({3, 4}, 1));
  t.input("b", random_tensor({4, 5}, 2));
  t.expect_reference_fallback();
}

}  // namespace
}  // namespace iskra::testing
