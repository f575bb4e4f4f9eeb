// Reference kernels and shape functions: vision and signal ops.
//
// Real-valued math runs in double: inputs are widened, results are rounded
// once to the output dtype (integer outputs are truncated toward zero after
// saturation, as a float-to-int cast in the ONNX reference does).
#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <numbers>
#include <string>
#include <type_traits>
#include <vector>

#include "base/checked_math.h"
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

namespace {

constexpr double kPi = std::numbers::pi;

// ---------------------------------------------------------------------------
// Shared helpers.

std::vector<double> read_doubles(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.element_count()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = tensor_double_at(t, static_cast<int64_t>(i));
  return out;
}


Status write_doubles(KernelContext& ctx, Tensor& out, const std::vector<double>& values) {
  return ISKRA_DISPATCH_ALL(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T* dst = out.data<T>();
    for (size_t i = 0; i < values.size(); ++i) dst[i] = ref::saturate_from_double<T>(values[i]);
    return Status::ok();
  }, ctx.unsupported_error("output dtype ", dtype_name(out.dtype())));
}

// A scalar (or one-element) integer input known at inference time.
Result<int64_t> scalar_value(const InferContext& ctx, size_t i, const char* what) {
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> values, ctx.value_ints(i));
  if (values.size() != 1) return ctx.error(what, " must be a scalar, got ", ctx.input(i).describe());
  return values[0];
}

// The output dtype attribute of generator ops (windows, MelWeightMatrix).
Result<DType> output_datatype(const InferContext& ctx) {
  const int64_t code = ctx.node().attr_int("output_datatype", 1);
  const DType dtype = static_cast<DType>(code);
  if (code <= 0 || code > 16 || !dtype_is_supported(dtype) || dtype == DType::kString || dtype == DType::kBool)
    return ctx.unsupported_error("output_datatype ", code);
  return dtype;
}

Status require_inputs(const InferContext& ctx, size_t count) {
  for (size_t i = 0; i < count; ++i)
    if (!ctx.has_input(i)) return ctx.error("needs ", count, " inputs, input ", i, " is missing");
  return Status::ok();
}

Status require_float(const InferContext& ctx, size_t i) {
  if (!dtype_is_float(ctx.dtype(i))) return ctx.unsupported_error("input ", i, " dtype ", dtype_name(ctx.dtype(i)));
  return Status::ok();
}

// Keeps a coordinate finite and small enough to convert to an integer index.
double sanitize_coordinate(double v) {
  constexpr double kFar = 1e9;
  if (std::isnan(v)) return -kFar;
  return std::clamp(v, -kFar, kFar);
}

}  // namespace

// ---------------------------------------------------------------------------
// Window functions: w[n] = sum_k a_k cos(2 pi k n / N), N = size (periodic)
// or size - 1 (symmetric).

namespace {

Status infer_window(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, 1));
  ISKRA_ASSIGN_OR_RETURN(int64_t size, scalar_value(ctx, 0, "size"));
  if (size < 0) return ctx.error("size must be >= 0, got ", size);
  ISKRA_ASSIGN_OR_RETURN(DType dtype, output_datatype(ctx));
  ctx.set_output(0, dtype, {size});
  return Status::ok();
}

Status run_window(KernelContext& ctx, std::initializer_list<double> coefficients) {
  const int64_t size = ctx.output(0).element_count();
  const int64_t denominator = ctx.node.attr_int("periodic", 1) != 0 ? size : size - 1;
  std::vector<double> w(static_cast<size_t>(size), 1.0);  // a 1-point symmetric window is 1
  if (denominator > 0) {
    for (int64_t n = 0; n < size; ++n) {
      double v = 0;
      int k = 0;
      for (double a : coefficients) v += a * std::cos(2.0 * kPi * k++ * static_cast<double>(n) / denominator);
      w[static_cast<size_t>(n)] = v;
    }
  }
  return write_doubles(ctx, ctx.output(0), w);
}

}  // namespace

// Hann: 0.5 - 0.5 cos(2 pi n / N).
Status infer_hann_window(InferContext& ctx) { return infer_window(ctx); }
Status run_hann_window(KernelContext& ctx) { return run_window(ctx, {0.5, -0.5}); }
// Hamming: 25/46 - 21/46 cos(2 pi n / N).
Status infer_hamming_window(InferContext& ctx) { return infer_window(ctx); }
Status run_hamming_window(KernelContext& ctx) { return run_window(ctx, {25.0 / 46.0, -21.0 / 46.0}); }
// Blackman: 0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N).
Status infer_blackman_window(InferContext& ctx) { return infer_window(ctx); }
Status run_blackman_window(KernelContext& ctx) { return run_window(ctx, {0.42, -0.5, 0.08}); }

// ---------------------------------------------------------------------------
// MelWeightMatrix: triangular mel filter banks, [dft_length/2 + 1, num_mel_bins].
// The band edges follow the ONNX reference: mel edges in float32, spaced by
// (high - low) / (num_mel_bins + 2), mapped to bins floor((dft_length + 1) * f / sample_rate).

Status infer_mel_weight_matrix(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, 5));
  ISKRA_ASSIGN_OR_RETURN(int64_t mel_bins, scalar_value(ctx, 0, "num_mel_bins"));
  ISKRA_ASSIGN_OR_RETURN(int64_t dft_length, scalar_value(ctx, 1, "dft_length"));
  if (mel_bins <= 0 || dft_length <= 0)
    return ctx.error("num_mel_bins and dft_length must be positive, got ", mel_bins, " and ", dft_length);
  ISKRA_ASSIGN_OR_RETURN(DType dtype, output_datatype(ctx));
  ctx.set_output(0, dtype, {dft_length / 2 + 1, mel_bins});
  return Status::ok();
}

