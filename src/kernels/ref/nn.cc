// Reference kernels and shape functions: convolutions (Conv, ConvInteger,
// ConvTranspose, DeformConv, Col2Im), pooling (AveragePool, MaxPool, LpPool,
// their Global forms, MaxUnpool, MaxRoiPool) and Resize.
//
// Conv-like and pooling ops share one sliding-window model (SlidingWindow):
// window `o` of the "grid" covers the "image" positions
//     o * stride - pad_begin + k * dilation      for every kernel element k.
// For Conv and the pools the grid is the output and the image the input (they
// gather); for ConvTranspose and Col2Im the grid is the input and the image
// the output (they scatter). One function computes the output size of
// Conv/pool windows (explicit pads, auto_pad, ceil_mode) and one loop walks
// the windows (for_each_window).
//
// Values are computed in double and rounded once to the output type.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/checked_math.h"
#include "kernels/kernel.h"
#include "kernels/ref/common.h"
#include "kernels/window.h"

namespace iskra {

namespace {

using ref::compute_t;
using ref::convert_element;
using ref::strides_of;

template <typename... Args>
Status node_error(const Node& node, const Args&... args) {
  return invalid_model(node.label(), args...);
}

int64_t element_count(const Shape& shape) { return shape_element_count(shape); }

Shape batch_channel_shape(int64_t batch, int64_t channels, const Shape& spatial) {
  Shape out{batch, channels};
  out.insert(out.end(), spatial.begin(), spatial.end());
  return out;
}

// Calls f(index) for every multi-index of `shape` in row-major order (once for
// a rank-0 shape, never for an empty one).
template <typename F>
void for_each_index(const Shape& shape, F&& f) {
  for (int64_t d : shape)
    if (d <= 0) return;
  std::vector<int64_t> index(shape.size(), 0);
  for (;;) {
    f(static_cast<const std::vector<int64_t>&>(index));
    size_t d = shape.size();
    while (d > 0 && ++index[d - 1] == shape[d - 1]) index[--d] = 0;
    if (d == 0) return;
  }
}

// Row-major offset of `index` (any rank <= shape) with the given strides.
int64_t offset_of(std::span<const int64_t> index, std::span<const int64_t> strides) {
  int64_t offset = 0;
  for (size_t d = 0; d < index.size(); ++d) offset += index[d] * strides[d];
  return offset;
}

// Row-major multi-index of a flat offset into `shape`.
std::vector<int64_t> index_of(int64_t offset, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = offset % shape[d];
    offset /= shape[d];
  }
  return index;
}

// --- Element conversion -----------------------------------------------------

template <typename T>
constexpr bool kIsFloat =
    std::is_floating_point_v<T> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

// Results are computed in double and rounded once: integers half to even,
// saturated (as the ONNX reference's saturate_cast).
template <typename T>
T round_to(double v) {
  return ref::saturate_from_double<T, ref::IntRounding::kHalfToEven>(v);
}

template <typename T>
double to_double(T v) {
  return static_cast<double>(static_cast<compute_t<T>>(v));
}


// All elements of a numeric tensor as doubles.
std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.element_count()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = tensor_double_at(t, static_cast<int64_t>(i));
  return out;
}

// Writes computed values into a float tensor of the same element count.
Status store_doubles(const KernelContext& ctx, const std::vector<double>& values, Tensor& out) {
  return ISKRA_DISPATCH_FLOAT(
      out.dtype(),
      [&](auto tag) {
        using T = decltype(tag);
        T* data = out.data<T>();
        for (size_t i = 0; i < values.size(); ++i) data[i] = round_to<T>(values[i]);
        return Status::ok();
      },
      ctx.unsupported_error("output dtype ", dtype_name(out.dtype())));
}

// --- Shape-function helpers ---------------------------------------------------

Status require_inputs(const InferContext& ctx, std::initializer_list<size_t> required) {
  for (size_t i : required)
    if (!ctx.has_input(i)) return ctx.error("missing required input ", i);
  return Status::ok();
}

Status require_float(const InferContext& ctx, size_t i) {
  if (!dtype_is_float(ctx.dtype(i)))
    return ctx.unsupported_error("input ", i, " must be a float tensor, got ", dtype_name(ctx.dtype(i)));
  return Status::ok();
}

Status require_same_dtype(const InferContext& ctx, size_t i, size_t j) {
  if (ctx.dtype(i) != ctx.dtype(j))
    return ctx.error("input ", j, " has dtype ", dtype_name(ctx.dtype(j)), ", expected ",
                     dtype_name(ctx.dtype(i)), " as input ", i);
  return Status::ok();
}

Status set_checked_output(InferContext& ctx, size_t i, DType dtype, Shape shape) {
  ISKRA_RETURN_IF_ERROR(validate_shape(dtype, shape, "output").with_context(ctx.node().label()));
  ctx.set_output(i, dtype, std::move(shape));
  return Status::ok();
}

// --- Sliding windows ------------------------------------------------------------

// Kernel elements' coordinates, rank values per element, row-major.
std::vector<int64_t> kernel_coordinates(const std::vector<int64_t>& kernel) {
  std::vector<int64_t> coords;
  for_each_index(kernel,
                 [&](const std::vector<int64_t>& k) { coords.insert(coords.end(), k.begin(), k.end()); });
  return coords;
}

constexpr int64_t kPaddingTap = -1;  // the kernel element lies on the declared padding
constexpr int64_t kOutsideTap = -2;  // beyond it (the last windows of ceil_mode)

struct Tap {
  int64_t kernel_offset;  // flat index of the kernel element
  int64_t image_offset;   // flat index in the image, or kPaddingTap / kOutsideTap
};

// The shared window walk: calls f(grid_offset, taps) for every window, taps
// listing where each kernel element lands.
template <typename F>
void for_each_window(const SlidingWindow& w, F&& f) {
  const size_t rank = w.kernel.size();
  const std::vector<int64_t> coords = kernel_coordinates(w.kernel);
  const size_t kernel_size = rank == 0 ? 1 : coords.size() / rank;
  const std::vector<int64_t> image_strides = strides_of(w.image);
  std::vector<Tap> taps(kernel_size);
  int64_t grid_offset = 0;
  for_each_index(w.grid, [&](const std::vector<int64_t>& o) {
    for (size_t k = 0; k < kernel_size; ++k) {
      int64_t offset = 0;
      int place = 0;  // 0 inside, 1 padding, 2 outside
      for (size_t d = 0; d < rank; ++d) {
        const int64_t pos = o[d] * w.strides[d] - w.pad_begin[d] + coords[k * rank + d] * w.dilations[d];
        if (pos >= 0 && pos < w.image[d]) offset += pos * image_strides[d];
        else if (pos >= -w.pad_begin[d] && pos < w.image[d] + w.pad_end[d]) place = std::max(place, 1);
        else place = 2;
      }
      taps[k] = Tap{static_cast<int64_t>(k), place == 0 ? offset : place == 1 ? kPaddingTap : kOutsideTap};
    }
    f(grid_offset++, std::span<const Tap>(taps));
  });
}

// --- Convolution ---------------------------------------------------------------

