// Reference kernels and shape functions: linear quantization ops.
//
// Quantized values are u8, i8, u16, i16, the small integers u4, i4, u2, i2
// (and, for DequantizeLinear, i32), or the small floats f8e4m3fn, f8e4m3fnuz,
// f8e5m2, f8e5m2fnuz and f4e2m1. Integer results round half to even and
// saturate to the range of the output dtype; float results round to nearest
// even (saturating per the `saturate` attribute). Real values go through
// double so every integer input is exact.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "base/checked_math.h"
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

namespace {

bool is_quantized_dtype(DType t) {
  return t == DType::kU8 || t == DType::kI8 || t == DType::kU16 || t == DType::kI16 || dtype_is_small_int(t) ||
         (dtype_is_small_float(t) && t != DType::kF8E8M0);
}
bool is_real_dtype(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }
// Scales of QuantizeLinear/DequantizeLinear may also be MX powers of two.
bool is_scale_dtype(DType t) { return is_real_dtype(t) || t == DType::kF8E8M0; }

// Rounds a real value half to even and saturates it to [lo, hi]; NaN gives 0.
double round_and_clamp(double v, double lo, double hi) {
  return std::isnan(v) ? 0.0 : std::clamp(std::nearbyint(v), lo, hi);
}

// Rounds a real value half to even and saturates it to the range of T.
template <typename T>
T saturate_round(double v) {
  return static_cast<T>(round_and_clamp(v, static_cast<double>(std::numeric_limits<T>::lowest()),
                                        static_cast<double>(std::numeric_limits<T>::max())));
}

// Rounds v to the precision of a float dtype (as a computation in that dtype would).
double round_to_dtype(DType dtype, double v) {
  switch (dtype) {
    case DType::kF32: return static_cast<float>(v);
    case DType::kF16: return static_cast<float>(Float16(static_cast<float>(v)));
    case DType::kBF16: return static_cast<float>(BFloat16(static_cast<float>(v)));
    default: return v;
  }
}

// out[i] = saturate_round(value_at(i)) for every element of an integer tensor.
template <typename Fn>
Status store_quantized(Tensor& out, Fn&& value_at) {
  if (dtype_is_small_int(out.dtype())) {  // one byte per element, see ir/dtype.h
    const auto lo = static_cast<double>(small_int_min(out.dtype()));
    const auto hi = static_cast<double>(small_int_max(out.dtype()));
    uint8_t* y = out.data<uint8_t>();
    for (int64_t i = 0; i < out.element_count(); ++i)
      y[i] = static_cast<uint8_t>(static_cast<int64_t>(round_and_clamp(value_at(i), lo, hi)));
    return Status::ok();
  }
  return ISKRA_DISPATCH_NUMERIC(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      T* y = out.data<T>();
      const int64_t n = out.element_count();
      for (int64_t i = 0; i < n; ++i) y[i] = saturate_round<T>(value_at(i));
      return Status::ok();
    } else {
      return internal_error("store_quantized: non-integer output ", out.describe());
    }
  }, internal_error("store_quantized: output dtype ", dtype_name(out.dtype())));
}

// out[i] = value_at(i) converted to the float dtype of out.
template <typename Fn>
Status store_real(Tensor& out, Fn&& value_at) {
  return ISKRA_DISPATCH_FLOAT(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T* y = out.data<T>();
    const int64_t n = out.element_count();
    for (int64_t i = 0; i < n; ++i) y[i] = ref::convert_element<T>(value_at(i));
    return Status::ok();
  }, internal_error("store_real: output dtype ", dtype_name(out.dtype())));
}

// out[i] = value_at(i) rounded to the small float dtype of out.
template <typename Fn>
void store_small_float(Tensor& out, const SmallFloatOptions& options, Fn&& value_at) {
  uint8_t* y = out.data<uint8_t>();
  for (int64_t i = 0; i < out.element_count(); ++i) y[i] = small_float_from_double(out.dtype(), value_at(i), options);
}