Status run_mel_weight_matrix(KernelContext& ctx) {
  const int64_t mel_bins = tensor_int_at(ctx.input(0), 0);
  const int64_t dft_length = tensor_int_at(ctx.input(1), 0);
  const int64_t sample_rate = tensor_int_at(ctx.input(2), 0);
  if (sample_rate <= 0) return ctx.error("sample_rate must be positive, got ", sample_rate);
  const int64_t spectrogram_bins = dft_length / 2 + 1;
  auto to_mel = [](double hz) { return static_cast<float>(2595.0f * std::log1p(static_cast<float>(hz) / 700.0f) / std::log(10.0f)); };
  const float low_mel = to_mel(tensor_double_at(ctx.input(3), 0));
  const float high_mel = to_mel(tensor_double_at(ctx.input(4), 0));
  const float mel_step = (high_mel - low_mel) / static_cast<float>(mel_bins + 2);
  std::vector<int64_t> edges(static_cast<size_t>(mel_bins + 2));
  for (int64_t i = 0; i < mel_bins + 2; ++i) {
    const double mel = static_cast<double>(i) * mel_step + low_mel;
    const double hz = 700.0 * std::expm1(mel / 2595.0 * std::log(10.0));
    edges[static_cast<size_t>(i)] = static_cast<int64_t>(std::floor(static_cast<double>(dft_length + 1) * hz / sample_rate));
  }
  for (int64_t e : edges)
    if (e < 0 || e >= spectrogram_bins)
      return ctx.error("a mel band edge falls at bin ", e, ", outside [0, ", spectrogram_bins,
                       "): check lower/upper_edge_hertz against sample_rate");
  std::vector<double> out(static_cast<size_t>(spectrogram_bins * mel_bins), 0.0);
  auto at = [&](int64_t bin, int64_t mel) -> double& { return out[static_cast<size_t>(bin * mel_bins + mel)]; };
  for (int64_t i = 0; i < mel_bins; ++i) {
    const int64_t left = edges[static_cast<size_t>(i)], center = edges[static_cast<size_t>(i) + 1],
                  right = edges[static_cast<size_t>(i) + 2];
    if (center == left) {
      at(center, i) = 1.0;
    } else {
      for (int64_t j = left; j <= center; ++j) at(j, i) = static_cast<double>(j - left) / static_cast<double>(center - left);
    }
    for (int64_t j = center; j < right; ++j) at(j, i) = static_cast<double>(right - j) / static_cast<double>(right - center);
  }
  return write_doubles(ctx, ctx.output(0), out);
}

// ---------------------------------------------------------------------------
// DFT and STFT: direct O(n^2) transforms on complex double.

namespace {

using Complex = std::complex<double>;

// out[k] = sum_{t < min(in.size(), length)} in[t] e^{-+2 pi i k t / length}, k < out_count;
// the inverse also divides by length.
std::vector<Complex> dft_1d(const std::vector<Complex>& in, int64_t length, int64_t out_count, bool inverse) {
  std::vector<Complex> out(static_cast<size_t>(out_count));
  const int64_t used = std::min<int64_t>(static_cast<int64_t>(in.size()), length);
  const double sign = inverse ? 1.0 : -1.0;
  for (int64_t k = 0; k < out_count; ++k) {
    Complex acc = 0;
    for (int64_t t = 0; t < used; ++t) {
      const double angle = sign * 2.0 * kPi * static_cast<double>((k * t) % length) / static_cast<double>(length);
      acc += in[static_cast<size_t>(t)] * Complex(std::cos(angle), std::sin(angle));
    }
    out[static_cast<size_t>(k)] = inverse ? acc / static_cast<double>(length) : acc;
  }
  return out;
}

// The real inverse of a one-sided spectrum (numpy irfft): the spectrum is
// extended by conjugate symmetry to `length` bins.
std::vector<Complex> irfft_1d(const std::vector<Complex>& half, int64_t length) {
  std::vector<Complex> full(static_cast<size_t>(length));
  auto bin = [&](int64_t k) { return k < static_cast<int64_t>(half.size()) ? half[static_cast<size_t>(k)] : Complex(0); };
  for (int64_t k = 0; k < length; ++k) full[static_cast<size_t>(k)] = k <= length / 2 ? bin(k) : std::conj(bin(length - k));
  full[0].imag(0);
  if (length % 2 == 0) full[static_cast<size_t>(length / 2)].imag(0);
  return dft_1d(full, length, length, true);
}

struct DftConfig {
  int axis = 0;
  int64_t length = 0;  // dft_length
  int64_t out_count = 0;
  int64_t out_components = 2;  // 1 for the real IRFFT output
  bool inverse = false, onesided = false;
};

Result<DftConfig> dft_config(const InferContext& ctx) {
  const Shape& x = ctx.shape(0);
  const int rank = static_cast<int>(x.size());
  if (rank < 2 || (x.back() != 1 && x.back() != 2))
    return ctx.error("input must be [..., 1] (real) or [..., 2] (complex), got ", ctx.input(0).describe());
  DftConfig cfg;
  cfg.inverse = ctx.node().attr_int("inverse", 0) != 0;
  cfg.onesided = ctx.node().attr_int("onesided", 0) != 0;
  int64_t axis = -2;
  if (ctx.has_input(2)) {
    ISKRA_ASSIGN_OR_RETURN(axis, scalar_value(ctx, 2, "axis"));
  }
  const auto normalized = ref::normalize_axis(axis, rank);
  if (!normalized || *normalized == rank - 1) return ctx.error("axis ", axis, " is invalid for rank ", rank);
  cfg.axis = *normalized;
  const int64_t n = x[static_cast<size_t>(cfg.axis)];
  cfg.length = cfg.inverse && cfg.onesided ? 2 * (n - 1) : n;
  if (ctx.has_input(1)) {
    ISKRA_ASSIGN_OR_RETURN(cfg.length, scalar_value(ctx, 1, "dft_length"));
  }
  if (cfg.length <= 0) return ctx.error("dft_length must be positive, got ", cfg.length);
  cfg.out_count = !cfg.inverse && cfg.onesided ? cfg.length / 2 + 1 : cfg.length;
  cfg.out_components = cfg.inverse && cfg.onesided ? 1 : 2;
  return cfg;
}

std::vector<Complex> read_complex(const std::vector<double>& data, int64_t offset, int64_t count, int64_t stride,
                                  int64_t components) {
  std::vector<Complex> out(static_cast<size_t>(count));
  for (int64_t t = 0; t < count; ++t) {
    const size_t at = static_cast<size_t>(offset + t * stride);
    out[static_cast<size_t>(t)] = Complex(data[at], components == 2 ? data[at + 1] : 0.0);
  }
  return out;
}

}  // namespace