// Direct grouped convolution on flat arrays:
//   y[n, m, o] = bias[m] + sum over c of m's group and kernel taps k of
//                x[n, c, o*stride - pad + k*dilation] * w[m, c, k]
template <typename Acc>
void direct_convolution(const ConvLayout& c, const std::vector<Acc>& x, const std::vector<Acc>& w,
                        const std::vector<Acc>& bias, std::vector<Acc>& y) {
  const int64_t cg = c.in_channels / c.group, mg = c.out_channels / c.group;
  const int64_t in_plane = element_count(c.window.image), out_plane = element_count(c.window.grid);
  const int64_t kernel_size = element_count(c.window.kernel);
  for_each_window(c.window, [&](int64_t o, std::span<const Tap> taps) {
    for (int64_t n = 0; n < c.batch; ++n) {
      for (int64_t m = 0; m < c.out_channels; ++m) {
        const int64_t g = m / mg;
        Acc acc = bias.empty() ? Acc{0} : bias[static_cast<size_t>(m)];
        for (int64_t ci = 0; ci < cg; ++ci) {
          const Acc* xp = x.data() + (n * c.in_channels + g * cg + ci) * in_plane;
          const Acc* wp = w.data() + (m * cg + ci) * kernel_size;
          for (const Tap& t : taps)
            if (t.image_offset >= 0) acc += xp[t.image_offset] * wp[t.kernel_offset];
        }
        y[static_cast<size_t>((n * c.out_channels + m) * out_plane + o)] = acc;
      }
    }
  });
}

Status check_bias(const InferContext& ctx, size_t i, int64_t channels) {
  if (!ctx.has_input(i)) return Status::ok();
  ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, 0, i));
  if (ctx.shape(i) != Shape{channels})
    return ctx.error("bias ", shape_to_string(ctx.shape(i)), " must have shape [", channels, "]");
  return Status::ok();
}

// Conv: N-D grouped convolution with optional bias.
Status infer_conv(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, {0, 1}));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 1));
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, conv_layout(ctx.node(), ctx.shape(0), ctx.shape(1)));
  ISKRA_RETURN_IF_ERROR(check_bias(ctx, 2, c.out_channels));
  return set_checked_output(ctx, 0, ctx.dtype(0), batch_channel_shape(c.batch, c.out_channels, c.window.grid));
}

Status run_conv(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, conv_layout(ctx.node, ctx.input(0).shape(), ctx.input(1).shape()));
  Tensor& y = ctx.output(0);
  std::vector<double> out(static_cast<size_t>(y.element_count()));
  direct_convolution<double>(c, to_doubles(ctx.input(0)), to_doubles(ctx.input(1)),
                             ctx.has_input(2) ? to_doubles(ctx.input(2)) : std::vector<double>{}, out);
  return store_doubles(ctx, out, y);
}

// ConvInteger: Conv of (x - x_zero_point) and (w - w_zero_point) on u8/i8, i32 output.
Status check_int8(const InferContext& ctx, size_t i) {
  if (ctx.dtype(i) != DType::kU8 && ctx.dtype(i) != DType::kI8)
    return ctx.unsupported_error("input ", i, " must be u8 or i8, got ", dtype_name(ctx.dtype(i)));
  return Status::ok();
}

Status infer_conv_integer(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, {0, 1}));
  ISKRA_RETURN_IF_ERROR(check_int8(ctx, 0));
  ISKRA_RETURN_IF_ERROR(check_int8(ctx, 1));
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, conv_layout(ctx.node(), ctx.shape(0), ctx.shape(1)));
  for (size_t i : {size_t{2}, size_t{3}}) {
    if (!ctx.has_input(i)) continue;
    ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, i - 2, i));
    const int64_t count = element_count(ctx.shape(i));
    const bool per_channel_ok = i == 3 && ctx.shape(i) == Shape{c.out_channels};
    if (count != 1 && !per_channel_ok)
      return ctx.error("zero point ", shape_to_string(ctx.shape(i)), " must be a scalar",
                       i == 3 ? " or have one value per output channel" : "");
  }
  return set_checked_output(ctx, 0, DType::kI32, batch_channel_shape(c.batch, c.out_channels, c.window.grid));
}

Status run_conv_integer(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, conv_layout(ctx.node, ctx.input(0).shape(), ctx.input(1).shape()));
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const int64_t x_zero = ctx.has_input(2) ? tensor_int_at(ctx.input(2), 0) : 0;
  std::vector<int64_t> xs(static_cast<size_t>(x.element_count())), ws(static_cast<size_t>(w.element_count()));
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = tensor_int_at(x, static_cast<int64_t>(i)) - x_zero;
  const int64_t per_m = c.out_channels == 0 ? 0 : w.element_count() / c.out_channels;
  for (size_t i = 0; i < ws.size(); ++i) {
    int64_t w_zero = 0;
    if (ctx.has_input(3)) {
      const Tensor& zp = ctx.input(3);
      w_zero = tensor_int_at(zp, zp.element_count() == 1 ? 0 : static_cast<int64_t>(i) / per_m);
    }
    ws[i] = tensor_int_at(w, static_cast<int64_t>(i)) - w_zero;
  }
  Tensor& y = ctx.output(0);
  std::vector<int64_t> out(static_cast<size_t>(y.element_count()));
  direct_convolution<int64_t>(c, xs, ws, {}, out);
  int32_t* yd = y.data<int32_t>();
  for (size_t i = 0; i < out.size(); ++i) yd[i] = static_cast<int32_t>(out[i]);  // wraps like i32 accumulation
  return Status::ok();
}

Status infer_conv_transpose(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, {0, 1}));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 1));
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, conv_transpose_layout(ctx.node(), ctx.shape(0), ctx.shape(1)));
  ISKRA_RETURN_IF_ERROR(check_bias(ctx, 2, c.out_channels));
  return set_checked_output(ctx, 0, ctx.dtype(0), batch_channel_shape(c.batch, c.out_channels, c.window.image));
}

Status run_conv_transpose(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, conv_transpose_layout(ctx.node, ctx.input(0).shape(), ctx.input(1).shape()));
  const std::vector<double> x = to_doubles(ctx.input(0)), w = to_doubles(ctx.input(1));
  const std::vector<double> bias = ctx.has_input(2) ? to_doubles(ctx.input(2)) : std::vector<double>{};
  const int64_t cg = c.in_channels / c.group, mg = c.out_channels / c.group;
  const int64_t in_plane = element_count(c.window.grid), out_plane = element_count(c.window.image);
  const int64_t kernel_size = element_count(c.window.kernel);
  Tensor& y = ctx.output(0);
  std::vector<double> out(static_cast<size_t>(y.element_count()), 0.0);
  if (!bias.empty())
    for (size_t i = 0; i < out.size(); ++i) out[i] = bias[(i / static_cast<size_t>(out_plane)) % bias.size()];
  // Each input element scatters x * w over the output window it maps to.
  for_each_window(c.window, [&](int64_t i, std::span<const Tap> taps) {
    for (int64_t n = 0; n < c.batch; ++n) {
      for (int64_t ci = 0; ci < c.in_channels; ++ci) {
        const int64_t g = ci / cg;
        const double xv = x[static_cast<size_t>((n * c.in_channels + ci) * in_plane + i)];
        for (int64_t m = 0; m < mg; ++m) {
          const double* wp = w.data() + (ci * mg + m) * kernel_size;
          double* yp = out.data() + (n * c.out_channels + g * mg + m) * out_plane;
          for (const Tap& t : taps)
            if (t.image_offset >= 0) yp[t.image_offset] += xv * wp[t.kernel_offset];
        }
      }
    }
  });
  return store_doubles(ctx, out, y);
}