double value_or(const Tensor* t, int64_t i, double fallback) { return t ? tensor_double_at(*t, i) : fallback; }

// ---------------------------------------------------------------------------
// Quantization granularity of QuantizeLinear/DequantizeLinear: which scale
// (and zero point) element applies to element i of x.
struct ScaleMap {
  enum class Mode { kTensor, kAxis, kBlocked } mode = Mode::kTensor;
  int64_t dim = 1;          // x.shape[axis]
  int64_t inner = 1;        // product of x dims after axis
  int64_t block = 1;        // block size (blocked)
  int64_t scale_dim = 1;    // scale.shape[axis] (blocked)

  int64_t offset(int64_t i) const {
    switch (mode) {
      case Mode::kTensor: return 0;
      case Mode::kAxis: return (i / inner) % dim;
      case Mode::kBlocked: {
        const int64_t outer = i / (inner * dim), a = (i / inner) % dim, in = i % inner;
        return (outer * scale_dim + a / block) * inner + in;
      }
    }
    return 0;
  }
};

// Validates scale (and zero point) shapes against x; `scale_in` and `zp_in`
// are the input positions of the scale and zero point.
Result<ScaleMap> make_scale_map(const InferContext& ctx, size_t scale_in, size_t zp_in) {
  const Shape& x = ctx.shape(0);
  const Shape& scale = ctx.shape(scale_in);
  // A scalar and a 1-element 1-D tensor are both per-tensor (ONNX's own test
  // data pairs a [] scale with a [1] zero point).
  auto per_tensor = [](const Shape& s) { return s.size() <= 1 && shape_element_count(s) == 1; };
  if (ctx.has_input(zp_in) && ctx.shape(zp_in) != scale && !(per_tensor(ctx.shape(zp_in)) && per_tensor(scale)))
    return ctx.error("zero point ", ctx.input(zp_in).describe(), " must have the shape of the scale ",
                     ctx.input(scale_in).describe());
  const int64_t block = ctx.node().attr_int("block_size", 0);
  if (block < 0) return ctx.error("block_size must be >= 0, got ", block);
  ScaleMap map;
  const int64_t scale_count = ctx.input(scale_in).element_count();
  if (scale.empty() || (scale_count == 1 && block == 0)) return map;  // per tensor
  const auto axis = ref::normalize_axis(ctx.node().attr_int("axis", 1), static_cast<int>(x.size()));
  if (!axis) return ctx.error("axis ", ctx.node().attr_int("axis", 1), " out of range for rank ", x.size());
  map.dim = x[static_cast<size_t>(*axis)];
  for (size_t d = static_cast<size_t>(*axis) + 1; d < x.size(); ++d) map.inner *= x[d];
  if (block == 0) {
    if (scale.size() != 1 || scale[0] != map.dim)
      return ctx.error("per-axis scale must be 1-D of length ", map.dim, ", got ", ctx.input(scale_in).describe());
    map.mode = ScaleMap::Mode::kAxis;
    return map;
  }
  map.mode = ScaleMap::Mode::kBlocked;
  map.block = block;
  map.scale_dim = (map.dim + block - 1) / block;
  Shape expected = x;
  expected[static_cast<size_t>(*axis)] = map.scale_dim;
  if (scale != expected)
    return ctx.error("blocked scale must have shape ", shape_to_string(expected), " for block_size ", block,
                     ", got ", ctx.input(scale_in).describe());
  return map;
}

// The ScaleMap again at run time (shapes were validated by infer).
ScaleMap scale_map_for_run(const KernelContext& ctx, size_t scale_in, size_t zp_in) {
  std::vector<TensorType> unused;
  InferContext ictx(ctx.node, ctx.inputs, unused);
  auto map = make_scale_map(ictx, scale_in, zp_in);
  return map ? map.value() : ScaleMap{};
}

}  // namespace

