// Per-target vector math shared by the activation, elementwise and
// normalization kernels: the functions of one vector (Exp, Sigmoid, Erf...),
// the activations, and the loop that maps such a function over an array.
//
// Include it after "hwy/foreach_target.h" and "hwy/highway.h", like any
// Highway -inl.h header; it defines code in iskra::cpu::HWY_NAMESPACE.
//
// Semantics follow the scalar reference kernels (src/kernels/ref/unary.cc),
// including NaN: every function returns NaN for a NaN input (comparisons are
// written so that NaN takes the "x" branch; Highway's Min/Max do not promise
// which operand they return for NaN).
//
// Measured accuracy against std:: over dense grids, on every x86 target
// (Unary.AccuracyAndSpecialValues in tests/kernels/test_elementwise.cc prints
// it): Exp, Sigmoid, Tanh, Erf, Softplus, Swish within 3e-7 relative (about
// 5 ulp; 2.5e-7 with FMA).

#if defined(ISKRA_KERNELS_CPU_VEC_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ISKRA_KERNELS_CPU_VEC_MATH_INL_H_
#undef ISKRA_KERNELS_CPU_VEC_MATH_INL_H_
#else
#define ISKRA_KERNELS_CPU_VEC_MATH_INL_H_
#endif

#include <cstddef>
#include <cstring>
#include <limits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/cpu/activation.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using FloatTag = hn::ScalableTag<float>;
inline constexpr float kInf = std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------------------
// Functions of one vector.

// c[0] x^(N-1) + c[1] x^(N-2) + ... + c[N-1], by Horner's rule.
template <class D, class V, size_t N>
HWY_INLINE V Polynomial(D d, V x, const float (&c)[N]) {
  V p = hn::Set(d, c[0]);
  for (size_t i = 1; i < N; ++i) p = hn::MulAdd(p, x, hn::Set(d, c[i]));
  return p;
}

// lo <= x <= hi, NaN stays NaN (the Clip reference: raise to lo, then cut to hi).
template <class D, class V>
HWY_INLINE V ClampKeepNaN(D, V x, V lo, V hi) {
  const V raised = hn::IfThenElse(hn::Lt(x, lo), lo, x);
  return hn::IfThenElse(hn::Gt(raised, hi), hi, raised);
}

// std::exp: Highway's Exp (1 ulp) is only valid up to x = 104 and gives 0 for
// NaN; clamping above the overflow point keeps +inf results exact.
template <class D, class V>
HWY_INLINE V StdExp(D d, V x) {
  const V y = hn::Exp(d, hn::Min(x, hn::Set(d, 89.0f)));  // exp(89) overflows to +inf
  return hn::IfThenElse(hn::IsNaN(x), x, y);
}

// exp(x) for x <= 0 (and NaN): the faster exp of Sigmoid and Softmax. Results
// below FLT_MIN (x < -87.34) are flushed to 0 instead of being subnormal.
// exp(r) on [-ln2/2, ln2/2] is 1 + r + r^2 q(r), q a least-squares fit near
// minimax; 2^n is added to the exponent bits. Within 2 ulp of std::exp.
template <class D, class V>
HWY_INLINE V ExpNonPositive(D d, V x) {
  const hn::RebindToUnsigned<D> du;
  const V lowest = hn::Set(d, -87.33654f);  // just above ln(FLT_MIN) = -126 ln2
  const V x_clamped = hn::Max(x, lowest);
  // t = round(x / ln2) in the low mantissa bits of a float near 1.5 * 2^23.
  const V magic = hn::Set(d, 12582912.0f);
  const V t = hn::MulAdd(x_clamped, hn::Set(d, 1.44269504088896341f), magic);
  const V n = hn::Sub(t, magic);
  V r = hn::NegMulAdd(n, hn::Set(d, 0.693359375f), x_clamped);  // x - n ln2 in two parts (Cody-Waite)
  r = hn::NegMulAdd(n, hn::Set(d, -2.12194440e-4f), r);
  static constexpr float kQ[] = {1.3815287966281176e-3f, 8.368718437850475e-3f, 4.1668374091386795e-2f,
                                 1.666652113199234e-1f, 4.999999403953552e-1f};
  const V q = Polynomial(d, r, kQ);
  const V one = hn::Set(d, 1.0f);
  const V p = hn::MulAdd(hn::MulAdd(q, r, one), r, one);
  const V y = hn::BitCast(d, hn::Add(hn::BitCast(du, p), hn::ShiftLeft<23>(hn::BitCast(du, t))));
  return hn::IfThenZeroElse(hn::Lt(x, lowest), hn::IfThenElse(hn::IsNaN(x), x, y));
}