// DeformConv: Conv whose kernel sampling points are shifted by learned
// offsets (N-linear interpolation, zero outside) and scaled by an optional
// mask. offset [N, offset_group*K*rank, out...] (per kernel element, then
// per axis), mask [N, offset_group*K, out...].
Result<ConvLayout> deform_conv_layout(const Node& node, const Shape& x, const Shape& w, const Shape& offset,
                                      const Shape* mask) {
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, conv_layout(node, x, w));
  const int64_t offset_group = node.attr_int("offset_group", 1);
  if (offset_group < 1 || c.in_channels % offset_group != 0)
    return node_error(node, "invalid offset_group ", offset_group, " for ", c.in_channels, " channels");
  if (c.window.kernel.size() > 8) return node_error(node, "DeformConv supports at most 8 spatial axes");
  const int64_t kernel_size = element_count(c.window.kernel);
  const int64_t rank = static_cast<int64_t>(c.window.kernel.size());
  if (offset != batch_channel_shape(c.batch, offset_group * kernel_size * rank, c.window.grid))
    return node_error(node, "offset ", shape_to_string(offset), " does not match offset_group ", offset_group,
                      ", kernel and output ", shape_to_string(c.window.grid));
  if (mask && *mask != batch_channel_shape(c.batch, offset_group * kernel_size, c.window.grid))
    return node_error(node, "mask ", shape_to_string(*mask), " does not match offset_group ", offset_group,
                      ", kernel and output ", shape_to_string(c.window.grid));
  return c;
}

// N-linear interpolation of `plane` at real coordinates `pos`; points outside read as zero.
double sample_linear(const double* plane, const Shape& image, const std::vector<int64_t>& strides,
                     const std::vector<double>& pos) {
  const size_t rank = pos.size();
  for (double p : pos)
    if (!std::isfinite(p) || std::fabs(p) > 1e15) return 0.0;
  double total = 0.0;
  for (uint32_t corner = 0; corner < (uint32_t{1} << rank); ++corner) {
    double weight = 1.0;
    int64_t offset = 0;
    bool inside = true;
    for (size_t d = 0; d < rank && inside; ++d) {
      const double base = std::floor(pos[d]);
      const bool upper = (corner >> d) & 1u;
      const int64_t i = static_cast<int64_t>(base) + (upper ? 1 : 0);
      weight *= upper ? pos[d] - base : 1.0 - (pos[d] - base);
      inside = i >= 0 && i < image[d];
      offset += i * strides[d];
    }
    if (inside) total += weight * plane[offset];
  }
  return total;
}

Status infer_deform_conv(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, {0, 1, 2}));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  for (size_t i : {size_t{1}, size_t{2}, size_t{4}})
    if (ctx.has_input(i)) ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, 0, i));
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, deform_conv_layout(ctx.node(), ctx.shape(0), ctx.shape(1), ctx.shape(2),
                                                          ctx.has_input(4) ? &ctx.shape(4) : nullptr));
  ISKRA_RETURN_IF_ERROR(check_bias(ctx, 3, c.out_channels));
  return set_checked_output(ctx, 0, ctx.dtype(0), batch_channel_shape(c.batch, c.out_channels, c.window.grid));
}

Status run_deform_conv(KernelContext& ctx) {
  const bool has_mask = ctx.has_input(4);
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c,
                         deform_conv_layout(ctx.node, ctx.input(0).shape(), ctx.input(1).shape(), ctx.input(2).shape(),
                                            has_mask ? &ctx.input(4).shape() : nullptr));
  const SlidingWindow& win = c.window;
  const std::vector<double> x = to_doubles(ctx.input(0)), w = to_doubles(ctx.input(1));
  const std::vector<double> offset = to_doubles(ctx.input(2));
  const std::vector<double> bias = ctx.has_input(3) ? to_doubles(ctx.input(3)) : std::vector<double>{};
  const std::vector<double> mask = has_mask ? to_doubles(ctx.input(4)) : std::vector<double>{};
  const size_t rank = win.kernel.size();
  const std::vector<int64_t> coords = kernel_coordinates(win.kernel);
  const int64_t kernel_size = static_cast<int64_t>(coords.size() / rank);
  const int64_t offset_group = ctx.node.attr_int("offset_group", 1);
  const int64_t cg = c.in_channels / c.group, mg = c.out_channels / c.group;
  const int64_t channels_per_offset_group = c.in_channels / offset_group;
  const int64_t in_plane = element_count(win.image), out_plane = element_count(win.grid);
  const std::vector<int64_t> image_strides = strides_of(win.image);
  std::vector<double> out(static_cast<size_t>(ctx.output(0).element_count()));
  std::vector<double> pos(rank);
  for (int64_t n = 0; n < c.batch; ++n) {
    for (int64_t m = 0; m < c.out_channels; ++m) {
      const int64_t g = m / mg;
      int64_t o = 0;
      for_each_index(win.grid, [&](const std::vector<int64_t>& oi) {
        double acc = bias.empty() ? 0.0 : bias[static_cast<size_t>(m)];
        for (int64_t ci = 0; ci < cg; ++ci) {
          const int64_t channel = g * cg + ci;
          const int64_t og = channel / channels_per_offset_group;
          const double* plane = x.data() + (n * c.in_channels + channel) * in_plane;
          for (int64_t k = 0; k < kernel_size; ++k) {
            const int64_t point = og * kernel_size + k;  // sampling point index within the batch item
            for (size_t d = 0; d < rank; ++d) {
              const int64_t channel_of_offset = (n * offset_group * kernel_size + point) * static_cast<int64_t>(rank) +
                                                static_cast<int64_t>(d);
              pos[d] = static_cast<double>(oi[d] * win.strides[d] - win.pad_begin[d] +
                                           coords[static_cast<size_t>(k) * rank + d] * win.dilations[d]) +
                       offset[static_cast<size_t>(channel_of_offset * out_plane + o)];
            }
            const double scale =
                mask.empty() ? 1.0 : mask[static_cast<size_t>((n * offset_group * kernel_size + point) * out_plane + o)];
            acc += w[static_cast<size_t>((m * cg + ci) * kernel_size + k)] * scale *
                   sample_linear(plane, win.image, image_strides, pos);
          }
        }
        out[static_cast<size_t>((n * c.out_channels + m) * out_plane + o)] = acc;
        ++o;
      });
    }
  }
  return store_doubles(ctx, out, ctx.output(0));
}

// Col2Im: input [N, C*prod(block), L] -> [N, C, image...]; column l of block
// element k is added at image position l*stride - pad + k*dilation.
// Col2Im sums integers with wrap-around in 64 bits, floats in double.
template <typename T>
using SumType = std::conditional_t<kIsFloat<T>, double, uint64_t>;

struct Col2ImLayout {
  int64_t batch = 0, channels = 0;
  SlidingWindow window;  // grid = blocks, image = image_shape
};

Result<Col2ImLayout> col2im_layout(const Node& node, const Shape& input, const std::vector<int64_t>& image_shape,
                                   const std::vector<int64_t>& block_shape) {
  if (input.size() != 3) return node_error(node, "input must have rank 3, got ", shape_to_string(input));
  if (image_shape.empty() || image_shape.size() != block_shape.size())
    return node_error(node, "image_shape and block_shape must have the same non-zero length");
  ISKRA_RETURN_IF_ERROR(check_kernel(node, block_shape));
  const auto block_size = checked_element_count(block_shape);
  if (!block_size || input[1] % *block_size != 0)
    return node_error(node, "input channels ", input[1], " are not a multiple of the block size");
  Col2ImLayout l;
  l.batch = input[0];
  l.channels = input[1] / *block_size;
  ISKRA_ASSIGN_OR_RETURN(l.window, input_window(node, image_shape, block_shape, false));
  const auto blocks = checked_element_count(l.window.grid);
  if (!blocks || *blocks != input[2])
    return node_error(node, "input has ", input[2], " columns, but the image holds ", shape_to_string(l.window.grid),
                      " blocks");
  return l;
}

