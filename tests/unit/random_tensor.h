// Seeded random float tensors for the unit tests.
#ifndef ISKRA_TESTS_UNIT_RANDOM_TENSOR_H_
#define ISKRA_TESTS_UNIT_RANDOM_TENSOR_H_

#include <cstdint>
#include <random>

#include "ir/tensor.h"

namespace iskra::test_util {

// A float32 tensor of `shape` with values uniform in [lo, hi), the same for the same seed.
inline Tensor random_f32(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::allocate(DType::kF32, shape).value();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

}  // namespace iskra::test_util

#endif  // ISKRA_TESTS_UNIT_RANDOM_TENSOR_H_
