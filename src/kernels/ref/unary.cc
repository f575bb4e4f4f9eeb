// Reference kernels and shape functions: unary ops.
//
// Elementwise math and activations are table-driven: each op is one line in
// kTableOps below, a generic lambda applied to every element in the
// op's compute type (float for f16/bf16, see compute_t), with the
// attributes of the op read once into ElementParams. Clip, PRelu, Cast,
// CastLike, Identity and Dropout have their own infer/run pairs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <random>
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/ref/common.h"
#include "kernels/ref/type_constraints.h"

namespace iskra {
namespace {

using ref::compute_t;
using ref::convert_element;

// Kernels pass named lambdas to the ISKRA_DISPATCH_* macros: a lambda written
// inline would have the macro split it at its commas.

using ref::accepts_type;
using ref::check_input_type;
using ref::Output;
using ref::TableOp;
using ref::Types;

// ---------------------------------------------------------------------------
// Table-driven elementwise ops.

// Attributes of the elementwise ops, read with each op's ONNX defaults.
struct ElementParams {
  float alpha = 0.0f;
  float beta = 0.0f;
  float gamma = 0.0f;
  float lambd = 0.0f;
  float bias = 0.0f;
  bool gelu_tanh = false;        // Gelu approximate == "tanh"
  bool detect_negative = true;   // IsInf
  bool detect_positive = true;   // IsInf
};

ElementParams read_params(const Node& node) {
  ElementParams p;
  switch (node.op) {
    case OpKind::Celu:
    case OpKind::Elu:
    case OpKind::Swish:
    case OpKind::ThresholdedRelu: p.alpha = node.attr_float("alpha", 1.0f); break;
    case OpKind::LeakyRelu: p.alpha = node.attr_float("alpha", 0.01f); break;
    case OpKind::HardSigmoid:
      p.alpha = node.attr_float("alpha", 0.2f);
      p.beta = node.attr_float("beta", 0.5f);
      break;
    case OpKind::Selu:
      p.alpha = node.attr_float("alpha", 1.67326319217681884765625f);
      p.gamma = node.attr_float("gamma", 1.05070102214813232421875f);
      break;
    case OpKind::Shrink:
      p.lambd = node.attr_float("lambd", 0.5f);
      p.bias = node.attr_float("bias", 0.0f);
      break;
    case OpKind::Gelu: p.gelu_tanh = node.attr_string("approximate", "none") == "tanh"; break;
    case OpKind::IsInf:
      p.detect_negative = node.attr_int("detect_negative", 1) != 0;
      p.detect_positive = node.attr_int("detect_positive", 1) != 0;
      break;
    default: break;
  }
  return p;
}

// Attribute checks beyond what read_params can express.
Status check_params(const InferContext& ctx) {
  const Node& node = ctx.node();
  if (node.op == OpKind::Gelu) {
    const std::string approximate = node.attr_string("approximate", "none");
    if (approximate != "none" && approximate != "tanh")
      return ctx.error("approximate must be 'none' or 'tanh', got '", approximate, "'");
  }
  if (node.op == OpKind::Celu && node.attr_float("alpha", 1.0f) == 0.0f) return ctx.error("alpha must be nonzero");
  return Status::ok();
}

// Output dtype of an elementwise op: the input's, or bool for predicates.
template <Types kTypes, Output kResult>
Status infer_elementwise(InferContext& ctx) {
  if (ctx.input_count() != 1) return ctx.error("expects 1 input, got ", ctx.input_count());
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 0, kTypes));
  ISKRA_RETURN_IF_ERROR(check_params(ctx));
  ctx.set_output(0, kResult == Output::kBool ? DType::kBool : ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

// y[i] = kFn(x[i], params), computed in compute_t<T>.
template <Types kTypes, Output kResult, auto kFn>
Status run_elementwise(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  const ElementParams params = read_params(ctx.node);
  auto run_typed = [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (accepts_type<kTypes, T>()) {
      using C = compute_t<T>;
      const T* in = x.data<T>();
      auto* out = y.data<ref::result_t<kResult, T>>();
      const int64_t n = x.element_count();
      for (int64_t i = 0; i < n; ++i) ref::store_result<kResult, T>(out[i], kFn(C(in[i]), params));
      return Status::ok();
    } else {
      return ctx.unsupported_error("dtype ", dtype_name(x.dtype()));
    }
  };
  return ISKRA_DISPATCH_ALL(x.dtype(), run_typed, ctx.unsupported_error("dtype ", dtype_name(x.dtype())));
}

template <Types kTypes, auto kFn, Output kResult = Output::kSame>
constexpr TableOp elementwise(OpKind op) {
  return {op, infer_elementwise<kTypes, kResult>, run_elementwise<kTypes, kResult, kFn>};
}

using P = const ElementParams&;


template <typename C>
C sigmoid(C x) {  // stable for large |x|
  if (x >= 0) return C(1) / (C(1) + std::exp(-x));
  const C e = std::exp(x);
  return e / (C(1) + e);
}

template <typename C>
C softplus(C x) {  // log(1 + exp(x)) without overflow
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// -x without signed overflow: integers wrap (-INT_MIN == INT_MIN, like numpy).
template <typename C>
C negate(C x) {
  if constexpr (std::is_integral_v<C>) return static_cast<C>(std::make_unsigned_t<C>(0) - std::make_unsigned_t<C>(x));
  else return -x;
}

template <typename C>
C abs_of(C x) {
  return x < C(0) ? negate(x) : x;
}

template <typename C>
C sign_of(C x) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(x)) return x;
  }
  return C((C(0) < x) - (x < C(0)));
}