// 1 / x for finite normal x: on x86, the hardware estimate and Newton steps
// (one after AVX-512's 14-bit estimate, two after SSE/AVX2's 12 bits; within
// 1 ulp), much faster than a division; elsewhere (NEON's estimate has 8 bits)
// a division.
template <class D, class V>
HWY_INLINE V Reciprocal(D d, V x) {
#if HWY_ARCH_X86
  const V one = hn::Set(d, 1.0f);
  V r = hn::ApproximateReciprocal(x);
  r = hn::MulAdd(r, hn::NegMulAdd(x, r, one), r);
#if HWY_TARGET > HWY_AVX3  // targets are numbered best first
  r = hn::MulAdd(r, hn::NegMulAdd(x, r, one), r);
#endif
  return r;
#else
  return hn::Div(hn::Set(d, 1.0f), x);
#endif
}

// 1 / (1 + exp(-x)), computed from exp(-|x|) so it never overflows and keeps
// its relative accuracy for large negative x.
template <class D, class V>
HWY_INLINE V Sigmoid(D d, V x) {
  const V e = ExpNonPositive(d, hn::Neg(hn::Abs(x)));
  const V r = Reciprocal(d, hn::Add(hn::Set(d, 1.0f), e));
  return hn::IfThenElse(hn::Lt(x, hn::Zero(d)), hn::Mul(e, r), r);
}

// tanh(x): for |x| < 0.55, x + x^3 P(x^2) (fitted, 1 ulp); above, with
// e = exp(-2|x|), sign(x) * (1 - 2e / (1 + e)), which no longer cancels.
template <class D, class V>
HWY_INLINE V FastTanh(D d, V x) {
  const V a = hn::Abs(x);
  const V t = hn::Mul(x, x);
  static constexpr float kP[] = {-6.6335066221654415e-3f, 2.1324368193745613e-2f, -5.391256511211395e-2f,
                                 1.3333137333393097e-1f, -3.333333134651184e-1f};
  const V p = Polynomial(d, t, kP);
  const V small = hn::MulAdd(hn::Mul(x, t), p, x);
  const V e = ExpNonPositive(d, hn::Mul(hn::Set(d, -2.0f), a));
  const V large = hn::NegMulAdd(hn::Add(e, e), Reciprocal(d, hn::Add(hn::Set(d, 1.0f), e)), hn::Set(d, 1.0f));
  return hn::IfThenElse(hn::Lt(a, hn::Set(d, 0.55f)), small, hn::CopySign(large, x));  // NaN: large, NaN
}

// erf(x): for |x| < 0.921875, x * P(x^2); above, 1 - exp(Q(|x|)) with Q
// fitted to log(erfc) up to 3.925, where erfc drops below half an ulp of 1.
// The polynomials are least-squares fits near minimax (3 ulp, 1.4 ulp).
template <class D, class V>
HWY_INLINE V Erf(D d, V x) {
  static constexpr float kP[] = {-6.013691890984774e-4f, 4.998070187866688e-3f, -2.677028998732567e-2f,
                                 1.1281929165124893e-1f, -3.761250674724579e-1f, 1.1283791065216064f};
  static constexpr float kQ[] = {1.6306712495861575e-6f,  -4.5893997594248503e-5f, 5.951148923486471e-4f,
                                 -4.750213585793972e-3f,  2.6390280574560165e-2f,  -1.1001832783222198e-1f,
                                 -6.318995952606201e-1f,  -1.1301857233047485f,    3.0722079100087285e-4f};
  const V small = hn::Mul(x, Polynomial(d, hn::Mul(x, x), kP));
  const V q = Polynomial(d, hn::Min(hn::Abs(x), hn::Set(d, 3.925f)), kQ);
  const V large = hn::CopySign(hn::Sub(hn::Set(d, 1.0f), ExpNonPositive(d, q)), x);
  return hn::IfThenElse(hn::Ge(hn::Abs(x), hn::Set(d, 0.921875f)), large, small);  // NaN: small, which is NaN
}