// QuantizeLinear: y = saturate(round_half_even(x / y_scale) + y_zero_point);
// for float outputs y = saturate(x / y_scale + y_zero_point) rounded to the
// output type (the zero point of float8/float4 is normally 0).
Status infer_quantize_linear(InferContext& ctx) {
  if (ctx.input_count() < 2 || !ctx.has_input(0) || !ctx.has_input(1)) return ctx.error("needs inputs x and y_scale");
  const DType x = ctx.dtype(0);
  if (!is_real_dtype(x) && x != DType::kI32) return ctx.unsupported_error("x dtype ", dtype_name(x));
  if (!is_scale_dtype(ctx.dtype(1)) && ctx.dtype(1) != DType::kI32)
    return ctx.unsupported_error("y_scale dtype ", dtype_name(ctx.dtype(1)));
  const int64_t attr_dtype = ctx.node().attr_int("output_dtype", 0);
  DType out = attr_dtype != 0 ? static_cast<DType>(attr_dtype) : DType::kU8;
  if (ctx.has_input(2)) {
    if (attr_dtype != 0 && out != ctx.dtype(2))
      return ctx.error("output_dtype ", attr_dtype, " differs from the zero point dtype ", dtype_name(ctx.dtype(2)));
    out = ctx.dtype(2);
  }
  if (!is_quantized_dtype(out)) return ctx.unsupported_error("quantizing to dtype code ", static_cast<int>(out));
  const int64_t precision = ctx.node().attr_int("precision", 0);
  if (precision != 0 && !is_real_dtype(static_cast<DType>(precision)) && static_cast<DType>(precision) != DType::kF64)
    return ctx.unsupported_error("precision ", precision);
  ISKRA_RETURN_IF_ERROR(make_scale_map(ctx, 1, 2).status());
  ctx.set_output(0, out, ctx.shape(0));
  return Status::ok();
}

Status run_quantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const ScaleMap map = scale_map_for_run(ctx, 1, 2);
  // The division runs in `precision`, else in the common type of x and y_scale.
  const int64_t precision = ctx.node.attr_int("precision", 0);
  const DType div_dtype = precision != 0 ? static_cast<DType>(precision)
                          : x.dtype() == scale.dtype() ? x.dtype()
                                                       : DType::kF32;
  auto quotient = [&](int64_t i, int64_t s) {
    const double xv = round_to_dtype(div_dtype, tensor_double_at(x, i));
    return round_to_dtype(div_dtype, xv / round_to_dtype(div_dtype, tensor_double_at(scale, s)));
  };
  Tensor& y = ctx.output(0);
  if (dtype_is_small_float(y.dtype())) {
    SmallFloatOptions options;
    options.saturate = ctx.node.attr_int("saturate", 1) != 0;
    store_small_float(y, options, [&](int64_t i) {
      const int64_t s = map.offset(i);
      return quotient(i, s) + value_or(zp, s, 0.0);
    });
    return Status::ok();
  }
  return store_quantized(y, [&](int64_t i) {
    const int64_t s = map.offset(i);
    return std::nearbyint(quotient(i, s)) + value_or(zp, s, 0.0);
  });
}

// DequantizeLinear: y = (x - x_zero_point) * x_scale, in the scale's dtype
// unless output_dtype says otherwise.
Status infer_dequantize_linear(InferContext& ctx) {
  if (ctx.input_count() < 2 || !ctx.has_input(0) || !ctx.has_input(1)) return ctx.error("needs inputs x and x_scale");
  const DType x = ctx.dtype(0);
  if (!is_quantized_dtype(x) && x != DType::kI32) return ctx.unsupported_error("x dtype ", dtype_name(x));
  if (!is_scale_dtype(ctx.dtype(1))) return ctx.unsupported_error("x_scale dtype ", dtype_name(ctx.dtype(1)));
  if (ctx.has_input(2) && ctx.dtype(2) != x)
    return ctx.error("x_zero_point dtype ", dtype_name(ctx.dtype(2)), " differs from x dtype ", dtype_name(x));
  const int64_t attr_dtype = ctx.node().attr_int("output_dtype", 0);
  const DType out = attr_dtype != 0 ? static_cast<DType>(attr_dtype) : ctx.dtype(1);
  if (!is_real_dtype(out)) {
    if (attr_dtype == 0) return ctx.error("output_dtype is required for an x_scale of dtype ", dtype_name(out));
    return ctx.unsupported_error("output_dtype ", attr_dtype);
  }
  ISKRA_RETURN_IF_ERROR(make_scale_map(ctx, 1, 2).status());
  ctx.set_output(0, out, ctx.shape(0));
  return Status::ok();
}