// NaN-safe: a NaN is never infinite; integers never reach here.
template <typename C>
bool is_inf(C x, P p) {
  return std::isinf(x) && (x > 0 ? p.detect_positive : p.detect_negative);
}

template <typename C>
C gelu(C x, P p) {
  constexpr C kHalf = C(0.5);
  if (p.gelu_tanh) {
    constexpr C kSqrt2OverPi = std::numbers::sqrt2_v<C> * std::numbers::inv_sqrtpi_v<C>;
    return kHalf * x * (C(1) + std::tanh(kSqrt2OverPi * (x + C(0.044715) * x * x * x)));
  }
  return kHalf * x * (C(1) + std::erf(x / std::numbers::sqrt2_v<C>));
}

template <typename C>
C shrink(C x, P p) {  // integers compute in double, then truncate
  const double v = static_cast<double>(x);
  const double r = v < -p.lambd ? v + p.bias : v > p.lambd ? v - p.bias : 0.0;
  if constexpr (std::is_integral_v<C>) return ref::saturate_from_double<C>(r);
  else return static_cast<C>(r);
}

constexpr TableOp kTableOps[] = {
    // Math.
    elementwise<Types::kNumeric, [](auto x, P) { return abs_of(x); }>(OpKind::Abs),
    elementwise<Types::kFloat, [](auto x, P) { return std::acos(x); }>(OpKind::Acos),
    elementwise<Types::kFloat, [](auto x, P) { return std::acosh(x); }>(OpKind::Acosh),
    elementwise<Types::kFloat, [](auto x, P) { return std::asin(x); }>(OpKind::Asin),
    elementwise<Types::kFloat, [](auto x, P) { return std::asinh(x); }>(OpKind::Asinh),
    elementwise<Types::kFloat, [](auto x, P) { return std::atan(x); }>(OpKind::Atan),
    elementwise<Types::kFloat, [](auto x, P) { return std::atanh(x); }>(OpKind::Atanh),
    elementwise<Types::kFloat, [](auto x, P) { return std::ceil(x); }>(OpKind::Ceil),
    elementwise<Types::kFloat, [](auto x, P) { return std::cos(x); }>(OpKind::Cos),
    elementwise<Types::kFloat, [](auto x, P) { return std::cosh(x); }>(OpKind::Cosh),
    elementwise<Types::kFloat, [](auto x, P) { return std::erf(x); }>(OpKind::Erf),
    elementwise<Types::kFloat, [](auto x, P) { return std::exp(x); }>(OpKind::Exp),
    elementwise<Types::kFloat, [](auto x, P) { return std::floor(x); }>(OpKind::Floor),
    elementwise<Types::kFloat, [](auto x, P p) { return is_inf(x, p); }, Output::kBool>(OpKind::IsInf),
    elementwise<Types::kFloat, [](auto x, P) { return bool(std::isnan(x)); }, Output::kBool>(OpKind::IsNaN),
    elementwise<Types::kFloat, [](auto x, P) { return std::log(x); }>(OpKind::Log),
    elementwise<Types::kSigned, [](auto x, P) { return negate(x); }>(OpKind::Neg),
    elementwise<Types::kBool, [](auto x, P) { return !x; }>(OpKind::Not),
    elementwise<Types::kFloat, [](auto x, P) { return decltype(x)(1) / x; }>(OpKind::Reciprocal),
    // Round half to even: nearbyint under the default rounding mode.
    elementwise<Types::kFloat, [](auto x, P) { return std::nearbyint(x); }>(OpKind::Round),
    elementwise<Types::kNumeric, [](auto x, P) { return sign_of(x); }>(OpKind::Sign),
    elementwise<Types::kFloat, [](auto x, P) { return std::sin(x); }>(OpKind::Sin),
    elementwise<Types::kFloat, [](auto x, P) { return std::sinh(x); }>(OpKind::Sinh),
    elementwise<Types::kFloat, [](auto x, P) { return std::sqrt(x); }>(OpKind::Sqrt),
    elementwise<Types::kFloat, [](auto x, P) { return std::tan(x); }>(OpKind::Tan),
    elementwise<Types::kFloat, [](auto x, P) { return std::tanh(x); }>(OpKind::Tanh),
    elementwise<Types::kInteger, [](auto x, P) { return ~x; }>(OpKind::BitwiseNot),
    // Activations.
    // Celu: max(0, x) + min(0, alpha * (exp(x / alpha) - 1)), written so NaN propagates.
    elementwise<Types::kFloat, [](auto x, P p) {
      using C = decltype(x);
      const C a = C(p.alpha);
      return (x > 0) ? x : a * (std::exp(x / a) - C(1));
    }>(OpKind::Celu),
    elementwise<Types::kFloat, [](auto x, P p) {
      using C = decltype(x);
      return x < 0 ? C(p.alpha) * (std::exp(x) - C(1)) : x;
    }>(OpKind::Elu),
    elementwise<Types::kFloat, [](auto x, P p) { return gelu(x, p); }>(OpKind::Gelu),
    // HardSigmoid: max(0, min(1, alpha * x + beta)).
    elementwise<Types::kFloat, [](auto x, P p) {
      using C = decltype(x);
      return std::clamp(C(p.alpha) * x + C(p.beta), C(0), C(1));
    }>(OpKind::HardSigmoid),
    // HardSwish: x * max(0, min(1, x / 6 + 1 / 2)).
    elementwise<Types::kFloat, [](auto x, P) {
      using C = decltype(x);
      return x * std::clamp(x / C(6) + C(0.5), C(0), C(1));
    }>(OpKind::HardSwish),
    elementwise<Types::kFloat, [](auto x, P p) { return x < 0 ? decltype(x)(p.alpha) * x : x; }>(OpKind::LeakyRelu),
    // Mish: x * tanh(softplus(x)).
    elementwise<Types::kFloat, [](auto x, P) { return x * std::tanh(softplus(x)); }>(OpKind::Mish),
    elementwise<Types::kSigned, [](auto x, P) { return x < 0 ? decltype(x)(0) : x; }>(OpKind::Relu),
    // Selu: gamma * (x > 0 ? x : alpha * (exp(x) - 1)).
    elementwise<Types::kFloat, [](auto x, P p) {
      using C = decltype(x);
      return C(p.gamma) * (x > 0 ? x : C(p.alpha) * (std::exp(x) - C(1)));
    }>(OpKind::Selu),
    // Shrink: x < -lambd ? x + bias : x > lambd ? x - bias : 0.
    elementwise<Types::kNumeric, [](auto x, P p) { return shrink(x, p); }>(OpKind::Shrink),
    elementwise<Types::kFloat, [](auto x, P) { return sigmoid(x); }>(OpKind::Sigmoid),
    elementwise<Types::kFloat, [](auto x, P) { return softplus(x); }>(OpKind::Softplus),
    elementwise<Types::kFloat, [](auto x, P) { return x / (decltype(x)(1) + std::fabs(x)); }>(OpKind::Softsign),
    // Swish: x * sigmoid(alpha * x).
    elementwise<Types::kFloat, [](auto x, P p) { return x * sigmoid(decltype(x)(p.alpha) * x); }>(OpKind::Swish),
    elementwise<Types::kFloat, [](auto x, P p) { return (x > p.alpha) ? x : decltype(x)(0); }>(OpKind::ThresholdedRelu),
};