// log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)).
template <class D, class V>
HWY_INLINE V Softplus(D d, V x) {
  const V r = hn::Add(hn::ZeroIfNegative(x), hn::Log1p(d, ExpNonPositive(d, hn::Neg(hn::Abs(x)))));
  return hn::IfThenElse(hn::IsNaN(x), x, r);
}

// The activations, with the reference's definitions (activation.cc).
template <class D, class V>
HWY_INLINE V Relu(D d, V x) {
  return hn::IfThenZeroElse(hn::Lt(x, hn::Zero(d)), x);
}

template <class D, class V>
HWY_INLINE V LeakyRelu(D d, V x, float alpha) {
  return hn::IfThenElse(hn::Lt(x, hn::Zero(d)), hn::Mul(hn::Set(d, alpha), x), x);
}

template <class D, class V>
HWY_INLINE V HardSigmoid(D d, V x, float alpha, float beta) {
  return ClampKeepNaN(d, hn::MulAdd(hn::Set(d, alpha), x, hn::Set(d, beta)), hn::Zero(d), hn::Set(d, 1.0f));
}

template <class D, class V>
HWY_INLINE V HardSwish(D d, V x) {
  return hn::Mul(x, HardSigmoid(d, x, 1.0f / 6.0f, 0.5f));
}

// ---------------------------------------------------------------------------
// Loops.

// Operands of Map: an array read a vector at a time, or one value for all.
struct Array {
  const float* data;
  template <class D>
  HWY_INLINE hn::Vec<D> Load(D d, size_t i) const { return hn::LoadU(d, data + i); }
  // Lanes [0, count) from data + i, zeros after, without reading past them.
  template <class D>
  HWY_INLINE hn::Vec<D> LoadPartial(D d, size_t i, size_t count) const {
    HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)] = {};
    std::memcpy(buffer, data + i, count * sizeof(float));
    return hn::Load(d, buffer);
  }
};

struct Broadcast {
  float value;
  template <class D>
  HWY_INLINE hn::Vec<D> Load(D d, size_t) const { return hn::Set(d, value); }
  template <class D>
  HWY_INLINE hn::Vec<D> LoadPartial(D d, size_t, size_t) const { return hn::Set(d, value); }
};

// out[i] = fn(d, operands[i]...) for i < n, a vector at a time. `out` must
// not overlap the operands: when n is not a multiple of the vector, the last
// vector overlaps the previous one and recomputes a few outputs (the same
// values); arrays shorter than a vector go through a buffer. No load or store
// leaves [0, n).
template <class Fn, class... Operands>
HWY_INLINE void Map(float* HWY_RESTRICT out, size_t n, const Fn& fn, const Operands&... operands) {
  const FloatTag d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    const auto y0 = fn(d, operands.Load(d, i)...);
    const auto y1 = fn(d, operands.Load(d, i + lanes)...);
    hn::StoreU(y0, d, out + i);
    hn::StoreU(y1, d, out + i + lanes);
  }
  if (i + lanes <= n) {
    hn::StoreU(fn(d, operands.Load(d, i)...), d, out + i);
    i += lanes;
  }
  if (i == n) return;
  if (n >= lanes) {
    hn::StoreU(fn(d, operands.Load(d, n - lanes)...), d, out + n - lanes);
    return;
  }
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(fn(d, operands.LoadPartial(d, i, n - i)...), d, buffer);
  std::memcpy(out + i, buffer, (n - i) * sizeof(float));
}

