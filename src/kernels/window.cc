#include "kernels/window.h"

#include <algorithm>
#include <optional>

#include "base/checked_math.h"

namespace iskra {

namespace {

template <typename... Args>
Status node_error(const Node& node, const Args&... args) {
  return invalid_model(node.label(), args...);
}

}  // namespace

Shape spatial_dims(const Shape& shape) { return Shape(shape.begin() + 2, shape.end()); }

Result<std::vector<int64_t>> window_attr(const Node& node, const char* name, size_t count, int64_t fallback,
                                         int64_t lo) {
  std::vector<int64_t> values = node.attr_ints(name);
  if (values.empty()) return std::vector<int64_t>(count, fallback);
  if (values.size() != count)
    return node_error(node, "attribute '", name, "' has ", values.size(), " values, expected ", count);
  for (int64_t v : values)
    if (v < lo || v > kMaxWindowAttr) return node_error(node, "attribute '", name, "' value ", v, " is out of range");
  return values;
}

Status check_kernel(const Node& node, const std::vector<int64_t>& kernel) {
  for (int64_t k : kernel)
    if (k < 1 || k > kMaxWindowAttr) return node_error(node, "kernel size ", k, " is out of range");
  return Status::ok();
}

Status check_spatial_input(const Node& node, const Shape& x) {
  if (x.size() < 3) return node_error(node, "X must have rank >= 3, got ", shape_to_string(x));
  return Status::ok();
}

Result<std::string> auto_pad_attr(const Node& node) {
  std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" && auto_pad != "VALID")
    return node_error(node, "unknown auto_pad '", auto_pad, "'");
  return auto_pad;
}

Status check_spatial_sizes(const Node& node, std::span<const int64_t> sizes, const char* what) {
  for (int64_t v : sizes)
    if (v < 0 || v > kMaxSpatialSize) return node_error(node, what, " ", v, " is out of range");
  return Status::ok();
}

Result<SlidingWindow> input_window(const Node& node, const Shape& image, std::vector<int64_t> kernel,
                                   bool ceil_mode) {
  const size_t n = image.size();
  SlidingWindow w;
  w.image = image;
  w.kernel = std::move(kernel);
  ISKRA_RETURN_IF_ERROR(check_kernel(node, w.kernel));
  ISKRA_RETURN_IF_ERROR(check_spatial_sizes(node, image, "spatial size"));
  ISKRA_ASSIGN_OR_RETURN(w.strides, window_attr(node, "strides", n, 1, 1));
  ISKRA_ASSIGN_OR_RETURN(w.dilations, window_attr(node, "dilations", n, 1, 1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> pads, window_attr(node, "pads", 2 * n, 0, 0));
  ISKRA_ASSIGN_OR_RETURN(std::string auto_pad, auto_pad_attr(node));
  w.grid.resize(n);
  w.pad_begin.resize(n);
  w.pad_end.resize(n);
  for (size_t d = 0; d < n; ++d) {
    const int64_t in = image[d], stride = w.strides[d], extent = window_extent(w, d);
    int64_t out, begin = pads[d], end = pads[n + d];
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out = (in + stride - 1) / stride;
      const int64_t total = std::max<int64_t>(0, (out - 1) * stride + extent - in);
      begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      end = total - begin;
    } else {
      if (auto_pad == "VALID") begin = end = 0;
      const int64_t room = in + begin + end - extent;
      if (room < 0)
        return node_error(node, "kernel extent ", extent, " exceeds the padded input size ", in + begin + end,
                          " on spatial axis ", d);
      out = (ceil_mode ? (room + stride - 1) / stride : room / stride) + 1;
      if (ceil_mode && (out - 1) * stride >= in + begin) --out;
    }
    w.grid[d] = out;
    w.pad_begin[d] = begin;
    w.pad_end[d] = end;
  }
  return w;
}

SlidingWindow global_window(const Shape& image) {
  const size_t n = image.size();
  SlidingWindow w;
  w.grid = Shape(n, 1);
  w.image = image;
  w.kernel = image;
  w.strides = w.dilations = std::vector<int64_t>(n, 1);
  w.pad_begin = w.pad_end = std::vector<int64_t>(n, 0);
  return w;
}

Result<ConvLayout> conv_layout(const Node& node, const Shape& x, const Shape& w) {
  ISKRA_RETURN_IF_ERROR(check_spatial_input(node, x));
  if (w.size() != x.size()) return node_error(node, "W ", shape_to_string(w), " must have the rank of X ", shape_to_string(x));
  ConvLayout c;
  c.batch = x[0];
  c.in_channels = x[1];
  c.out_channels = w[0];
  c.group = node.attr_int("group", 1);
  if (c.group < 1 || c.group > kMaxWindowAttr) return node_error(node, "invalid group ", c.group);
  if (x[1] != w[1] * c.group || w[0] % c.group != 0)
    return node_error(node, "X ", shape_to_string(x), " and W ", shape_to_string(w), " do not match group ", c.group);
  const std::vector<int64_t> kernel = spatial_dims(w);
  if (node.has_attr("kernel_shape") && node.attr_ints("kernel_shape") != kernel)
    return node_error(node, "kernel_shape does not match W ", shape_to_string(w));
  ISKRA_ASSIGN_OR_RETURN(c.window, input_window(node, spatial_dims(x), kernel, false));
  return c;
}

Result<ConvLayout> conv_transpose_layout(const Node& node, const Shape& x, const Shape& w) {
  ISKRA_RETURN_IF_ERROR(check_spatial_input(node, x));
  if (w.size() != x.size()) return node_error(node, "W ", shape_to_string(w), " must have the rank of X ", shape_to_string(x));
  const size_t n = x.size() - 2;
  ConvLayout c;
  c.batch = x[0];
  c.in_channels = x[1];
  c.group = node.attr_int("group", 1);
  if (c.group < 1 || c.group > kMaxWindowAttr) return node_error(node, "invalid group ", c.group);
  if (w[0] != x[1] || x[1] % c.group != 0)
    return node_error(node, "X ", shape_to_string(x), " and W ", shape_to_string(w), " do not match group ", c.group);
  const std::optional<int64_t> out_channels = checked_mul(w[1], c.group);
  if (!out_channels) return node_error(node, "output channel count overflows");
  c.out_channels = *out_channels;
  SlidingWindow& win = c.window;
  win.kernel = spatial_dims(w);
  ISKRA_RETURN_IF_ERROR(check_kernel(node, win.kernel));
  if (node.has_attr("kernel_shape") && node.attr_ints("kernel_shape") != win.kernel)
    return node_error(node, "kernel_shape does not match W ", shape_to_string(w));
  win.grid = spatial_dims(x);
  ISKRA_RETURN_IF_ERROR(check_spatial_sizes(node, win.grid, "spatial size"));
  ISKRA_ASSIGN_OR_RETURN(win.strides, window_attr(node, "strides", n, 1, 1));
  ISKRA_ASSIGN_OR_RETURN(win.dilations, window_attr(node, "dilations", n, 1, 1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> output_padding, window_attr(node, "output_padding", n, 0, 0));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> pads, window_attr(node, "pads", 2 * n, 0, 0));
  ISKRA_ASSIGN_OR_RETURN(std::string auto_pad, auto_pad_attr(node));
  std::vector<int64_t> output_shape = node.attr_ints("output_shape");
  if (output_shape.size() == n + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
  if (!output_shape.empty() && output_shape.size() != n)
    return node_error(node, "output_shape has ", output_shape.size(), " values, expected ", n);
  ISKRA_RETURN_IF_ERROR(check_spatial_sizes(node, output_shape, "output_shape value"));
  const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
  win.image.resize(n);
  win.pad_begin.resize(n);
  win.pad_end.resize(n);
  for (size_t d = 0; d < n; ++d) {
    const int64_t in = win.grid[d], stride = win.strides[d];
    const int64_t full = stride * (in - 1) + output_padding[d] + window_extent(win, d);
    int64_t out, begin = pads[d], end = pads[n + d];
    if (!output_shape.empty() || same) {
      out = output_shape.empty() ? in * stride : output_shape[d];
      const int64_t total = full - out;
      const int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);  // floor(total / 2)
      begin = auto_pad == "SAME_UPPER" ? half : total - half;
      end = total - begin;
    } else {
      if (auto_pad == "VALID") begin = end = 0;
      out = full - begin - end;
    }
    if (out < 0) return node_error(node, "negative output size on spatial axis ", d);
    win.image[d] = out;
    win.pad_begin[d] = begin;
    win.pad_end[d] = end;
  }
  return c;
}

}  // namespace iskra