Status run_dequantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const ScaleMap map = scale_map_for_run(ctx, 1, 2);
  return store_real(ctx.output(0), [&](int64_t i) {
    const int64_t s = map.offset(i);
    return (tensor_double_at(x, i) - value_or(zp, s, 0.0)) * tensor_double_at(scale, s);
  });
}

// DynamicQuantizeLinear: u8 quantization with scale and zero point computed
// from the range of x (extended to include 0), all in float32 as the spec says.
Status infer_dynamic_quantize_linear(InferContext& ctx) {
  if (ctx.input_count() < 1 || !ctx.has_input(0)) return ctx.error("needs input x");
  ISKRA_RETURN_IF_ERROR(ctx.require_outputs(3));
  if (ctx.dtype(0) != DType::kF32) return ctx.unsupported_error("x dtype ", dtype_name(ctx.dtype(0)));
  ctx.set_output(0, DType::kU8, ctx.shape(0));
  ctx.set_output(1, DType::kF32, {});
  ctx.set_output(2, DType::kU8, {});
  return Status::ok();
}

Status run_dynamic_quantize_linear(KernelContext& ctx) {
  const std::span<const float> x = ctx.input(0).span<float>();
  float max_x = 0.0f, min_x = 0.0f;
  for (float v : x) {
    max_x = std::max(max_x, v);
    min_x = std::min(min_x, v);
  }
  const float scale = (max_x == min_x ? 1.0f : max_x - min_x) / 255.0f;
  const float zero_point = std::nearbyint(std::clamp(0.0f - min_x / scale, 0.0f, 255.0f));
  uint8_t* y = ctx.output(0).data<uint8_t>();
  for (size_t i = 0; i < x.size(); ++i) y[i] = saturate_round<uint8_t>(std::nearbyint(x[i] / scale) + zero_point);
  ctx.output(1).data<float>()[0] = scale;
  ctx.output(2).data<uint8_t>()[0] = static_cast<uint8_t>(zero_point);
  return Status::ok();
}

namespace {

// ---------------------------------------------------------------------------
// QLinearMatMul: y = saturate(round((a - a_zp) @ (b - b_zp) * a_scale * b_scale
// / y_scale) + y_zp), numpy matmul broadcasting. Scales/zero points are scalars,
// or 1-D per row (a, y) / per column (b).

// Input positions.
constexpr size_t kA = 0, kAScale = 1, kAZp = 2, kB = 3, kBScale = 4, kBZp = 5, kYScale = 6, kYZp = 7;

struct MatMulShape {
  Shape batch;  // broadcast batch dims
  int64_t m = 1, k = 1, n = 1;
  bool a_vector = false, b_vector = false;
};

Result<MatMulShape> matmul_shape(const InferContext& ctx, const Shape& a, const Shape& b) {
  if (a.empty() || b.empty()) return ctx.error("matmul inputs must have rank >= 1");
  MatMulShape s;
  s.a_vector = a.size() == 1;
  s.b_vector = b.size() == 1;
  s.m = s.a_vector ? 1 : a[a.size() - 2];
  s.k = a.back();
  const int64_t kb = s.b_vector ? b[0] : b[b.size() - 2];
  s.n = s.b_vector ? 1 : b.back();
  if (kb != s.k) return ctx.error("inner dimensions differ: ", shape_to_string(a), " x ", shape_to_string(b));
  const Shape a_batch(a.begin(), a.end() - (s.a_vector ? 1 : 2));
  const Shape b_batch(b.begin(), b.end() - (s.b_vector ? 1 : 2));
  auto batch = ref::broadcast_shapes(a_batch, b_batch);
  if (!batch) return ctx.error("cannot broadcast ", shape_to_string(a), " with ", shape_to_string(b));
  s.batch = *batch;
  return s;
}

Shape matmul_output_shape(const MatMulShape& s) {
  Shape out = s.batch;
  if (!s.a_vector) out.push_back(s.m);
  if (!s.b_vector) out.push_back(s.n);
  return out;
}

// A scale or zero point must be a scalar or a 1-D tensor of `per_length` elements.
Status check_quant_param(const InferContext& ctx, size_t i, int64_t per_length) {
  const int64_t count = ctx.input(i).element_count();
  if (count == 1 && ctx.rank(i) <= 1) return Status::ok();
  if (ctx.rank(i) == 1 && count == per_length) return Status::ok();
  return ctx.error("input ", i, " must be a scalar or have ", per_length, " elements, got ", ctx.input(i).describe());
}

}  // namespace