// DFT (opset 20): axis and dft_length are inputs; onesided forward = RFFT,
// onesided inverse = IRFFT (real output).
Status infer_dft(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, 1));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ISKRA_ASSIGN_OR_RETURN(DftConfig cfg, dft_config(ctx));
  Shape out = ctx.shape(0);
  out[static_cast<size_t>(cfg.axis)] = cfg.out_count;
  out.back() = cfg.out_components;
  ctx.set_output(0, ctx.dtype(0), out);
  return Status::ok();
}

Status run_dft(KernelContext& ctx) {
  std::vector<TensorType> unused;
  InferContext ictx(ctx.node, ctx.inputs, unused);
  ISKRA_ASSIGN_OR_RETURN(DftConfig cfg, dft_config(ictx));
  const Shape& shape = ctx.input(0).shape();
  const std::vector<double> x = read_doubles(ctx.input(0));
  const int64_t components = shape.back(), n = shape[static_cast<size_t>(cfg.axis)];
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < cfg.axis; ++d) outer *= shape[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(cfg.axis) + 1; d + 1 < shape.size(); ++d) inner *= shape[d];
  std::vector<double> y(static_cast<size_t>(ctx.output(0).element_count()));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const std::vector<Complex> signal = read_complex(x, (o * n * inner + i) * components, n, inner * components, components);
      const std::vector<Complex> result = cfg.inverse && cfg.onesided ? irfft_1d(signal, cfg.length)
                                                                       : dft_1d(signal, cfg.length, cfg.out_count, cfg.inverse);
      for (int64_t k = 0; k < cfg.out_count; ++k) {
        const size_t at = static_cast<size_t>(((o * cfg.out_count + k) * inner + i) * cfg.out_components);
        y[at] = result[static_cast<size_t>(k)].real();
        if (cfg.out_components == 2) y[at + 1] = result[static_cast<size_t>(k)].imag();
      }
    }
  return write_doubles(ctx, ctx.output(0), y);
}

namespace {

struct StftConfig {
  int64_t batch = 0, signal_length = 0, components = 1;
  int64_t step = 0, frame_length = 0, frames = 0, bins = 0;
};

Result<StftConfig> stft_config(const InferContext& ctx) {
  const Shape& s = ctx.shape(0);
  if (s.size() != 3 || (s[2] != 1 && s[2] != 2))
    return ctx.error("signal must be [batch, length, 1 or 2], got ", ctx.input(0).describe());
  StftConfig cfg;
  cfg.batch = s[0];
  cfg.signal_length = s[1];
  cfg.components = s[2];
  ISKRA_ASSIGN_OR_RETURN(cfg.step, scalar_value(ctx, 1, "frame_step"));
  if (cfg.step <= 0) return ctx.error("frame_step must be positive, got ", cfg.step);
  cfg.frame_length = cfg.signal_length;
  if (ctx.has_input(2)) {
    if (ctx.rank(2) != 1 || ctx.dtype(2) != ctx.dtype(0))
      return ctx.error("window must be 1-D of the signal dtype, got ", ctx.input(2).describe());
    cfg.frame_length = ctx.shape(2)[0];
  }
  if (ctx.has_input(3)) {
    ISKRA_ASSIGN_OR_RETURN(cfg.frame_length, scalar_value(ctx, 3, "frame_length"));
    if (ctx.has_input(2) && ctx.shape(2)[0] != cfg.frame_length)
      return ctx.error("window length ", ctx.shape(2)[0], " differs from frame_length ", cfg.frame_length);
  }
  if (cfg.frame_length <= 0 || cfg.frame_length > cfg.signal_length)
    return ctx.error("frame_length ", cfg.frame_length, " must be in [1, signal length ", cfg.signal_length, "]");
  cfg.frames = (cfg.signal_length - cfg.frame_length) / cfg.step + 1;
  cfg.bins = ctx.node().attr_int("onesided", 1) != 0 ? cfg.frame_length / 2 + 1 : cfg.frame_length;
  return cfg;
}

}  // namespace

// STFT: DFTs of windowed frames, [batch, frames, bins, 2].
Status infer_stft(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, 2));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ISKRA_ASSIGN_OR_RETURN(StftConfig cfg, stft_config(ctx));
  ctx.set_output(0, ctx.dtype(0), {cfg.batch, cfg.frames, cfg.bins, 2});
  return Status::ok();
}