// ---------------------------------------------------------------------------
// Clip(x, min?, max?): min(max(x, min), max); NaN stays NaN; min > max gives max.

Status check_scalar_bound(const InferContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return Status::ok();
  if (ctx.dtype(i) != ctx.dtype(0))
    return ctx.error("input ", i, " has dtype ", dtype_name(ctx.dtype(i)), ", expected ", dtype_name(ctx.dtype(0)));
  if (ctx.input(i).element_count() != 1)
    return ctx.error("input ", i, " must be a scalar, got shape ", shape_to_string(ctx.shape(i)));
  return Status::ok();
}

Status infer_clip(InferContext& ctx) {
  if (ctx.input_count() < 1 || ctx.input_count() > 3) return ctx.error("expects 1 to 3 inputs, got ", ctx.input_count());
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kNumeric));
  ISKRA_RETURN_IF_ERROR(check_scalar_bound(ctx, 1));
  ISKRA_RETURN_IF_ERROR(check_scalar_bound(ctx, 2));
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

Status run_clip(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  auto run_typed = [&](auto tag) -> Status {
    using T = decltype(tag);
    using C = compute_t<T>;
    const bool has_lo = ctx.has_input(1), has_hi = ctx.has_input(2);
    const C lo = has_lo ? C(ctx.input(1).data<T>()[0]) : C(0);
    const C hi = has_hi ? C(ctx.input(2).data<T>()[0]) : C(0);
    const T* in = x.data<T>();
    T* out = ctx.output(0).data<T>();
    for (int64_t i = 0; i < x.element_count(); ++i) {
      C v = C(in[i]);
      if (has_lo && v < lo) v = lo;
      if (has_hi && v > hi) v = hi;
      out[i] = convert_element<T>(v);
    }
    return Status::ok();
  };
  return ISKRA_DISPATCH_NUMERIC(x.dtype(), run_typed, ctx.unsupported_error("dtype ", dtype_name(x.dtype())));
}