Status infer_qlinear_matmul(InferContext& ctx) {
  for (size_t i = 0; i <= kYZp; ++i)
    if (!ctx.has_input(i)) return ctx.error("needs 8 inputs, input ", i, " is missing");
  for (size_t i : {kA, kB, kYZp})
    if (ctx.dtype(i) != DType::kU8 && ctx.dtype(i) != DType::kI8)
      return ctx.unsupported_error("input ", i, " dtype ", dtype_name(ctx.dtype(i)));
  if (ctx.dtype(kAZp) != ctx.dtype(kA) || ctx.dtype(kBZp) != ctx.dtype(kB))
    return ctx.error("zero points must have the dtype of their inputs");
  for (size_t i : {kAScale, kBScale, kYScale})
    if (!is_real_dtype(ctx.dtype(i))) return ctx.unsupported_error("scale dtype ", dtype_name(ctx.dtype(i)));
  ISKRA_ASSIGN_OR_RETURN(MatMulShape s, matmul_shape(ctx, ctx.shape(kA), ctx.shape(kB)));
  ISKRA_RETURN_IF_ERROR(check_quant_param(ctx, kAScale, s.m));
  ISKRA_RETURN_IF_ERROR(check_quant_param(ctx, kAZp, s.m));
  ISKRA_RETURN_IF_ERROR(check_quant_param(ctx, kBScale, s.n));
  ISKRA_RETURN_IF_ERROR(check_quant_param(ctx, kBZp, s.n));
  ISKRA_RETURN_IF_ERROR(check_quant_param(ctx, kYScale, s.m));
  ISKRA_RETURN_IF_ERROR(check_quant_param(ctx, kYZp, s.m));
  ctx.set_output(0, ctx.dtype(kYZp), matmul_output_shape(s));
  return Status::ok();
}

namespace {

// Element i of a scalar-or-per-index parameter.
double param_at(const Tensor& t, int64_t i) { return tensor_double_at(t, t.element_count() == 1 ? 0 : i); }

}  // namespace