Status run_stft(KernelContext& ctx) {
  std::vector<TensorType> unused;
  InferContext ictx(ctx.node, ctx.inputs, unused);
  ISKRA_ASSIGN_OR_RETURN(StftConfig cfg, stft_config(ictx));
  const std::vector<double> x = read_doubles(ctx.input(0));
  const std::vector<double> window =
      ctx.has_input(2) ? read_doubles(ctx.input(2)) : std::vector<double>(static_cast<size_t>(cfg.frame_length), 1.0);
  std::vector<double> y(static_cast<size_t>(ctx.output(0).element_count()));
  for (int64_t b = 0; b < cfg.batch; ++b)
    for (int64_t f = 0; f < cfg.frames; ++f) {
      const int64_t start = (b * cfg.signal_length + f * cfg.step) * cfg.components;
      std::vector<Complex> frame = read_complex(x, start, cfg.frame_length, cfg.components, cfg.components);
      for (int64_t t = 0; t < cfg.frame_length; ++t) frame[static_cast<size_t>(t)] *= window[static_cast<size_t>(t)];
      const std::vector<Complex> spectrum = dft_1d(frame, cfg.frame_length, cfg.bins, false);
      for (int64_t k = 0; k < cfg.bins; ++k) {
        const size_t at = static_cast<size_t>(((b * cfg.frames + f) * cfg.bins + k) * 2);
        y[at] = spectrum[static_cast<size_t>(k)].real();
        y[at + 1] = spectrum[static_cast<size_t>(k)].imag();
      }
    }
  return write_doubles(ctx, ctx.output(0), y);
}

// ---------------------------------------------------------------------------
// AffineGrid: grid[n, (d,) h, w] = theta[n] @ (x_w, y_h, (z_d,) 1), with base
// coordinates spanning [-1, 1] (pixel centers or pixel edges: align_corners).

Status infer_affine_grid(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, 2));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> size, ctx.value_ints(1));
  if (size.size() != 4 && size.size() != 5)
    return ctx.error("size must have 4 (2-D) or 5 (3-D) elements, got ", size.size());
  const int64_t dims = static_cast<int64_t>(size.size()) - 2;
  const Shape& theta = ctx.shape(0);
  if (theta != Shape{size[0], dims, dims + 1})
    return ctx.error("theta must be [", size[0], ", ", dims, ", ", dims + 1, "], got ", ctx.input(0).describe());
  Shape out{size[0]};
  for (size_t d = 2; d < size.size(); ++d) {
    if (size[d] < 0) return ctx.error("size has a negative dimension");
    out.push_back(size[d]);
  }
  out.push_back(dims);
  ctx.set_output(0, ctx.dtype(0), out);
  return Status::ok();
}

Status run_affine_grid(KernelContext& ctx) {
  const Shape& out_shape = ctx.output(0).shape();
  const int64_t dims = out_shape.back();
  const Shape spatial(out_shape.begin() + 1, out_shape.end() - 1);  // (D,) H, W
  const bool align = ctx.node.attr_int("align_corners", 0) != 0;
  auto base = [&](int64_t i, int64_t size) {
    return align ? (size > 1 ? -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(size - 1) : -1.0)
                 : -1.0 + (2.0 * static_cast<double>(i) + 1.0) / static_cast<double>(size);
  };
  const std::vector<double> theta = read_doubles(ctx.input(0));
  const int64_t points = shape_element_count(spatial);
  const std::vector<int64_t> strides = ref::strides_of(spatial);
  std::vector<double> grid(static_cast<size_t>(ctx.output(0).element_count()));
  for (int64_t n = 0; n < out_shape[0]; ++n)
    for (int64_t p = 0; p < points; ++p) {
      // Homogeneous point (x, y, (z,) 1): x runs along the last spatial dim.
      std::vector<double> point(static_cast<size_t>(dims) + 1, 1.0);
      for (int64_t k = 0; k < dims; ++k) {
        const size_t d = static_cast<size_t>(dims - 1 - k);
        point[static_cast<size_t>(k)] = base((p / strides[d]) % spatial[d], spatial[d]);
      }
      for (int64_t r = 0; r < dims; ++r) {
        double v = 0;
        for (int64_t c = 0; c <= dims; ++c)
          v += theta[static_cast<size_t>((n * dims + r) * (dims + 1) + c)] * point[static_cast<size_t>(c)];
        grid[static_cast<size_t>((n * points + p) * dims + r)] = v;
      }
    }
  return write_doubles(ctx, ctx.output(0), grid);
}

// ---------------------------------------------------------------------------
// CenterCropPad: per listed axis, a centered crop (start rounded down) or a
// centered zero pad (the odd pixel goes to the end).

namespace {

Result<std::vector<int>> center_crop_axes(const InferContext& ctx, size_t count) {
  const int rank = ctx.rank(0);
  std::vector<int> axes;
  if (!ctx.node().has_attr("axes")) {
    for (int a = 0; a < rank; ++a) axes.push_back(a);
  } else {
    for (int64_t a : ctx.node().attr_ints("axes", {})) {
      const auto axis = ref::normalize_axis(a, rank);
      if (!axis) return ctx.error("axis ", a, " out of range for rank ", rank);
      axes.push_back(*axis);
    }
  }
  if (axes.size() != count) return ctx.error("shape has ", count, " elements for ", axes.size(), " axes");
  return axes;
}

}  // namespace

