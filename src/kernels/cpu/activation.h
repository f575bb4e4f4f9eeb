// Activations that fast kernels apply in their epilogue (fused into the
// producing Conv/Gemm/MatMul/Add), and the elementwise kernels of the same ops.
#pragma once

#include <cstddef>
#include <cstdint>

namespace iskra::cpu {

enum class ActivationKind : uint8_t {
  kNone,
  kRelu,         // max(x, 0)
  kClip,         // min(max(x, alpha), beta)  (Relu6 = Clip 0..6)
  kLeakyRelu,    // x >= 0 ? x : alpha * x
  kSigmoid,      // 1 / (1 + exp(-x))
  kHardSigmoid,  // max(0, min(1, alpha * x + beta))
  kHardSwish,    // x * max(0, min(1, x / 6 + 0.5))
  kTanh,
  kSilu,         // x * sigmoid(x)  (Swish)
};

struct Activation {
  ActivationKind kind = ActivationKind::kNone;
  float alpha = 0.0f;
  float beta = 0.0f;

  bool is_none() const { return kind == ActivationKind::kNone; }
};

const char* activation_name(ActivationKind kind);

// The scalar definition: the oracle of the vector version.
float activation_reference(const Activation& act, float x);

// Applies `act` in place to n contiguous floats (SIMD, runtime dispatch).
void apply_activation(const Activation& act, float* data, size_t n);

}  // namespace iskra::cpu