Status run_qlinear_matmul(KernelContext& ctx) {
  std::vector<TensorType> unused;
  InferContext ictx(ctx.node, ctx.inputs, unused);
  ISKRA_ASSIGN_OR_RETURN(MatMulShape s, matmul_shape(ictx, ctx.input(kA).shape(), ctx.input(kB).shape()));
  const Tensor& a = ctx.input(kA);
  const Tensor& b = ctx.input(kB);
  // Batch offsets of a and b through broadcasting (in matrices).
  auto batch_shape_of = [](const Shape& full, bool vector) { return Shape(full.begin(), full.end() - (vector ? 1 : 2)); };
  const std::vector<int64_t> a_strides = ref::broadcast_strides(batch_shape_of(a.shape(), s.a_vector), s.batch);
  const std::vector<int64_t> b_strides = ref::broadcast_strides(batch_shape_of(b.shape(), s.b_vector), s.batch);
  const int64_t batch_count = shape_element_count(s.batch);
  const DType scale_dtype = ctx.input(kAScale).dtype();
  std::vector<double> y(static_cast<size_t>(batch_count * s.m * s.n));
  ref::StridedIndexer<2> batch_it(s.batch, {a_strides, b_strides});
  for (int64_t bi = 0; bi < batch_count; ++bi, batch_it.next()) {
    const int64_t a_base = batch_it.offset(0) * s.m * s.k, b_base = batch_it.offset(1) * s.k * s.n;
    for (int64_t i = 0; i < s.m; ++i) {
      // The requantization multiplier, computed in the scales' dtype.
      for (int64_t j = 0; j < s.n; ++j) {
        int64_t acc = 0;
        for (int64_t p = 0; p < s.k; ++p) {
          const int64_t av = tensor_int_at(a, a_base + i * s.k + p) - static_cast<int64_t>(param_at(ctx.input(kAZp), i));
          const int64_t bv = tensor_int_at(b, b_base + p * s.n + j) - static_cast<int64_t>(param_at(ctx.input(kBZp), j));
          acc += av * bv;
        }
        const double multiplier = round_to_dtype(
            scale_dtype, round_to_dtype(scale_dtype, param_at(ctx.input(kAScale), i) * param_at(ctx.input(kBScale), j)) /
                             param_at(ctx.input(kYScale), i));
        y[static_cast<size_t>((bi * s.m + i) * s.n + j)] =
            static_cast<double>(acc) * multiplier + param_at(ctx.input(kYZp), i);
      }
    }
  }
  return store_quantized(ctx.output(0), [&](int64_t i) { return y[static_cast<size_t>(i)]; });
}

namespace {

// ---------------------------------------------------------------------------
// QLinearConv: an integer convolution of (x - x_zp) and (w - w_zp) plus the
// int32 bias, requantized with x_scale * w_scale / y_scale (w_scale and w_zp
// may be per output channel).

constexpr size_t kX = 0, kXScale = 1, kXZp = 2, kW = 3, kWScale = 4, kWZp = 5, kConvYScale = 6, kConvYZp = 7,
                 kBias = 8;

struct ConvGeometry {
  int64_t batch = 0, in_channels = 0, out_channels = 0, group = 1;
  Shape in_size, kernel, out_size;
  std::vector<int64_t> strides, dilations, pad_begin;
};

// The output geometry of a Conv with the ONNX attributes (auto_pad, pads,
// strides, dilations, group, kernel_shape).
Result<ConvGeometry> conv_geometry(const InferContext& ctx, const Shape& x, const Shape& w) {
  const Node& node = ctx.node();
  if (x.size() < 3 || w.size() != x.size())
    return ctx.error("x must be [N, C, spatial...] and w of the same rank, got ", shape_to_string(x), " and ",
                     shape_to_string(w));
  const size_t dims = x.size() - 2;
  ConvGeometry g;
  g.batch = x[0];
  g.in_channels = x[1];
  g.out_channels = w[0];
  g.group = node.attr_int("group", 1);
  if (g.group <= 0 || g.in_channels % g.group != 0 || g.out_channels % g.group != 0 ||
      w[1] != g.in_channels / g.group)
    return ctx.error("group ", g.group, " does not fit x ", shape_to_string(x), " and w ", shape_to_string(w));
  g.in_size.assign(x.begin() + 2, x.end());
  g.kernel.assign(w.begin() + 2, w.end());
  const std::vector<int64_t> kernel_attr = node.attr_ints("kernel_shape", {});
  if (!kernel_attr.empty() && kernel_attr != g.kernel)
    return ctx.error("kernel_shape does not match w ", shape_to_string(w));
  g.strides = node.attr_ints("strides", std::vector<int64_t>(dims, 1));
  g.dilations = node.attr_ints("dilations", std::vector<int64_t>(dims, 1));
  std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * dims, 0));
  if (g.strides.size() != dims || g.dilations.size() != dims || pads.size() != 2 * dims)
    return ctx.error("strides/dilations/pads do not match ", dims, " spatial dims");
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  g.pad_begin.assign(dims, 0);
  g.out_size.assign(dims, 0);
  for (size_t d = 0; d < dims; ++d) {
    if (g.strides[d] <= 0 || g.dilations[d] <= 0 || pads[d] < 0 || pads[d + dims] < 0 || g.kernel[d] <= 0)
      return ctx.error("strides, dilations and kernel must be positive and pads >= 0");
    const int64_t extent = (g.kernel[d] - 1) * g.dilations[d] + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.out_size[d] = (g.in_size[d] + g.strides[d] - 1) / g.strides[d];
      const int64_t total = std::max<int64_t>(0, (g.out_size[d] - 1) * g.strides[d] + extent - g.in_size[d]);
      g.pad_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      continue;
    }
    if (auto_pad == "VALID") pads[d] = pads[d + dims] = 0;
    else if (auto_pad != "NOTSET") return ctx.error("unknown auto_pad '", auto_pad, "'");
    g.pad_begin[d] = pads[d];
    const int64_t span = g.in_size[d] + pads[d] + pads[d + dims] - extent;
    if (span < 0) return ctx.error("kernel extent ", extent, " exceeds the padded input along spatial dim ", d);
    g.out_size[d] = span / g.strides[d] + 1;
  }
  return g;
}

}  // namespace

