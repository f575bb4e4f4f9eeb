// Runs one op through the fast kernels and through the reference kernels and
// compares the outputs: the harness of every fast-kernel test.
//
//   OpTest t(OpKind::Conv);
//   t.input("x", random_tensor({1, 3, 17, 17}, seed));   // run-time input
//   t.constant("w", random_tensor({8, 3, 3, 3}, seed));  // weight, known at plan time
//   t.attr("pads", std::vector<int64_t>{1, 1, 1, 1});
//   t.expect_fast_matches_reference(/*tolerance=*/1e-5f, /*threads=*/2);
//
// The check fails when the fast path was not taken (a test of a fast kernel
// that silently ran the reference kernel would prove nothing); use
// expect_reference_fallback() for cases the fast kernel must decline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace iskra::testing {

// Values uniform in [lo, hi), reproducible from the seed.
Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

class OpTest {
 public:
  explicit OpTest(OpKind op, size_t output_count = 1);

  OpTest& input(const std::string& name, Tensor value);     // a graph input
  OpTest& constant(const std::string& name, Tensor value);  // an initializer
  OpTest& absent_input();                                   // an omitted optional input
  OpTest& attr(const std::string& key, AttrValue value);

  // Runs both ways; each float32 output must satisfy
  //   |fast - ref| <= tolerance * (1 + |ref|)  (elementwise),
  // each int8 / uint8 output |fast - ref| <= tolerance (quantization steps).
  // `threads` sizes the fast session's pool. Returns the max abs difference.
  float expect_fast_matches_reference(float tolerance, int threads = 1);
  // The fast table must decline this case (reference kernel runs).
  void expect_reference_fallback();

 private:
  Graph graph_;
  Node node_;
  std::vector<Tensor> run_inputs_;
};

}  // namespace iskra::testing