// ---------------------------------------------------------------------------
// PRelu(x, slope): x < 0 ? slope * x : x, slope broadcast to x's shape.

Status infer_prelu(InferContext& ctx) {
  if (ctx.input_count() != 2) return ctx.error("expects 2 inputs, got ", ctx.input_count());
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kNumeric));
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 1, Types::kNumeric));
  if (ctx.dtype(1) != ctx.dtype(0))
    return ctx.error("slope dtype ", dtype_name(ctx.dtype(1)), " differs from x dtype ", dtype_name(ctx.dtype(0)));
  const auto shape = ref::broadcast_shapes(ctx.shape(0), ctx.shape(1));
  if (!shape || *shape != ctx.shape(0))
    return ctx.error("slope shape ", shape_to_string(ctx.shape(1)), " does not broadcast to x shape ",
                     shape_to_string(ctx.shape(0)));
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

Status run_prelu(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& slope = ctx.input(1);
  auto run_typed = [&](auto tag) -> Status {
    using T = decltype(tag);
    using C = compute_t<T>;
    const T* in = x.data<T>();
    const T* s = slope.data<T>();
    T* out = ctx.output(0).data<T>();
    ref::StridedIndexer<1> slope_index(x.shape(), {ref::broadcast_strides(slope.shape(), x.shape())});
    for (int64_t i = 0; i < x.element_count(); ++i, slope_index.next()) {
      const C v = C(in[i]);
      out[i] = v < 0 ? convert_element<T>(static_cast<C>(C(s[slope_index.offset(0)]) * v)) : in[i];
    }
    return Status::ok();
  };
  return ISKRA_DISPATCH_NUMERIC(x.dtype(), run_typed, ctx.unsupported_error("dtype ", dtype_name(x.dtype())));
}