Status infer_qlinear_conv(InferContext& ctx) {
  for (size_t i = 0; i <= kConvYZp; ++i)
    if (!ctx.has_input(i)) return ctx.error("needs 8 inputs, input ", i, " is missing");
  for (size_t i : {kX, kW, kConvYZp})
    if (ctx.dtype(i) != DType::kU8 && ctx.dtype(i) != DType::kI8)
      return ctx.unsupported_error("input ", i, " dtype ", dtype_name(ctx.dtype(i)));
  if (ctx.dtype(kXZp) != ctx.dtype(kX) || ctx.dtype(kWZp) != ctx.dtype(kW))
    return ctx.error("zero points must have the dtype of their inputs");
  for (size_t i : {kXScale, kWScale, kConvYScale})
    if (ctx.dtype(i) != DType::kF32) return ctx.unsupported_error("scale dtype ", dtype_name(ctx.dtype(i)));
  ISKRA_ASSIGN_OR_RETURN(ConvGeometry g, conv_geometry(ctx, ctx.shape(kX), ctx.shape(kW)));
  for (size_t i : {kXScale, kXZp, kConvYScale, kConvYZp}) ISKRA_RETURN_IF_ERROR(check_quant_param(ctx, i, 1));
  ISKRA_RETURN_IF_ERROR(check_quant_param(ctx, kWScale, g.out_channels));
  ISKRA_RETURN_IF_ERROR(check_quant_param(ctx, kWZp, g.out_channels));
  if (ctx.has_input(kBias) && (ctx.dtype(kBias) != DType::kI32 || ctx.shape(kBias) != Shape{g.out_channels}))
    return ctx.error("B must be i32[", g.out_channels, "], got ", ctx.input(kBias).describe());
  Shape out{g.batch, g.out_channels};
  out.insert(out.end(), g.out_size.begin(), g.out_size.end());
  ctx.set_output(0, ctx.dtype(kConvYZp), out);
  return Status::ok();
}

