#include "kernels/cpu/activation.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/activation.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/cpu/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {

void ApplyActivation(const Activation& act, float* data, size_t n) { ActivationTransform(act, data, data, n); }

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
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

namespace {

// The reference kernels' definitions (src/kernels/ref/unary.cc): a NaN input
// gives NaN for every kind.
float clamp_keeping_nan(float x, float lo, float hi) {
  if (x < lo) x = lo;
  if (x > hi) x = hi;
  return x;
}

float sigmoid(float x) {  // stable for large |x|
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

}  // namespace

float activation_reference(const Activation& act, float x) {
  switch (act.kind) {
    case ActivationKind::kNone: return x;
    case ActivationKind::kRelu: return x < 0.0f ? 0.0f : x;
    case ActivationKind::kClip: return clamp_keeping_nan(x, act.alpha, act.beta);
    case ActivationKind::kLeakyRelu: return x < 0.0f ? act.alpha * x : x;
    case ActivationKind::kSigmoid: return sigmoid(x);
    case ActivationKind::kHardSigmoid: return clamp_keeping_nan(act.alpha * x + act.beta, 0.0f, 1.0f);
    case ActivationKind::kHardSwish: return x * clamp_keeping_nan(x / 6.0f + 0.5f, 0.0f, 1.0f);
    case ActivationKind::kTanh: return std::tanh(x);
    case ActivationKind::kSilu: return x * sigmoid(x);  // as the unfused Sigmoid then Mul
  }
  return x;
}

HWY_EXPORT(ApplyActivation);

void apply_activation(const Activation& act, float* data, size_t n) {
  if (act.is_none() || n == 0) return;
  HWY_DYNAMIC_DISPATCH(ApplyActivation)(act, data, n);
}

}  // namespace iskra::cpu
#endif  // HWY_ONCE