// ---------------------------------------------------------------------------
// Cast / CastLike.

// Double to float rounding to odd (truncate, then set the last bit if
// inexact). A second rounding of that float to f16/bf16 then equals a single
// correct rounding of the double, which plain double->float->half is not.
float double_to_float_round_to_odd(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(d) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  return bits_to_float(float_to_bits(f) | 1u);
}

// One element to another type. Float to integer: saturate_from_double (truncate;
// NaN -> 0; saturate out of range, which ONNX leaves undefined). Integer to
// integer wraps (two's complement); anything to bool is `!= 0` (NaN is true).
template <typename To, typename From>
To cast_element(From v) {
  constexpr bool from_float = std::is_floating_point_v<compute_t<From>>;
  constexpr bool to_int = std::is_integral_v<To> && !std::is_same_v<To, bool>;
  if constexpr (from_float && to_int) {
    return ref::saturate_from_double<To>(static_cast<double>(v));
  } else if constexpr (std::is_same_v<From, double> && (std::is_same_v<To, Float16> || std::is_same_v<To, BFloat16>)) {
    return To(double_to_float_round_to_odd(v));
  } else {
    return convert_element<To>(v);
  }
}

// The low-precision types (see ir/dtype.h) are converted through their
// storage: a small-integer source reads as the 8-bit integer it is stored as,
// a small-float source is widened exactly to f32 first, and a low-precision
// target is written by cast_to_low_precision.

// One element to a low-precision type, as the byte that stores it. Small
// floats round to nearest even (saturate/round_mode: base/float8.h). Small
// integers wrap like any narrowing integer cast (17 -> 1 for int4); floats
// truncate first, and NaN, infinities and values beyond int64 give 0 (ONNX
// leaves them undefined; this is what ml_dtypes, used for the ONNX test
// data, gives on x86).
template <typename From>
uint8_t cast_to_low_precision(From v, DType to, const SmallFloatOptions& options) {
  using C = compute_t<From>;
  const double d = static_cast<double>(static_cast<C>(v));
  if (dtype_is_small_float(to)) return small_float_from_double(to, d, options);
  if constexpr (std::is_floating_point_v<C>) {
    const bool in_range = std::isfinite(d) && std::fabs(d) < 9.2e18;
    return static_cast<uint8_t>(small_int_wrap(to, in_range ? static_cast<int64_t>(d) : 0));
  } else {
    return static_cast<uint8_t>(small_int_wrap(to, static_cast<int64_t>(v)));
  }
}

// The input of a cast as a tensor of an arithmetic (dispatchable) dtype.
Result<Tensor> cast_source(const Tensor& x) {
  if (dtype_is_small_int(x.dtype()))  // a read-only view of the same bytes
    return Tensor::shared(small_int_storage(x.dtype()), x.shape(), const_cast<void*>(x.raw_data()), x.owner());
  if (!dtype_is_small_float(x.dtype())) return x;
  ISKRA_ASSIGN_OR_RETURN(Tensor wide, Tensor::allocate(DType::kF32, x.shape()));
  const uint8_t* in = x.data<uint8_t>();
  float* out = wide.data<float>();
  for (int64_t i = 0; i < x.element_count(); ++i) out[i] = small_float_to_float(x.dtype(), in[i]);
  return wide;
}

// Cast's `saturate` (float8 targets) and `round_mode` (float8e8m0 target).
Result<SmallFloatOptions> cast_options(const Node& node) {
  SmallFloatOptions options;
  options.saturate = node.attr_int("saturate", 1) != 0;
  const std::string mode = node.attr_string("round_mode", "up");
  if (mode == "up") options.e8m0_rounding = E8M0Rounding::kUp;
  else if (mode == "down") options.e8m0_rounding = E8M0Rounding::kDown;
  else if (mode == "nearest") options.e8m0_rounding = E8M0Rounding::kNearest;
  else return invalid_model(node.label(), "round_mode must be 'up', 'down' or 'nearest', got '", mode, "'");
  return options;
}