Status infer_center_crop_pad(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, 2));
  if (ctx.dtype(0) == DType::kString) return ctx.unsupported_error("string tensors");
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ctx.value_ints(1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int> axes, center_crop_axes(ctx, sizes.size()));
  Shape out = ctx.shape(0);
  for (size_t i = 0; i < axes.size(); ++i) {
    if (sizes[i] < 0) return ctx.error("shape has a negative size ", sizes[i]);
    out[static_cast<size_t>(axes[i])] = sizes[i];
  }
  ctx.set_output(0, ctx.dtype(0), out);
  return Status::ok();
}

Status run_center_crop_pad(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  const size_t rank = x.shape().size();
  // Input index = output index + offset, per dim.
  std::vector<int64_t> offset(rank, 0);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t in = x.dim(static_cast<int>(d)), out = y.dim(static_cast<int>(d));
    offset[d] = in >= out ? (in - out) / 2 : -((out - in) / 2);
  }
  const size_t elem = dtype_size(x.dtype());
  const std::vector<int64_t> in_strides = ref::strides_of(x.shape()), out_strides = ref::strides_of(y.shape());
  const auto* src = static_cast<const std::byte*>(x.raw_data());
  auto* dst = static_cast<std::byte*>(y.raw_data());
  const int64_t count = y.element_count();
  for (int64_t i = 0; i < count; ++i) {
    int64_t in_offset = 0;
    bool inside = true;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t pos = (i / out_strides[d]) % y.shape()[d] + offset[d];
      inside = inside && pos >= 0 && pos < x.shape()[d];
      in_offset += pos * in_strides[d];
    }
    if (inside) std::memcpy(dst + static_cast<size_t>(i) * elem, src + static_cast<size_t>(in_offset) * elem, elem);
    else std::memset(dst + static_cast<size_t>(i) * elem, 0, elem);
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------
// GridSample (N-D): samples X at the normalized grid locations with nearest,
// N-linear or N-cubic (Keys, a = -0.75) interpolation. padding_mode (zeros,
// border, reflection) maps each interpolation tap outside X, as PyTorch and
// onnxruntime do (the ONNX numpy reference also clamps the location itself,
// which differs only for cubic + border).

namespace {

enum class SampleMode { kNearest, kLinear, kCubic };
enum class PadMode { kZeros, kBorder, kReflection };

struct GridSampleConfig {
  SampleMode mode = SampleMode::kLinear;
  PadMode padding = PadMode::kZeros;
  bool align_corners = false;
};

Result<GridSampleConfig> grid_sample_config(const InferContext& ctx) {
  GridSampleConfig cfg;
  const std::string mode = ctx.node().attr_string("mode", "linear");
  if (mode == "nearest") cfg.mode = SampleMode::kNearest;
  else if (mode == "linear" || mode == "bilinear") cfg.mode = SampleMode::kLinear;
  else if (mode == "cubic" || mode == "bicubic") cfg.mode = SampleMode::kCubic;
  else return ctx.error("unknown mode '", mode, "'");
  const std::string padding = ctx.node().attr_string("padding_mode", "zeros");
  if (padding == "zeros") cfg.padding = PadMode::kZeros;
  else if (padding == "border") cfg.padding = PadMode::kBorder;
  else if (padding == "reflection") cfg.padding = PadMode::kReflection;
  else return ctx.error("unknown padding_mode '", padding, "'");
  cfg.align_corners = ctx.node().attr_int("align_corners", 0) != 0;
  return cfg;
}

// Reflects x into [lo, hi] as many times as needed.
double reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (range <= 0) return lo;
  if (x >= lo && x <= hi) return x;
  const double dx = x < lo ? lo - x : x - hi;
  const int64_t flips = static_cast<int64_t>(dx / range);
  const double r = dx - static_cast<double>(flips) * range;
  const bool even = flips % 2 == 0;
  if (x < lo) return even ? lo + r : hi - r;
  return even ? hi - r : lo + r;
}

// Keys cubic convolution weights for the taps at offsets -1, 0, 1, 2 from floor(x).
std::array<double, 4> cubic_weights(double t) {
  constexpr double a = -0.75;
  auto near = [](double s) { return ((a + 2) * s - (a + 3)) * s * s + 1; };         // |s| <= 1
  auto far = [](double s) { return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a; };   // 1 < |s| < 2
  return {far(t + 1), near(t), near(1 - t), far(2 - t)};
}

struct Taps {
  std::vector<int64_t> index;
  std::vector<double> weight;
};

}  // namespace

Status infer_grid_sample(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, 2));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 1));
  if (ctx.dtype(0) == DType::kString || ctx.dtype(0) == DType::kBool)
    return ctx.unsupported_error("X dtype ", dtype_name(ctx.dtype(0)));
  ISKRA_RETURN_IF_ERROR(grid_sample_config(ctx).status());
  const Shape& x = ctx.shape(0);
  const Shape& grid = ctx.shape(1);
  const int64_t dims = static_cast<int64_t>(x.size()) - 2;
  if (dims < 1 || grid.size() != x.size() || grid[0] != x[0] || grid.back() != dims)
    return ctx.error("X must be [N, C, D1..Dr] and grid [N, O1..Or, r], got ", ctx.input(0).describe(), " and ",
                     ctx.input(1).describe());
  Shape out{x[0], x[1]};
  out.insert(out.end(), grid.begin() + 1, grid.end() - 1);
  ctx.set_output(0, ctx.dtype(0), out);
  return Status::ok();
}