Status infer_col2im(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, {0, 1, 2}));
  if (ctx.dtype(0) == DType::kString || ctx.dtype(0) == DType::kBool)
    return ctx.unsupported_error("dtype ", dtype_name(ctx.dtype(0)));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> image_shape, ctx.value_ints(1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> block_shape, ctx.value_ints(2));
  ISKRA_ASSIGN_OR_RETURN(Col2ImLayout l, col2im_layout(ctx.node(), ctx.shape(0), image_shape, block_shape));
  return set_checked_output(ctx, 0, ctx.dtype(0), batch_channel_shape(l.batch, l.channels, l.window.image));
}

Status run_col2im(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(Col2ImLayout l, col2im_layout(ctx.node, ctx.input(0).shape(), tensor_to_int64s(ctx.input(1)),
                                                       tensor_to_int64s(ctx.input(2))));
  const Tensor& input = ctx.input(0);
  Tensor& y = ctx.output(0);
  return ISKRA_DISPATCH_NUMERIC(
      input.dtype(),
      [&](auto tag) {
        using T = decltype(tag);
        using Acc = SumType<T>;
        const T* in = input.data<T>();
        const int64_t columns = input.dim(2);
        const int64_t image_plane = element_count(l.window.image);
        const int64_t kernel_size = element_count(l.window.kernel);
        std::vector<Acc> acc(static_cast<size_t>(y.element_count()), Acc{0});
        for_each_window(l.window, [&](int64_t col, std::span<const Tap> taps) {
          for (int64_t p = 0; p < l.batch * l.channels; ++p)
            for (const Tap& t : taps)
              if (t.image_offset >= 0) {
                const T v = in[(p * kernel_size + t.kernel_offset) * columns + col];
                Acc& sum = acc[static_cast<size_t>(p * image_plane + t.image_offset)];
                if constexpr (kIsFloat<T>) sum += to_double(v);
                else sum += static_cast<Acc>(v);
              }
        });
        T* out = y.data<T>();
        for (size_t i = 0; i < acc.size(); ++i) {
          if constexpr (kIsFloat<T>) out[i] = round_to<T>(acc[i]);
          else out[i] = static_cast<T>(acc[i]);
        }
        return Status::ok();
      },
      ctx.unsupported_error("dtype ", dtype_name(input.dtype())));
}

// --- Pooling ---------------------------------------------------------------------

// Reducers of the pooling loop: reset(), add(value, image_offset) for input
// elements, add_padding() for taps on declared padding, value().
struct MaxReducer {
  double best = 0;
  int64_t best_at = -1;
  void reset() { best_at = -1; }
  void add(double v, int64_t at) {
    if (best_at < 0 || v > best) {
      best = v;
      best_at = at;
    }
  }
  void add_padding() {}
  double value() const { return best_at < 0 ? -std::numeric_limits<double>::infinity() : best; }
};

struct AverageReducer {
  bool count_include_pad = false;
  double sum = 0;
  int64_t count = 0;
  void reset() {
    sum = 0;
    count = 0;
  }
  void add(double v, int64_t) {
    sum += v;
    ++count;
  }
  void add_padding() { count += count_include_pad ? 1 : 0; }
  double value() const { return sum / static_cast<double>(count); }
};

struct LpReducer {
  double p = 2;
  double sum = 0;
  void reset() { sum = 0; }
  void add(double v, int64_t) { sum += std::pow(std::fabs(v), p); }
  void add_padding() {}
  double value() const { return std::pow(sum, 1.0 / p); }
};

// The shared pooling loop: reduces every window of every (n, c) plane of x and
// hands the reducer to emit(output_offset, plane, reducer).
template <typename T, typename Reducer, typename Emit>
void pool_planes(const Tensor& x, const SlidingWindow& w, Reducer& r, Emit&& emit) {
  const T* data = x.data<T>();
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t in_plane = element_count(w.image), out_plane = element_count(w.grid);
  for_each_window(w, [&](int64_t o, std::span<const Tap> taps) {
    for (int64_t p = 0; p < planes; ++p) {
      const T* plane = data + p * in_plane;
      r.reset();
      for (const Tap& t : taps) {
        if (t.image_offset >= 0) r.add(to_double(plane[t.image_offset]), t.image_offset);
        else if (t.image_offset == kPaddingTap) r.add_padding();
      }
      emit(p * out_plane + o, p, static_cast<const Reducer&>(r));
    }
  });
}

// Runs a pool whose only output is the reduced value.
template <typename Reducer>
Status run_value_pool(KernelContext& ctx, const SlidingWindow& w, Reducer r) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  return ISKRA_DISPATCH_NUMERIC(
      x.dtype(),
      [&](auto tag) {
        using T = decltype(tag);
        T* out = y.data<T>();
        pool_planes<T>(x, w, r, [&](int64_t at, int64_t, const Reducer& red) { out[at] = round_to<T>(red.value()); });
        return Status::ok();
      },
      ctx.unsupported_error("dtype ", dtype_name(x.dtype())));
}

// The window of AveragePool/MaxPool/LpPool from their attributes.
Result<SlidingWindow> pool_window(const Node& node, const Shape& x) {
  ISKRA_RETURN_IF_ERROR(check_spatial_input(node, x));
  const std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  if (kernel.size() != x.size() - 2)
    return node_error(node, "kernel_shape must have ", x.size() - 2, " values, got ", kernel.size());
  return input_window(node, spatial_dims(x), kernel, node.attr_int("ceil_mode", 0) != 0);
}

Status infer_pool_with(InferContext& ctx, bool allow_int8) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, {0}));
  const DType dt = ctx.dtype(0);
  if (!dtype_is_float(dt) && !(allow_int8 && (dt == DType::kI8 || dt == DType::kU8)))
    return ctx.unsupported_error("dtype ", dtype_name(dt));
  ISKRA_ASSIGN_OR_RETURN(SlidingWindow w, pool_window(ctx.node(), ctx.shape(0)));
  const Shape out = batch_channel_shape(ctx.shape(0)[0], ctx.shape(0)[1], w.grid);
  ISKRA_RETURN_IF_ERROR(set_checked_output(ctx, 0, dt, out));
  if (ctx.output_count() > 1) ISKRA_RETURN_IF_ERROR(set_checked_output(ctx, 1, DType::kI64, out));
  return Status::ok();
}

// AveragePool: mean over the window; padding counts only with count_include_pad.
Status infer_average_pool(InferContext& ctx) { return infer_pool_with(ctx, false); }

Status run_average_pool(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(SlidingWindow w, pool_window(ctx.node, ctx.input(0).shape()));
  AverageReducer r;
  r.count_include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  return run_value_pool(ctx, w, r);
}

// LpPool: (sum |x|^p)^(1/p) over the window (padding adds zero).
Result<double> lp_order(const Node& node, float fallback) {
  const double p = node.attr_float("p", fallback);
  if (!(p > 0) || !std::isfinite(p)) return node_error(node, "invalid p ", p);
  return p;
}

Status infer_lp_pool(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(lp_order(ctx.node(), 2.0f).status());
  return infer_pool_with(ctx, false);
}

Status run_lp_pool(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(SlidingWindow w, pool_window(ctx.node, ctx.input(0).shape()));
  LpReducer r;
  ISKRA_ASSIGN_OR_RETURN(r.p, lp_order(ctx.node, 2.0f));
  return run_value_pool(ctx, w, r);
}

// MaxPool: max over the window; optional Indices output holds the flat index
// of the max in X (spatial part column-major when storage_order = 1).
Status infer_max_pool(InferContext& ctx) {
  const int64_t storage_order = ctx.node().attr_int("storage_order", 0);
  if (storage_order != 0 && storage_order != 1) return ctx.error("storage_order must be 0 or 1");
  return infer_pool_with(ctx, true);
}