namespace {

// Direct integer convolution: acc[n, m, out...] = sum (x - x_zp) * (w - w_zp[m]) + B[m].
std::vector<int64_t> integer_conv(const ConvGeometry& g, const Tensor& x, int64_t x_zp, const Tensor& w,
                                  const Tensor& w_zp, const Tensor* bias) {
  const size_t dims = g.in_size.size();
  const int64_t out_pixels = shape_element_count(g.out_size), kernel_pixels = shape_element_count(g.kernel);
  const int64_t in_pixels = shape_element_count(g.in_size);
  const int64_t group_in = g.in_channels / g.group, group_out = g.out_channels / g.group;
  const std::vector<int64_t> in_strides = ref::strides_of(g.in_size);
  const std::vector<int64_t> out_strides = ref::strides_of(g.out_size);
  const std::vector<int64_t> kernel_strides = ref::strides_of(g.kernel);
  std::vector<int64_t> acc(static_cast<size_t>(g.batch * g.out_channels * out_pixels), 0);
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t m = 0; m < g.out_channels; ++m) {
      const int64_t w_zero = static_cast<int64_t>(param_at(w_zp, m));
      const int64_t first_c = (m / group_out) * group_in;
      for (int64_t o = 0; o < out_pixels; ++o) {
        int64_t sum = bias ? tensor_int_at(*bias, m) : 0;
        for (int64_t c = 0; c < group_in; ++c)
          for (int64_t kp = 0; kp < kernel_pixels; ++kp) {
            int64_t in_offset = 0;
            bool inside = true;
            for (size_t d = 0; d < dims && inside; ++d) {
              const int64_t od = (o / out_strides[d]) % g.out_size[d], kd = (kp / kernel_strides[d]) % g.kernel[d];
              const int64_t pos = od * g.strides[d] - g.pad_begin[d] + kd * g.dilations[d];
              inside = pos >= 0 && pos < g.in_size[d];
              in_offset += pos * in_strides[d];
            }
            if (!inside) continue;  // padding holds x_zp, which contributes 0
            const int64_t xv = tensor_int_at(x, (n * g.in_channels + first_c + c) * in_pixels + in_offset) - x_zp;
            const int64_t wv = tensor_int_at(w, (m * group_in + c) * kernel_pixels + kp) - w_zero;
            sum += xv * wv;
          }
        acc[static_cast<size_t>((n * g.out_channels + m) * out_pixels + o)] = sum;
      }
    }
  return acc;
}

}  // namespace

Status run_qlinear_conv(KernelContext& ctx) {
  std::vector<TensorType> unused;
  InferContext ictx(ctx.node, ctx.inputs, unused);
  ISKRA_ASSIGN_OR_RETURN(ConvGeometry g, conv_geometry(ictx, ctx.input(kX).shape(), ctx.input(kW).shape()));
  const Tensor* bias = ctx.has_input(kBias) ? &ctx.input(kBias) : nullptr;
  const std::vector<int64_t> acc = integer_conv(g, ctx.input(kX), tensor_int_at(ctx.input(kXZp), 0), ctx.input(kW),
                                                ctx.input(kWZp), bias);
  const int64_t out_pixels = shape_element_count(g.out_size);
  const float x_scale = static_cast<float>(tensor_double_at(ctx.input(kXScale), 0));
  const float y_scale = static_cast<float>(tensor_double_at(ctx.input(kConvYScale), 0));
  const double y_zp = tensor_double_at(ctx.input(kConvYZp), 0);
  return store_quantized(ctx.output(0), [&](int64_t i) {
    const int64_t m = (i / out_pixels) % g.out_channels;
    const float multiplier = x_scale * static_cast<float>(param_at(ctx.input(kWScale), m)) / y_scale;
    return static_cast<double>(acc[static_cast<size_t>(i)]) * multiplier + y_zp;
  });
}

void register_quant_ops(OpTable& table) {
  table.add(OpKind::QuantizeLinear, infer_quantize_linear, run_quantize_linear);
  table.add(OpKind::DequantizeLinear, infer_dequantize_linear, run_dequantize_linear);
  table.add(OpKind::DynamicQuantizeLinear, infer_dynamic_quantize_linear, run_dynamic_quantize_linear);
  table.add(OpKind::QLinearMatMul, infer_qlinear_matmul, run_qlinear_matmul);
  table.add(OpKind::QLinearConv, infer_qlinear_conv, run_qlinear_conv);
}

}  // namespace iskra