Status run_grid_sample(KernelContext& ctx) {
  std::vector<TensorType> unused;
  InferContext ictx(ctx.node, ctx.inputs, unused);
  ISKRA_ASSIGN_OR_RETURN(GridSampleConfig cfg, grid_sample_config(ictx));
  const Shape& x_shape = ctx.input(0).shape();
  const size_t dims = x_shape.size() - 2;
  const Shape in_size(x_shape.begin() + 2, x_shape.end());
  const int64_t batch = x_shape[0], channels = x_shape[1];
  const int64_t in_pixels = shape_element_count(in_size);
  const int64_t out_pixels = shape_element_count(ctx.output(0).shape()) / std::max<int64_t>(1, batch * channels);
  const std::vector<int64_t> in_strides = ref::strides_of(in_size);
  const std::vector<double> x = read_doubles(ctx.input(0));
  const std::vector<double> grid = read_doubles(ctx.input(1));
  std::vector<double> y(static_cast<size_t>(ctx.output(0).element_count()));

  for (int64_t n = 0; n < batch; ++n)
    for (int64_t p = 0; p < out_pixels; ++p) {
      // Per spatial dim: the taps (indices, weights) around the sample location.
      std::vector<Taps> taps(dims);
      for (size_t d = 0; d < dims; ++d) {
        const double size = static_cast<double>(in_size[d]);
        const double lo = cfg.align_corners ? 0.0 : -0.5, hi = cfg.align_corners ? size - 1 : size - 0.5;
        // The grid's last dim lists coordinates innermost first (x, y, z...).
        const double g = grid[static_cast<size_t>((n * out_pixels + p) * static_cast<int64_t>(dims) +
                                                  static_cast<int64_t>(dims - 1 - d))];
        double c = sanitize_coordinate(cfg.align_corners ? (g + 1) / 2 * (size - 1) : ((g + 1) * size - 1) / 2);
        if (cfg.mode == SampleMode::kNearest) c = std::nearbyint(c);
        const double base = std::floor(c);
        const int64_t i0 = static_cast<int64_t>(base);
        if (cfg.mode == SampleMode::kNearest) {
          taps[d] = {{static_cast<int64_t>(c)}, {1.0}};
        } else if (cfg.mode == SampleMode::kLinear) {
          taps[d] = {{i0, i0 + 1}, {1.0 - (c - base), c - base}};
        } else {
          const std::array<double, 4> w = cubic_weights(c - base);
          taps[d] = {{i0 - 1, i0, i0 + 1, i0 + 2}, {w[0], w[1], w[2], w[3]}};
        }
        // Map tap indices outside the input by padding_mode; -1 marks a zero.
        for (int64_t& i : taps[d].index) {
          if (i >= 0 && i < in_size[d]) continue;
          if (cfg.padding == PadMode::kZeros) i = -1;
          else if (cfg.padding == PadMode::kBorder) i = std::clamp<int64_t>(i, 0, in_size[d] - 1);
          else i = std::clamp<int64_t>(static_cast<int64_t>(reflect(static_cast<double>(i), lo, hi)), 0, in_size[d] - 1);
        }
      }
      // Weighted sum over every combination of taps.
      size_t combos = 1;
      for (const Taps& t : taps) combos *= t.index.size();
      std::vector<double> sums(static_cast<size_t>(channels), 0.0);
      for (size_t combo = 0; combo < combos; ++combo) {
        double weight = 1.0;
        int64_t offset = 0;
        bool zero = false;
        size_t rest = combo;
        for (size_t d = dims; d-- > 0;) {
          const size_t k = rest % taps[d].index.size();
          rest /= taps[d].index.size();
          weight *= taps[d].weight[k];
          zero = zero || taps[d].index[k] < 0;
          offset += taps[d].index[k] * in_strides[d];
        }
        if (zero) continue;
        for (int64_t c = 0; c < channels; ++c)
          sums[static_cast<size_t>(c)] += weight * x[static_cast<size_t>((n * channels + c) * in_pixels + offset)];
      }
      for (int64_t c = 0; c < channels; ++c)
        y[static_cast<size_t>((n * channels + c) * out_pixels + p)] = sums[static_cast<size_t>(c)];
    }
  return write_doubles(ctx, ctx.output(0), y);
}

// ---------------------------------------------------------------------------
// RoiAlign: average (or max) of bilinear samples on a regular grid inside each
// bin of each region (the onnxruntime algorithm, including its "max" of
// weighted corner values).

Status infer_roi_align(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, 3));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  if (ctx.rank(0) != 4) return ctx.error("X must be 4-D, got ", ctx.input(0).describe());
  if (ctx.dtype(1) != ctx.dtype(0) || ctx.rank(1) != 2 || ctx.shape(1)[1] != 4)
    return ctx.error("rois must be [num_rois, 4] of the X dtype, got ", ctx.input(1).describe());
  if (!dtype_is_integer(ctx.dtype(2)) || ctx.shape(2) != Shape{ctx.shape(1)[0]})
    return ctx.error("batch_indices must be integer [num_rois], got ", ctx.input(2).describe());
  const std::string mode = ctx.node().attr_string("mode", "avg");
  const std::string transform = ctx.node().attr_string("coordinate_transformation_mode", "half_pixel");
  if (mode != "avg" && mode != "max") return ctx.error("unknown mode '", mode, "'");
  if (transform != "half_pixel" && transform != "output_half_pixel")
    return ctx.error("unknown coordinate_transformation_mode '", transform, "'");
  const int64_t height = ctx.node().attr_int("output_height", 1), width = ctx.node().attr_int("output_width", 1);
  if (height <= 0 || width <= 0 || ctx.node().attr_int("sampling_ratio", 0) < 0)
    return ctx.error("output_height/width must be positive and sampling_ratio >= 0");
  ctx.set_output(0, ctx.dtype(0), {ctx.shape(1)[0], ctx.shape(0)[1], height, width});
  return Status::ok();
}