Status run_max_pool(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(SlidingWindow w, pool_window(ctx.node, ctx.input(0).shape()));
  const bool column_major = ctx.node.attr_int("storage_order", 0) == 1;
  const bool want_indices = ctx.outputs.size() > 1 && ctx.outputs[1] != nullptr;
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  int64_t* indices = want_indices ? ctx.output(1).data<int64_t>() : nullptr;
  const int64_t in_plane = element_count(w.image);
  const std::vector<int64_t> column_strides = [&] {  // first spatial axis fastest
    std::vector<int64_t> s(w.image.size(), 1);
    for (size_t d = 1; d < s.size(); ++d) s[d] = s[d - 1] * w.image[d - 1];
    return s;
  }();
  MaxReducer r;
  return ISKRA_DISPATCH_NUMERIC(
      x.dtype(),
      [&](auto tag) {
        using T = decltype(tag);
        T* out = y.data<T>();
        pool_planes<T>(x, w, r, [&](int64_t at, int64_t plane, const MaxReducer& red) {
          out[at] = round_to<T>(red.value());
          if (!indices) return;
          int64_t spatial = red.best_at;
          if (column_major && spatial >= 0) spatial = offset_of(index_of(spatial, w.image), column_strides);
          indices[at] = spatial < 0 ? -1 : plane * in_plane + spatial;
        });
        return Status::ok();
      },
      ctx.unsupported_error("dtype ", dtype_name(x.dtype())));
}

// Global pools: the pool with one window covering all spatial axes.
Status infer_global_pool(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, {0}));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  if (ctx.rank(0) < 2) return ctx.error("X must have rank >= 2, got ", shape_to_string(ctx.shape(0)));
  Shape out = ctx.shape(0);
  std::fill(out.begin() + 2, out.end(), 1);
  return set_checked_output(ctx, 0, ctx.dtype(0), out);
}

Status run_global_average_pool(KernelContext& ctx) {
  return run_value_pool(ctx, global_window(spatial_dims(ctx.input(0).shape())), AverageReducer{});
}

Status run_global_max_pool(KernelContext& ctx) {
  return run_value_pool(ctx, global_window(spatial_dims(ctx.input(0).shape())), MaxReducer{});
}

Status infer_global_lp_pool(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(lp_order(ctx.node(), 2.0f).status());
  return infer_global_pool(ctx);
}

Status run_global_lp_pool(KernelContext& ctx) {
  LpReducer r;
  ISKRA_ASSIGN_OR_RETURN(r.p, lp_order(ctx.node, 2.0f));
  return run_value_pool(ctx, global_window(spatial_dims(ctx.input(0).shape())), r);
}

// MaxUnpool: scatters X to the flat positions in I of a tensor of the
// unpooled shape (in-1)*stride - pads + kernel; a larger output_shape keeps
// that tensor at its origin and zero-fills the rest (as the ONNX reference).
struct UnpoolShapes {
  Shape unpooled, out;
};

Result<UnpoolShapes> unpool_shapes(const Node& node, const Shape& x, const std::vector<int64_t>* output_shape) {
  ISKRA_RETURN_IF_ERROR(check_spatial_input(node, x));
  const size_t n = x.size() - 2;
  const std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  if (kernel.size() != n) return node_error(node, "kernel_shape must have ", n, " values, got ", kernel.size());
  ISKRA_RETURN_IF_ERROR(check_kernel(node, kernel));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> strides, window_attr(node, "strides", n, 1, 1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> pads, window_attr(node, "pads", 2 * n, 0, 0));
  ISKRA_RETURN_IF_ERROR(check_spatial_sizes(node, spatial_dims(x), "spatial size"));
  UnpoolShapes s;
  s.unpooled = x;
  for (size_t d = 0; d < n; ++d) {
    s.unpooled[d + 2] = (x[d + 2] - 1) * strides[d] - pads[d] - pads[n + d] + kernel[d];
    if (s.unpooled[d + 2] < 0) return node_error(node, "negative unpooled size on spatial axis ", d);
  }
  s.out = s.unpooled;
  if (output_shape) {
    if (output_shape->size() != x.size() || (*output_shape)[0] != x[0] || (*output_shape)[1] != x[1])
      return node_error(node, "output_shape ", shape_to_string(*output_shape), " does not match X ", shape_to_string(x));
    for (size_t d = 2; d < x.size(); ++d)
      if ((*output_shape)[d] < s.unpooled[d])
        return node_error(node, "output_shape ", shape_to_string(*output_shape), " is smaller than the unpooled shape ",
                          shape_to_string(s.unpooled));
    s.out = *output_shape;
  }
  return s;
}

Status infer_max_unpool(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, {0, 1}));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  if (ctx.dtype(1) != DType::kI64 || ctx.shape(1) != ctx.shape(0))
    return ctx.error("I must be an i64 tensor of X's shape, got ", ctx.input(1).describe());
  std::optional<std::vector<int64_t>> given;
  if (ctx.has_input(2)) {
    ISKRA_ASSIGN_OR_RETURN(given, ctx.value_ints(2));
  }
  ISKRA_ASSIGN_OR_RETURN(UnpoolShapes s, unpool_shapes(ctx.node(), ctx.shape(0), given ? &*given : nullptr));
  return set_checked_output(ctx, 0, ctx.dtype(0), s.out);
}

Status run_max_unpool(KernelContext& ctx) {
  std::optional<std::vector<int64_t>> given;
  if (ctx.has_input(2)) given = tensor_to_int64s(ctx.input(2));
  ISKRA_ASSIGN_OR_RETURN(UnpoolShapes s, unpool_shapes(ctx.node, ctx.input(0).shape(), given ? &*given : nullptr));
  const std::vector<double> x = to_doubles(ctx.input(0));
  const int64_t* indices = ctx.input(1).data<int64_t>();
  const int64_t unpooled_count = element_count(s.unpooled);
  const std::vector<int64_t> out_strides = strides_of(s.out);
  std::vector<double> out(static_cast<size_t>(element_count(s.out)), 0.0);
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t at = indices[i];
    if (at < 0 || at >= unpooled_count)
      return ctx.error("index ", at, " is out of range for the unpooled shape ", shape_to_string(s.unpooled));
    out[static_cast<size_t>(offset_of(index_of(at, s.unpooled), out_strides))] = x[i];
  }
  return store_doubles(ctx, out, ctx.output(0));
}

// MaxRoiPool: for each roi [batch, x1, y1, x2, y2] (scaled by spatial_scale
// and rounded) max-pools the region into pooled_shape bins; empty bins are 0.
Result<std::vector<int64_t>> pooled_shape_attr(const Node& node) {
  std::vector<int64_t> pooled = node.attr_ints("pooled_shape");
  if (pooled.size() != 2) return node_error(node, "pooled_shape must have 2 values");
  ISKRA_RETURN_IF_ERROR(check_kernel(node, pooled));
  return pooled;
}

Status infer_max_roi_pool(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, {0, 1}));
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 1));
  if (ctx.rank(0) != 4) return ctx.error("X must have rank 4, got ", shape_to_string(ctx.shape(0)));
  if (ctx.rank(1) != 2 || ctx.shape(1)[1] != 5) return ctx.error("rois must have shape [R, 5], got ", shape_to_string(ctx.shape(1)));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> pooled, pooled_shape_attr(ctx.node()));
  return set_checked_output(ctx, 0, ctx.dtype(0), {ctx.shape(1)[0], ctx.shape(0)[1], pooled[0], pooled[1]});
}