// data[i] = fn(d, data[i]) for i < n. As Map, but the overlapping last vector
// keeps the lanes already done (applying fn twice would be wrong).
template <class Fn>
HWY_INLINE void MapInPlace(float* data, size_t n, const Fn& fn) {
  const FloatTag d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {  // two independent vectors per step
    const auto y0 = fn(d, hn::LoadU(d, data + i));
    const auto y1 = fn(d, hn::LoadU(d, data + i + lanes));
    hn::StoreU(y0, d, data + i);
    hn::StoreU(y1, d, data + i + lanes);
  }
  if (i + lanes <= n) {
    hn::StoreU(fn(d, hn::LoadU(d, data + i)), d, data + i);
    i += lanes;
  }
  if (i == n) return;
  if (n >= lanes) {
    const size_t last = n - lanes;
    const auto old = hn::LoadU(d, data + last);
    hn::StoreU(hn::IfThenElse(hn::FirstN(d, i - last), old, fn(d, old)), d, data + last);
    return;
  }
  const auto y = fn(d, Array{data}.LoadPartial(d, i, n - i));
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(y, d, buffer);
  std::memcpy(data + i, buffer, (n - i) * sizeof(float));
}

// out[i] = fn(d, in[i]); in == out is allowed.
template <class Fn>
HWY_INLINE void Transform(const float* in, float* out, size_t n, const Fn& fn) {
  if (in == out) MapInPlace(out, n, fn);
  else Map(out, n, fn, Array{in});
}

// out[i] = act(in[i]); in == out is allowed.
// The activation of one vector (a switch per call: for kernels that finish
// vectors one by one, such as transforms).
template <class D, class V>
HWY_INLINE V ActivateVector(const Activation& act, D d, V x) {
  switch (act.kind) {
    case ActivationKind::kNone: return x;
    case ActivationKind::kRelu: return Relu(d, x);
    case ActivationKind::kClip: return ClampKeepNaN(d, x, hn::Set(d, act.alpha), hn::Set(d, act.beta));
    case ActivationKind::kLeakyRelu: return LeakyRelu(d, x, act.alpha);
    case ActivationKind::kSigmoid: return Sigmoid(d, x);
    case ActivationKind::kHardSigmoid: return HardSigmoid(d, x, act.alpha, act.beta);
    case ActivationKind::kHardSwish: return HardSwish(d, x);
    case ActivationKind::kTanh: return FastTanh(d, x);
    case ActivationKind::kSilu: return hn::Mul(x, Sigmoid(d, x));
  }
  return x;
}

inline void ActivationTransform(const Activation& act, const float* in, float* out, size_t n) {
  const float alpha = act.alpha, beta = act.beta;
  switch (act.kind) {
    case ActivationKind::kNone:
      if (in != out) std::memcpy(out, in, n * sizeof(float));
      return;
    case ActivationKind::kRelu: return Transform(in, out, n, [](auto d, auto x) { return Relu(d, x); });
    case ActivationKind::kClip:
      return Transform(in, out, n, [=](auto d, auto x) { return ClampKeepNaN(d, x, hn::Set(d, alpha), hn::Set(d, beta)); });
    case ActivationKind::kLeakyRelu:
      return Transform(in, out, n, [=](auto d, auto x) { return LeakyRelu(d, x, alpha); });
    case ActivationKind::kSigmoid: return Transform(in, out, n, [](auto d, auto x) { return Sigmoid(d, x); });
    case ActivationKind::kHardSigmoid:
      return Transform(in, out, n, [=](auto d, auto x) { return HardSigmoid(d, x, alpha, beta); });
    case ActivationKind::kHardSwish: return Transform(in, out, n, [](auto d, auto x) { return HardSwish(d, x); });
    case ActivationKind::kTanh: return Transform(in, out, n, [](auto d, auto x) { return FastTanh(d, x); });
    case ActivationKind::kSilu:
      return Transform(in, out, n, [](auto d, auto x) { return hn::Mul(x, Sigmoid(d, x)); });
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#endif  // include guard