Status run_roi_align(KernelContext& ctx) {
  const Shape& xs = ctx.input(0).shape();
  const int64_t batch = xs[0], channels = xs[1], height = xs[2], width = xs[3];
  const int64_t rois = ctx.input(1).dim(0);
  const int64_t out_h = ctx.node.attr_int("output_height", 1), out_w = ctx.node.attr_int("output_width", 1);
  const int64_t sampling_ratio = ctx.node.attr_int("sampling_ratio", 0);
  const double scale = ctx.node.attr_float("spatial_scale", 1.0f);
  const bool max_mode = ctx.node.attr_string("mode", "avg") == "max";
  const bool half_pixel = ctx.node.attr_string("coordinate_transformation_mode", "half_pixel") == "half_pixel";
  const std::vector<double> x = read_doubles(ctx.input(0));
  const std::vector<double> boxes = read_doubles(ctx.input(1));
  std::vector<double> y(static_cast<size_t>(ctx.output(0).element_count()), 0.0);

  // One bilinear sample: up to four weighted corners (no corners when outside).
  struct Sample { std::array<int64_t, 4> pos{}; std::array<double, 4> w{}; };
  auto make_sample = [&](double sy, double sx) {
    Sample s;
    if (sy < -1.0 || sy > static_cast<double>(height) || sx < -1.0 || sx > static_cast<double>(width)) return s;
    sy = std::max(sy, 0.0);
    sx = std::max(sx, 0.0);
    int64_t y0 = static_cast<int64_t>(sy), x0 = static_cast<int64_t>(sx), y1 = y0 + 1, x1 = x0 + 1;
    if (y0 >= height - 1) { y0 = y1 = height - 1; sy = static_cast<double>(y0); }
    if (x0 >= width - 1) { x0 = x1 = width - 1; sx = static_cast<double>(x0); }
    const double ly = sy - static_cast<double>(y0), lx = sx - static_cast<double>(x0), hy = 1 - ly, hx = 1 - lx;
    s.pos = {y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1};
    s.w = {hy * hx, hy * lx, ly * hx, ly * lx};
    return s;
  };

  for (int64_t r = 0; r < rois; ++r) {
    const int64_t b = tensor_int_at(ctx.input(2), r);
    if (b < 0 || b >= batch) return ctx.error("batch_indices[", r, "] = ", b, " is outside [0, ", batch, ")");
    const double offset = half_pixel ? 0.5 : 0.0;
    const double* box = boxes.data() + r * 4;
    const double start_w = box[0] * scale - offset, start_h = box[1] * scale - offset;
    double roi_w = box[2] * scale - offset - start_w, roi_h = box[3] * scale - offset - start_h;
    if (!half_pixel) {
      roi_w = std::max(roi_w, 1.0);
      roi_h = std::max(roi_h, 1.0);
    }
    const double bin_h = roi_h / static_cast<double>(out_h), bin_w = roi_w / static_cast<double>(out_w);
    const int64_t grid_h = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(sanitize_coordinate(bin_h)));
    const int64_t grid_w = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(sanitize_coordinate(bin_w)));
    const double count = static_cast<double>(std::max<int64_t>(grid_h * grid_w, 1));
    for (int64_t ph = 0; ph < out_h; ++ph)
      for (int64_t pw = 0; pw < out_w; ++pw) {
        std::vector<Sample> samples;
        for (int64_t iy = 0; iy < grid_h; ++iy)
          for (int64_t ix = 0; ix < grid_w; ++ix)
            samples.push_back(make_sample(start_h + ph * bin_h + (iy + 0.5) * bin_h / static_cast<double>(grid_h),
                                          start_w + pw * bin_w + (ix + 0.5) * bin_w / static_cast<double>(grid_w)));
        for (int64_t c = 0; c < channels; ++c) {
          const double* plane = x.data() + (b * channels + c) * height * width;
          double acc = 0.0;
          bool first = true;
          for (const Sample& s : samples) {
            if (max_mode) {
              double v = s.w[0] * plane[s.pos[0]];
              for (size_t k = 1; k < 4; ++k) v = std::max(v, s.w[k] * plane[s.pos[k]]);
              acc = first ? v : std::max(acc, v);
              first = false;
            } else {
              for (size_t k = 0; k < 4; ++k) acc += s.w[k] * plane[s.pos[k]];
            }
          }
          y[static_cast<size_t>(((r * channels + c) * out_h + ph) * out_w + pw)] = max_mode ? acc : acc / count;
        }
      }
  }
  return write_doubles(ctx, ctx.output(0), y);
}

// ---------------------------------------------------------------------------
// NonMaxSuppression: per batch and class, greedily keeps the highest-scoring
// boxes whose IoU with every kept box is <= iou_threshold. The output size
// depends on the values, so inference runs the selection.

namespace {

using Selection = std::vector<std::array<int64_t, 3>>;

// Box corners (y_min, x_min, y_max, x_max) from either box format.
std::array<float, 4> box_corners(const float* b, bool center_point) {
  if (center_point) {
    const float hw = b[2] / 2, hh = b[3] / 2;
    return {b[1] - hh, b[0] - hw, b[1] + hh, b[0] + hw};
  }
  return {std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]), std::max(b[1], b[3])};
}

bool suppresses(const std::array<float, 4>& a, const std::array<float, 4>& b, float iou_threshold) {
  const float ix_min = std::max(a[1], b[1]), ix_max = std::min(a[3], b[3]);
  const float iy_min = std::max(a[0], b[0]), iy_max = std::min(a[2], b[2]);
  if (ix_max <= ix_min || iy_max <= iy_min) return false;
  const float intersection = (ix_max - ix_min) * (iy_max - iy_min);
  const float area_a = (a[3] - a[1]) * (a[2] - a[0]), area_b = (b[3] - b[1]) * (b[2] - b[0]);
  const float union_area = area_a + area_b - intersection;
  if (intersection <= 0 || area_a <= 0 || area_b <= 0 || union_area <= 0) return false;
  return intersection / union_area > iou_threshold;
}