Status run_max_roi_pool(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> pooled, pooled_shape_attr(ctx.node));
  const double spatial_scale = ctx.node.attr_float("spatial_scale", 1.0f);
  const Tensor& xt = ctx.input(0);
  const std::vector<double> x = to_doubles(xt), rois = to_doubles(ctx.input(1));
  const int64_t batch = xt.dim(0), channels = xt.dim(1), height = xt.dim(2), width = xt.dim(3);
  const int64_t num_rois = ctx.input(1).dim(0);
  // A scaled, rounded roi coordinate, kept in a range where int64 math is safe.
  auto coordinate = [&](double v) {
    const double c = std::round(v * spatial_scale);
    return std::isfinite(c) ? static_cast<int64_t>(std::clamp(c, -1e15, 1e15)) : int64_t{0};
  };
  std::vector<double> out(static_cast<size_t>(ctx.output(0).element_count()));
  size_t at = 0;
  for (int64_t r = 0; r < num_rois; ++r) {
    const double* roi = rois.data() + r * 5;
    if (!(roi[0] >= 0 && roi[0] < static_cast<double>(batch)))
      return ctx.error("roi ", r, " has batch index ", roi[0], " outside [0, ", batch, ")");
    const int64_t n = static_cast<int64_t>(roi[0]);
    const int64_t x1 = coordinate(roi[1]), y1 = coordinate(roi[2]), x2 = coordinate(roi[3]), y2 = coordinate(roi[4]);
    const double bin_h = static_cast<double>(std::max<int64_t>(y2 - y1 + 1, 1)) / static_cast<double>(pooled[0]);
    const double bin_w = static_cast<double>(std::max<int64_t>(x2 - x1 + 1, 1)) / static_cast<double>(pooled[1]);
    // Bin edges [floor(i*bin), ceil((i+1)*bin)) shifted by the roi start and clamped to the image.
    auto edge = [](int64_t i, double bin, int64_t start, int64_t limit, bool end) {
      const double e = end ? std::ceil(static_cast<double>(i + 1) * bin) : std::floor(static_cast<double>(i) * bin);
      return std::clamp<int64_t>(static_cast<int64_t>(e) + start, 0, limit);
    };
    for (int64_t c = 0; c < channels; ++c) {
      const double* plane = x.data() + (n * channels + c) * height * width;
      for (int64_t ph = 0; ph < pooled[0]; ++ph) {
        const int64_t h0 = edge(ph, bin_h, y1, height, false), h1 = edge(ph, bin_h, y1, height, true);
        for (int64_t pw = 0; pw < pooled[1]; ++pw) {
          const int64_t w0 = edge(pw, bin_w, x1, width, false), w1 = edge(pw, bin_w, x1, width, true);
          MaxReducer r;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) r.add(plane[h * width + w], h * width + w);
          out[at++] = r.best_at < 0 ? 0.0 : r.best;
        }
      }
    }
  }
  return store_doubles(ctx, out, ctx.output(0));
}

// --- Resize --------------------------------------------------------------------------
//
// Each output coordinate y of a resized axis maps to a source coordinate x
// (coordinate_transformation_mode), which selects `taps` input positions with
// weights (mode: nearest, linear, cubic; antialias widens the filter by
// 1/scale when downsampling). Positions outside the input clamp to the edge
// (or get weight 0 with exclude_outside). N-D resizing is separable: linear
// and cubic resample one axis after another in double; nearest copies
// elements directly (exact for every dtype).

enum class ResizeMode { kNearest, kLinear, kCubic };

struct ResizeAttrs {
  ResizeMode mode = ResizeMode::kNearest;
  std::string transform, nearest_mode, aspect_policy;
  double cubic_a = -0.75, extrapolation = 0.0;
  bool exclude_outside = false, antialias = false;
  std::vector<int64_t> axes;  // as written; empty = all
};

Result<ResizeAttrs> resize_attrs(const Node& node) {
  ResizeAttrs a;
  const std::string mode = node.attr_string("mode", "nearest");
  if (mode == "nearest") a.mode = ResizeMode::kNearest;
  else if (mode == "linear") a.mode = ResizeMode::kLinear;
  else if (mode == "cubic") a.mode = ResizeMode::kCubic;
  else return node_error(node, "unknown mode '", mode, "'");
  a.transform = node.attr_string("coordinate_transformation_mode", "half_pixel");
  static const char* const kTransforms[] = {"half_pixel",    "half_pixel_symmetric", "pytorch_half_pixel",
                                            "align_corners", "asymmetric",           "tf_crop_and_resize",
                                            "tf_half_pixel_for_nn"};
  if (std::find(std::begin(kTransforms), std::end(kTransforms), a.transform) == std::end(kTransforms))
    return node_error(node, "unknown coordinate_transformation_mode '", a.transform, "'");
  a.nearest_mode = node.attr_string("nearest_mode", "round_prefer_floor");
  if (a.nearest_mode != "round_prefer_floor" && a.nearest_mode != "round_prefer_ceil" && a.nearest_mode != "floor" &&
      a.nearest_mode != "ceil")
    return node_error(node, "unknown nearest_mode '", a.nearest_mode, "'");
  a.aspect_policy = node.attr_string("keep_aspect_ratio_policy", "stretch");
  if (a.aspect_policy != "stretch" && a.aspect_policy != "not_larger" && a.aspect_policy != "not_smaller")
    return node_error(node, "unknown keep_aspect_ratio_policy '", a.aspect_policy, "'");
  a.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  a.extrapolation = node.attr_float("extrapolation_value", 0.0f);
  a.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  a.antialias = node.attr_int("antialias", 0) != 0 && a.mode != ResizeMode::kNearest;
  a.axes = node.attr_ints("axes");
  return a;
}

// Output shape and per-axis scale of a Resize, from the value of scales or sizes.
struct ResizePlan {
  Shape out;
  std::vector<double> scales;  // one per axis of X; 1 for axes not resized
  std::vector<size_t> axes;    // the axes scales/sizes/roi refer to
};

Result<ResizePlan> plan_resize(const Node& node, const ResizeAttrs& a, const Shape& in,
                               const std::optional<std::vector<double>>& scales,
                               const std::optional<std::vector<int64_t>>& sizes) {
  const int rank = static_cast<int>(in.size());
  ResizePlan plan;
  if (a.axes.empty()) {
    for (int d = 0; d < rank; ++d) plan.axes.push_back(static_cast<size_t>(d));
  } else {
    for (int64_t axis : a.axes) {
      const std::optional<int> d = ref::normalize_axis(axis, rank);
      if (!d) return node_error(node, "axis ", axis, " is out of range for rank ", rank);
      if (std::find(plan.axes.begin(), plan.axes.end(), static_cast<size_t>(*d)) != plan.axes.end())
        return node_error(node, "axis ", axis, " is repeated");
      plan.axes.push_back(static_cast<size_t>(*d));
    }
  }
  const size_t count = plan.axes.size();
  plan.out = in;
  plan.scales.assign(in.size(), 1.0);
  constexpr double kMaxSize = 4.0e18;
  if (scales) {
    if (scales->size() != count) return node_error(node, "scales has ", scales->size(), " values, expected ", count);
    for (size_t i = 0; i < count; ++i) {
      const size_t d = plan.axes[i];
      const double s = (*scales)[i];
      const double size = std::floor(s * static_cast<double>(in[d]));
      if (!(s > 0) || !(size < kMaxSize)) return node_error(node, "invalid scale ", s, " for axis ", d);
      plan.scales[d] = s;
      plan.out[d] = static_cast<int64_t>(size);
    }
    return plan;
  }
  if (sizes->size() != count) return node_error(node, "sizes has ", sizes->size(), " values, expected ", count);
  for (size_t i = 0; i < count; ++i) {
    const size_t d = plan.axes[i];
    const int64_t size = (*sizes)[i];
    if (size < 0 || (in[d] == 0 && size != 0)) return node_error(node, "invalid size ", size, " for axis ", d);
    plan.out[d] = size;
    plan.scales[d] = in[d] == 0 ? 1.0 : static_cast<double>(size) / static_cast<double>(in[d]);
  }
  if (a.aspect_policy != "stretch") {
    // One scale for all axes: the smallest (not_larger) or largest (not_smaller).
    double s = plan.scales[plan.axes.empty() ? 0 : plan.axes[0]];
    for (size_t d : plan.axes)
      s = a.aspect_policy == "not_larger" ? std::min(s, plan.scales[d]) : std::max(s, plan.scales[d]);
    for (size_t d : plan.axes) {
      const double size = std::floor(s * static_cast<double>(in[d]) + 0.5);
      if (!(size < kMaxSize)) return node_error(node, "output size overflows on axis ", d);
      plan.scales[d] = s;
      plan.out[d] = static_cast<int64_t>(size);
    }
  }
  return plan;
}