Status check_cast_target(const InferContext& ctx, DType to) {
  if (!dtype_is_supported(to) || to == DType::kString)
    return ctx.unsupported_error("cast to dtype code ", static_cast<int>(to), " is not supported");
  return cast_options(ctx.node()).status();
}

Status check_cast_source(const InferContext& ctx) {
  if (!ctx.has_input(0)) return ctx.error("missing input 0");
  if (!dtype_is_supported(ctx.dtype(0)) || ctx.dtype(0) == DType::kString)
    return ctx.unsupported_error("cast from dtype ", dtype_name(ctx.dtype(0)), " is not supported");
  return Status::ok();
}

// Cast(x; to, saturate, round_mode): the ONNX dtype code `to` equals our DType value.
Status infer_cast(InferContext& ctx) {
  if (ctx.input_count() != 1) return ctx.error("expects 1 input, got ", ctx.input_count());
  ISKRA_RETURN_IF_ERROR(check_cast_source(ctx));
  if (!ctx.node().has_attr("to")) return ctx.error("missing attribute 'to'");
  const int64_t to = ctx.node().attr_int("to", 0);
  if (to < 0 || to > std::numeric_limits<int32_t>::max()) return ctx.error("invalid 'to' dtype code ", to);
  ISKRA_RETURN_IF_ERROR(check_cast_target(ctx, static_cast<DType>(to)));
  ctx.set_output(0, static_cast<DType>(to), ctx.shape(0));
  return Status::ok();
}

// CastLike(x, like; saturate, round_mode): casts x to the dtype of `like`.
Status infer_castlike(InferContext& ctx) {
  if (ctx.input_count() != 2) return ctx.error("expects 2 inputs, got ", ctx.input_count());
  ISKRA_RETURN_IF_ERROR(check_cast_source(ctx));
  if (!ctx.has_input(1)) return ctx.error("missing input 1");
  ISKRA_RETURN_IF_ERROR(check_cast_target(ctx, ctx.dtype(1)));
  ctx.set_output(0, ctx.dtype(1), ctx.shape(0));
  return Status::ok();
}

// Shared by Cast and CastLike: the target dtype is the output's.
Status run_cast(KernelContext& ctx) {
  Tensor& y = ctx.output(0);
  ISKRA_ASSIGN_OR_RETURN(const Tensor x, cast_source(ctx.input(0)));
  const Status bad = ctx.unsupported_error("cast ", dtype_name(ctx.input(0).dtype()), " to ", dtype_name(y.dtype()));
  if (dtype_is_low_precision(y.dtype())) {
    ISKRA_ASSIGN_OR_RETURN(const SmallFloatOptions options, cast_options(ctx.node));
    uint8_t* out = y.data<uint8_t>();
    auto from_typed = [&](auto from_tag) -> Status {
      using From = decltype(from_tag);
      const From* in = x.data<From>();
      for (int64_t i = 0; i < x.element_count(); ++i) out[i] = cast_to_low_precision(in[i], y.dtype(), options);
      return Status::ok();
    };
    return ISKRA_DISPATCH_ALL(x.dtype(), from_typed, bad);
  }
  auto from_typed = [&](auto from_tag) -> Status {
    using From = decltype(from_tag);
    auto to_typed = [&](auto to_tag) -> Status {
      using To = decltype(to_tag);
      const From* in = x.data<From>();
      To* out = y.data<To>();
      for (int64_t i = 0; i < x.element_count(); ++i) out[i] = cast_element<To>(in[i]);
      return Status::ok();
    };
    return ISKRA_DISPATCH_ALL(y.dtype(), to_typed, bad);
  };
  return ISKRA_DISPATCH_ALL(x.dtype(), from_typed, bad);
}

// ---------------------------------------------------------------------------
// Identity and Dropout.

Status copy_tensor(const KernelContext& ctx, const Tensor& from, Tensor& to) {
  if (from.byte_size() != to.byte_size()) return ctx.error("internal: copy of mismatched tensors");
  if (from.byte_size() != 0 && from.raw_data() != to.raw_data())
    std::memcpy(to.raw_data(), from.raw_data(), from.byte_size());
  return Status::ok();
}