// Validates shapes and runs the selection; `inputs` may hold nullptr for absent inputs.
Result<Selection> nms_select(const Node& node, std::span<const Tensor* const> inputs) {
  auto input = [&](size_t i) -> const Tensor* { return i < inputs.size() ? inputs[i] : nullptr; };
  const Tensor* boxes = input(0);
  const Tensor* scores = input(1);
  if (!boxes || !scores) return invalid_model(node.label(), "needs boxes and scores");
  if (boxes->dtype() != DType::kF32 || scores->dtype() != DType::kF32)
    return unsupported(node.label(), "boxes and scores must be f32");
  if (boxes->rank() != 3 || boxes->dim(2) != 4 || scores->rank() != 3 || scores->dim(0) != boxes->dim(0) ||
      scores->dim(2) != boxes->dim(1))
    return invalid_model(node.label(), "boxes must be [B, N, 4] and scores [B, C, N], got ", boxes->describe(), " and ",
                         scores->describe());
  for (size_t i = 0; i < 5; ++i)
    if (input(i) && !input(i)->has_data()) return needs_value(node.label(), "needs the value of input ", i);
  for (size_t i = 2; i < 5; ++i)
    if (input(i) && input(i)->element_count() > 1)
      return invalid_model(node.label(), "input ", i, " must be a scalar, got ", input(i)->describe());
  auto present = [&](size_t i) { return input(i) && input(i)->element_count() == 1; };
  const int64_t max_per_class = present(2) ? std::max<int64_t>(0, tensor_int_at(*input(2), 0)) : 0;
  const float iou_threshold = present(3) ? static_cast<float>(tensor_double_at(*input(3), 0)) : 0.0f;
  const bool has_score_threshold = present(4);
  const float score_threshold = has_score_threshold ? static_cast<float>(tensor_double_at(*input(4), 0)) : 0.0f;
  const bool center_point = node.attr_int("center_point_box", 0) != 0;

  const int64_t batches = boxes->dim(0), classes = scores->dim(1), count = boxes->dim(1);
  const float* box_data = boxes->data<float>();
  const float* score_data = scores->data<float>();
  Selection selected;
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t c = 0; c < classes; ++c) {
      const float* class_scores = score_data + (b * classes + c) * count;
      std::vector<int64_t> order;
      for (int64_t i = 0; i < count; ++i)
        if (!has_score_threshold || class_scores[i] > score_threshold) order.push_back(i);
      // Highest score first (NaN last); equal scores keep the lower index first.
      auto key = [&](int64_t i) {
        return std::isnan(class_scores[i]) ? -std::numeric_limits<float>::infinity() : class_scores[i];
      };
      std::stable_sort(order.begin(), order.end(), [&](int64_t l, int64_t r) { return key(l) > key(r); });
      std::vector<std::array<float, 4>> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_per_class) break;
        const std::array<float, 4> box = box_corners(box_data + (b * count + i) * 4, center_point);
        bool keep = true;
        for (const auto& other : kept) keep = keep && !suppresses(box, other, iou_threshold);
        if (!keep) continue;
        kept.push_back(box);
        selected.push_back({b, c, i});
      }
    }
  return selected;
}

}  // namespace

Status infer_non_max_suppression(InferContext& ctx) {
  const std::vector<const Tensor*> inputs = [&] {
    std::vector<const Tensor*> v(ctx.input_count(), nullptr);
    for (size_t i = 0; i < v.size(); ++i)
      if (ctx.has_input(i)) v[i] = &ctx.input(i);
    return v;
  }();
  ISKRA_ASSIGN_OR_RETURN(Selection selected, nms_select(ctx.node(), inputs));
  ctx.set_output(0, DType::kI64, {static_cast<int64_t>(selected.size()), 3});
  return Status::ok();
}

Status run_non_max_suppression(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(Selection selected, nms_select(ctx.node, ctx.inputs));
  if (static_cast<int64_t>(selected.size()) != ctx.output(0).dim(0))
    return internal_error(ctx.node.label(), "selection size changed between inference and run");
  int64_t* out = ctx.output(0).data<int64_t>();
  for (size_t i = 0; i < selected.size(); ++i) std::copy(selected[i].begin(), selected[i].end(), out + 3 * i);
  return Status::ok();
}

void register_vision_ops(OpTable& table) {
  table.add(OpKind::AffineGrid, infer_affine_grid, run_affine_grid);
  table.add(OpKind::BlackmanWindow, infer_blackman_window, run_blackman_window);
  table.add(OpKind::CenterCropPad, infer_center_crop_pad, run_center_crop_pad);
  table.add(OpKind::DFT, infer_dft, run_dft);
  table.add(OpKind::GridSample, infer_grid_sample, run_grid_sample);
  table.add(OpKind::HammingWindow, infer_hamming_window, run_hamming_window);
  table.add(OpKind::HannWindow, infer_hann_window, run_hann_window);
  table.add(OpKind::MelWeightMatrix, infer_mel_weight_matrix, run_mel_weight_matrix);
  table.add(OpKind::NonMaxSuppression, infer_non_max_suppression, run_non_max_suppression);
  table.add(OpKind::RoiAlign, infer_roi_align, run_roi_align);
  table.add(OpKind::STFT, infer_stft, run_stft);
}

}  // namespace iskra