// Input taps of one axis: output position j reads source[j*taps + t] with weight[j*taps + t].
struct ResizeAxis {
  size_t taps = 1;
  std::vector<int64_t> source;
  std::vector<double> weight;
  std::vector<char> extrapolate;  // tf_crop_and_resize positions outside the input
};

// Source coordinate of output position y.
double resize_source(const ResizeAttrs& a, double y, int64_t in, int64_t out, double scale, double roi_start,
                     double roi_end) {
  const double length = scale * static_cast<double>(in);  // fractional output length
  const double last = static_cast<double>(in - 1);
  if (a.transform == "asymmetric") return y / scale;
  if (a.transform == "tf_half_pixel_for_nn") return (y + 0.5) / scale;
  if (a.transform == "align_corners") return length == 1 ? 0.0 : y * last / (length - 1);
  if (a.transform == "pytorch_half_pixel") return out > 1 ? (y + 0.5) / scale - 0.5 : 0.0;
  if (a.transform == "tf_crop_and_resize") {
    const double x = length == 1 ? (roi_end - roi_start) * last / 2 : y * (roi_end - roi_start) * last / (length - 1);
    return x + roi_start * last;
  }
  if (a.transform == "half_pixel_symmetric") {
    const double center = static_cast<double>(in) / 2;
    const double offset = center * (1 - static_cast<double>(out) / length);
    return offset + (y + 0.5) / scale - 0.5;
  }
  return (y + 0.5) / scale - 0.5;  // half_pixel
}

// Cubic convolution kernel with coefficient A.
double cubic_kernel(double x, double A) {
  x = std::fabs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0.0;
}

// Weights of consecutive input positions around a source coordinate whose
// distance past its left neighbour is `ratio` in (0, 1].
std::vector<double> resize_weights(const ResizeAttrs& a, double ratio, double scale) {
  std::vector<double> w;
  switch (a.mode) {
    case ResizeMode::kNearest: {
      bool upper;  // take the right neighbour
      if (ratio == 1.0 || a.nearest_mode == "ceil") upper = true;
      else if (a.nearest_mode == "floor") upper = false;
      else if (a.nearest_mode == "round_prefer_ceil") upper = ratio >= 0.5;
      else upper = ratio > 0.5;
      return {upper ? 0.0 : 1.0, upper ? 1.0 : 0.0};
    }
    case ResizeMode::kLinear:
      if (!a.antialias) return {1 - ratio, ratio};
      {
        const double s = std::min(scale, 1.0);
        const int64_t start = static_cast<int64_t>(std::floor(-1 / s)) + 1;
        for (int64_t i = start; i < 2 - start; ++i)
          w.push_back(std::clamp(1 - std::fabs((static_cast<double>(i) - ratio) * s), 0.0, 1.0));
      }
      break;
    case ResizeMode::kCubic:
      if (!a.antialias) {
        for (double x : {ratio + 1, ratio, 1 - ratio, 2 - ratio}) w.push_back(cubic_kernel(x, a.cubic_a));
        return w;
      }
      {
        const double s = std::min(scale, 1.0);
        const int64_t start = static_cast<int64_t>(std::floor(-2 / s)) + 1;
        for (int64_t i = start; i < 2 - start; ++i)
          w.push_back(cubic_kernel(s * (static_cast<double>(i) - ratio), a.cubic_a));
      }
      break;
  }
  double sum = 0;
  for (double v : w) sum += v;
  for (double& v : w) v /= sum;
  return w;
}

bool resize_axis_is_identity(const ResizeAttrs& a, int64_t in, int64_t out, double scale, double roi_start,
                             double roi_end) {
  auto close = [](double p, double q) { return std::fabs(p - q) <= 1e-9 * std::max(std::fabs(p), std::fabs(q)) + 1e-12; };
  return in == out && close(scale, 1.0) &&
         (a.transform != "tf_crop_and_resize" || (close(roi_start, 0.0) && close(roi_end, 1.0)));
}

ResizeAxis resize_axis(const ResizeAttrs& a, int64_t in, int64_t out, double scale, double roi_start, double roi_end) {
  ResizeAxis axis;
  const size_t outs = static_cast<size_t>(out);
  axis.extrapolate.assign(outs, 0);
  if (resize_axis_is_identity(a, in, out, scale, roi_start, roi_end)) {
    for (int64_t j = 0; j < out; ++j) axis.source.push_back(j);
    axis.weight.assign(outs, 1.0);
    return axis;
  }
  for (size_t j = 0; j < outs; ++j) {
    double x = resize_source(a, static_cast<double>(j), in, out, scale, roi_start, roi_end);
    if (a.transform == "tf_crop_and_resize" && (x < 0 || x > static_cast<double>(in - 1))) axis.extrapolate[j] = 1;
    if (std::isnan(x)) x = 0;
    x = std::clamp(x, -1e15, 1e15);  // far outside everything clamps to the edge anyway
    const double base = std::floor(x);
    const double frac = x - base;
    std::vector<double> w = resize_weights(a, frac == 0 ? 1.0 : frac, scale);
    const size_t n = w.size();
    // The n positions nearest to x, ties going to the smaller ones.
    const int64_t half = static_cast<int64_t>(n / 2);
    const int64_t start = n % 2 == 0 ? static_cast<int64_t>(base) - half + (frac == 0 ? 0 : 1)
                                     : static_cast<int64_t>(base) - half + (frac <= 0.5 ? 0 : 1);
    if (a.exclude_outside) {
      double sum = 0;
      for (size_t t = 0; t < n; ++t) {
        const int64_t i = start + static_cast<int64_t>(t);
        if (i < 0 || i >= in) w[t] = 0;
        sum += w[t];
      }
      if (sum != 0)
        for (double& v : w) v /= sum;
    }
    axis.taps = n;
    for (size_t t = 0; t < n; ++t) {
      axis.source.push_back(std::clamp<int64_t>(start + static_cast<int64_t>(t), 0, std::max<int64_t>(in - 1, 0)));
      axis.weight.push_back(w[t]);
    }
  }
  return axis;
}

// Reads the scales/sizes values (whichever holds elements) of a Resize.
struct ResizeTargets {
  std::optional<std::vector<double>> scales;
  std::optional<std::vector<int64_t>> sizes;
};

Status check_resize_inputs(const InferContext& ctx, const ResizeAttrs& a) {
  const DType dt = ctx.dtype(0);
  if (!dtype_is_supported(dt) || dt == DType::kString) return ctx.unsupported_error("dtype ", dtype_name(dt));
  if (a.mode != ResizeMode::kNearest && dt == DType::kBool)
    return ctx.unsupported_error("mode linear/cubic on bool tensors");
  if (ctx.rank(0) < 1) return ctx.error("X must have rank >= 1");
  if (ctx.has_input(1) && !dtype_is_float(ctx.dtype(1))) return ctx.error("roi must be a float tensor");
  const bool has_scales = ctx.has_input(2) && element_count(ctx.shape(2)) > 0;
  const bool has_sizes = ctx.has_input(3) && element_count(ctx.shape(3)) > 0;
  if (has_scales == has_sizes) return ctx.error("exactly one of scales and sizes must be given");
  if (has_scales && !dtype_is_float(ctx.dtype(2))) return ctx.error("scales must be a float tensor");
  if (has_sizes && ctx.dtype(3) != DType::kI64) return ctx.error("sizes must be an i64 tensor");
  return Status::ok();
}

