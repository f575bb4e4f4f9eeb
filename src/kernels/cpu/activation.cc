#include "kernels/cpu/activation.h"

#include <algorithm>
#include <cmath>

namespace iskra::cpu {

const char* activation_name(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kNone: return "none";
    case ActivationKind::kRelu: return "Relu";
    case ActivationKind::kClip: return "Clip";
    case ActivationKind::kLeakyRelu: return "LeakyRelu";
    case ActivationKind::kSigmoid: return "Sigmoid";
    case ActivationKind::kHardSigmoid: return "HardSigmoid";
    case ActivationKind::kHardSwish: return "HardSwish";
    case ActivationKind::kTanh: return "Tanh";
    case ActivationKind::kSilu: return "Silu";
  }
  return "?";
}

float activation_reference(const Activation& act, float x) {
  switch (act.kind) {
    case ActivationKind::kNone: return x;
    case ActivationKind::kRelu: return std::max(x, 0.0f);
    case ActivationKind::kClip: return std::min(std::max(x, act.alpha), act.beta);
    case ActivationKind::kLeakyRelu: return x >= 0.0f ? x : act.alpha * x;
    case ActivationKind::kSigmoid: return 1.0f / (1.0f + std::exp(-x));
    case ActivationKind::kHardSigmoid: return std::max(0.0f, std::min(1.0f, act.alpha * x + act.beta));
    case ActivationKind::kHardSwish: return x * std::max(0.0f, std::min(1.0f, x / 6.0f + 0.5f));
    case ActivationKind::kTanh: return std::tanh(x);
    case ActivationKind::kSilu: return x / (1.0f + std::exp(-x));
  }
  return x;
}

// Scalar for now; the SIMD version replaces this body.
void apply_activation(const Activation& act, float* data, size_t n) {
  if (act.is_none()) return;
  for (size_t i = 0; i < n; ++i) data[i] = activation_reference(act, data[i]);
}

}  // namespace iskra::cpu