Status infer_identity(InferContext& ctx) {
  if (ctx.input_count() != 1) return ctx.error("expects 1 input, got ", ctx.input_count());
  if (!ctx.has_input(0)) return ctx.error("missing input 0");
  if (!dtype_is_supported(ctx.dtype(0)) || ctx.dtype(0) == DType::kString)
    return ctx.unsupported_error("dtype ", dtype_name(ctx.dtype(0)), " is not supported");
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

Status run_identity(KernelContext& ctx) { return copy_tensor(ctx, ctx.input(0), ctx.output(0)); }

// Dropout(data, ratio?, training_mode?) -> (output, mask?). Inference (the
// default): output = data, mask all true. Training with ratio r > 0: keep
// each element with probability 1 - r and scale it by 1 / (1 - r).
Status infer_dropout(InferContext& ctx) {
  if (ctx.input_count() < 1 || ctx.input_count() > 3) return ctx.error("expects 1 to 3 inputs, got ", ctx.input_count());
  ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 0, Types::kFloat));
  if (ctx.has_input(1)) {
    ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 1, Types::kFloat));
    if (ctx.input(1).element_count() != 1) return ctx.error("ratio must be a scalar");
  }
  if (ctx.has_input(2)) {
    ISKRA_RETURN_IF_ERROR(check_input_type(ctx, 2, Types::kBool));
    if (ctx.input(2).element_count() != 1) return ctx.error("training_mode must be a scalar");
  }
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  ctx.set_output(1, DType::kBool, ctx.shape(0));
  return Status::ok();
}

// numpy.random.RandomState(seed).uniform(0, 1) draws: MT19937 seeded as
// std::mt19937 is, two 32-bit outputs per 53-bit double. Matching numpy makes
// the ONNX training-mode tests reproducible.
double next_uniform(std::mt19937& gen) {
  const uint32_t a = static_cast<uint32_t>(gen()) >> 5, b = static_cast<uint32_t>(gen()) >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

Status run_dropout(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  bool* mask = ctx.outputs.size() > 1 ? ctx.output(1).data<bool>() : nullptr;
  const bool training = ctx.has_input(2) && ctx.input(2).data<bool>()[0];
  const double ratio = ctx.has_input(1) ? tensor_double_at(ctx.input(1), 0) : 0.5;
  if (!training || ratio == 0.0) {
    ISKRA_RETURN_IF_ERROR(copy_tensor(ctx, x, y));
    if (mask) std::fill_n(mask, x.element_count(), true);
    return Status::ok();
  }
  if (!(ratio > 0.0 && ratio < 1.0)) return ctx.error("ratio must be in [0, 1), got ", ratio);
  // Without a seed attribute ONNX draws a random one; we use 0 to stay deterministic.
  std::mt19937 gen(static_cast<uint32_t>(ctx.node.attr_int("seed", 0)));
  auto run_typed = [&](auto tag) -> Status {
    using T = decltype(tag);
    using C = compute_t<T>;
    const C scale = C(1) / (C(1) - static_cast<C>(ratio));
    const T* in = x.data<T>();
    T* out = y.data<T>();
    for (int64_t i = 0; i < x.element_count(); ++i) {
      const bool keep = next_uniform(gen) >= ratio;
      out[i] = convert_element<T>(static_cast<C>(C(keep) * C(in[i]) * scale));
      if (mask) mask[i] = keep;
    }
    return Status::ok();
  };
  return ISKRA_DISPATCH_FLOAT(x.dtype(), run_typed, ctx.unsupported_error("dtype ", dtype_name(x.dtype())));
}

}  // namespace

void register_unary_ops(OpTable& table) {
  for (const TableOp& op : kTableOps) table.add(op.op, op.infer, op.run);
  table.add(OpKind::Clip, infer_clip, run_clip);
  table.add(OpKind::PRelu, infer_prelu, run_prelu);
  table.add(OpKind::Cast, infer_cast, run_cast);
  table.add(OpKind::CastLike, infer_castlike, run_cast);
  table.add(OpKind::Identity, infer_identity, run_identity);
  table.add(OpKind::Dropout, infer_dropout, run_dropout);
}

}  // namespace iskra