// Refuses antialias filters so wide that they would exhaust memory.
Status check_resize_plan(const Node& node, const ResizeAttrs& a, const ResizePlan& plan) {
  if (!a.antialias) return Status::ok();
  for (size_t d : plan.axes)
    if (plan.scales[d] < 1e-6) return node_error(node, "antialias scale ", plan.scales[d], " is too small");
  return Status::ok();
}

Status infer_resize(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_inputs(ctx, {0}));
  ISKRA_ASSIGN_OR_RETURN(ResizeAttrs a, resize_attrs(ctx.node()));
  ISKRA_RETURN_IF_ERROR(check_resize_inputs(ctx, a));
  ResizeTargets targets;
  if (ctx.has_input(2) && element_count(ctx.shape(2)) > 0) {
    ISKRA_ASSIGN_OR_RETURN(targets.scales, ctx.value_doubles(2));
  } else {
    ISKRA_ASSIGN_OR_RETURN(targets.sizes, ctx.value_ints(3));
  }
  ISKRA_ASSIGN_OR_RETURN(ResizePlan plan, plan_resize(ctx.node(), a, ctx.shape(0), targets.scales, targets.sizes));
  ISKRA_RETURN_IF_ERROR(check_resize_plan(ctx.node(), a, plan));
  return set_checked_output(ctx, 0, ctx.dtype(0), plan.out);
}

// Linear/cubic: resamples `data` (shape `shape`) along `d`, one axis at a time.
void resample_axis(std::vector<double>& data, Shape& shape, size_t d, const ResizeAxis& axis, int64_t out,
                   double extrapolation) {
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < d; ++i) outer *= shape[i];
  for (size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
  const int64_t in = shape[d];
  std::vector<double> result(static_cast<size_t>(outer * out * inner));
  size_t at = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < out; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        double v = 0;
        if (axis.extrapolate[static_cast<size_t>(j)]) {
          v = extrapolation;
        } else {
          for (size_t t = 0; t < axis.taps; ++t) {
            const size_t tap = static_cast<size_t>(j) * axis.taps + t;
            v += axis.weight[tap] * data[static_cast<size_t>((o * in + axis.source[tap]) * inner + i)];
          }
        }
        result[at++] = v;
      }
  data = std::move(result);
  shape[d] = out;
}

Status run_resize(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(ResizeAttrs a, resize_attrs(ctx.node));
  const Tensor& x = ctx.input(0);
  ResizeTargets targets;
  if (ctx.has_input(2) && ctx.input(2).element_count() > 0) targets.scales = to_doubles(ctx.input(2));
  else targets.sizes = tensor_to_int64s(ctx.input(3));
  ISKRA_ASSIGN_OR_RETURN(ResizePlan plan, plan_resize(ctx.node, a, x.shape(), targets.scales, targets.sizes));
  const size_t rank = x.shape().size();
  std::vector<double> roi_start(rank, 0.0), roi_end(rank, 1.0);
  if (a.transform == "tf_crop_and_resize" && ctx.has_input(1) && ctx.input(1).element_count() > 0) {
    const std::vector<double> roi = to_doubles(ctx.input(1));
    if (roi.size() != 2 * plan.axes.size())
      return ctx.error("roi has ", roi.size(), " values, expected ", 2 * plan.axes.size());
    for (size_t i = 0; i < plan.axes.size(); ++i) {
      roi_start[plan.axes[i]] = roi[i];
      roi_end[plan.axes[i]] = roi[plan.axes.size() + i];
    }
  }
  std::vector<ResizeAxis> axes;
  for (size_t d = 0; d < rank; ++d)
    axes.push_back(resize_axis(a, x.dim(static_cast<int>(d)), plan.out[d], plan.scales[d], roi_start[d], roi_end[d]));
  Tensor& y = ctx.output(0);

  if (a.mode == ResizeMode::kNearest) {
    // Each output element copies the input element of the weight-1 tap on every axis.
    const std::vector<int64_t> in_strides = strides_of(x.shape());
    return ISKRA_DISPATCH_ALL(
        x.dtype(),
        [&](auto tag) {
          using T = decltype(tag);
          const T* in = x.data<T>();
          T* out = y.data<T>();
          const T extrapolated = round_to<T>(a.extrapolation);
          int64_t at = 0;
          for_each_index(plan.out, [&](const std::vector<int64_t>& j) {
            int64_t offset = 0;
            bool outside = false;
            for (size_t d = 0; d < rank; ++d) {
              const ResizeAxis& axis = axes[d];
              const size_t first = static_cast<size_t>(j[d]) * axis.taps;
              const auto best = std::max_element(axis.weight.begin() + static_cast<std::ptrdiff_t>(first),
                                                 axis.weight.begin() + static_cast<std::ptrdiff_t>(first + axis.taps));
              offset += axis.source[static_cast<size_t>(best - axis.weight.begin())] * in_strides[d];
              outside = outside || axis.extrapolate[static_cast<size_t>(j[d])];
            }
            out[at++] = outside ? extrapolated : in[offset];
          });
          return Status::ok();
        },
        ctx.unsupported_error("dtype ", dtype_name(x.dtype())));
  }

  std::vector<double> data = to_doubles(x);
  Shape shape = x.shape();
  for (size_t d = 0; d < rank; ++d)
    if (!resize_axis_is_identity(a, shape[d], plan.out[d], plan.scales[d], roi_start[d], roi_end[d]))
      resample_axis(data, shape, d, axes[d], plan.out[d], a.extrapolation);
  return ISKRA_DISPATCH_NUMERIC(
      y.dtype(),
      [&](auto tag) {
        using T = decltype(tag);
        T* out = y.data<T>();
        for (size_t i = 0; i < data.size(); ++i) out[i] = round_to<T>(data[i]);
        return Status::ok();
      },
      ctx.unsupported_error("dtype ", dtype_name(y.dtype())));
}

}  // namespace

void register_nn_ops(OpTable& table) {
  table.add(OpKind::Conv, infer_conv, run_conv);
  table.add(OpKind::ConvInteger, infer_conv_integer, run_conv_integer);
  table.add(OpKind::ConvTranspose, infer_conv_transpose, run_conv_transpose);
  table.add(OpKind::DeformConv, infer_deform_conv, run_deform_conv);
  table.add(OpKind::Col2Im, infer_col2im, run_col2im);
  table.add(OpKind::AveragePool, infer_average_pool, run_average_pool);
  table.add(OpKind::MaxPool, infer_max_pool, run_max_pool);
  table.add(OpKind::LpPool, infer_lp_pool, run_lp_pool);
  table.add(OpKind::GlobalAveragePool, infer_global_pool, run_global_average_pool);
  table.add(OpKind::GlobalMaxPool, infer_global_pool, run_global_max_pool);
  table.add(OpKind::GlobalLpPool, infer_global_lp_pool, run_global_lp_pool);
  table.add(OpKind::MaxUnpool, infer_max_unpool, run_max_unpool);
  table.add(OpKind::MaxRoiPool, infer_max_roi_pool, run_max_roi_pool);
  table.add(OpKind::Resize, infer_resize, run_resize);
}

}  // namespace iskra
