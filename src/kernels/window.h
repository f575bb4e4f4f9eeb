// Sliding-window geometry shared by Conv-like and pooling ops, reference and
// fast kernels alike: window `o` of the "grid" covers the "image" positions
//     o * stride - pad_begin + k * dilation      for every kernel element k.
// For Conv and the pools the grid is the output and the image the input (they
// gather); for ConvTranspose the grid is the input and the image the output
// (it scatters). Attributes are validated here, once, with errors naming the node.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace iskra {

// Bounds that reject absurd models and keep every window size computation
// within int64: kernel/stride/dilation/pad/group values and spatial sizes.
inline constexpr int64_t kMaxWindowAttr = int64_t{1} << 24;
inline constexpr int64_t kMaxSpatialSize = int64_t{1} << 36;

// The spatial dims of [N, C, D...].
Shape spatial_dims(const Shape& shape);

// An ints attribute of `count` values in [lo, kMaxWindowAttr]; `fallback`
// repeated when absent or empty.
Result<std::vector<int64_t>> window_attr(const Node& node, const char* name, size_t count, int64_t fallback,
                                         int64_t lo);
Status check_kernel(const Node& node, const std::vector<int64_t>& kernel);
// X of a Conv/pool-like op: [N, C, D1, ...] with at least one spatial axis.
Status check_spatial_input(const Node& node, const Shape& x);
Result<std::string> auto_pad_attr(const Node& node);
Status check_spatial_sizes(const Node& node, std::span<const int64_t> sizes, const char* what);

struct SlidingWindow {
  Shape grid;   // window positions
  Shape image;  // the positions windows cover
  std::vector<int64_t> kernel, strides, dilations, pad_begin, pad_end;
};

inline int64_t window_extent(const SlidingWindow& w, size_t d) { return (w.kernel[d] - 1) * w.dilations[d] + 1; }

// The window of Conv/pool-like ops over `image` from the node's strides,
// dilations, pads and auto_pad; computes the output (grid) size:
//   explicit pads: floor((in + pads - extent) / stride) + 1, or ceil with
//                  ceil_mode, dropping a last window that starts in the end pad;
//   SAME_*:        ceil(in / stride), total pad (out-1)*stride + extent - in,
//                  the odd pad at the end (SAME_UPPER) or beginning (SAME_LOWER);
//   VALID:         no padding.
Result<SlidingWindow> input_window(const Node& node, const Shape& image, std::vector<int64_t> kernel,
                                   bool ceil_mode);

// A window covering the whole image once (the Global* pools).
SlidingWindow global_window(const Shape& image);

// Channels and window of a convolution. Conv/ConvInteger/DeformConv: grid =
// output spatial, image = input spatial. ConvTranspose: the reverse.
struct ConvLayout {
  int64_t batch = 0, in_channels = 0, out_channels = 0, group = 1;
  SlidingWindow window;
};

// Validates X [N, C, D...] and W [M, C/group, k...] of Conv, ConvInteger and
// DeformConv and resolves their window.
Result<ConvLayout> conv_layout(const Node& node, const Shape& x, const Shape& w);

// ConvTranspose: X [N, C, D...], W [C, M/group, k...] -> Y [N, M, out...] with
//   out = stride*(in-1) + output_padding + extent - pad_begin - pad_end,
// or the given output_shape / SAME output (in*stride) whose total padding is
// split with the odd unit at the start (at the end for SAME_UPPER).
Result<ConvLayout> conv_transpose_layout(const Node& node, const Shape& x, const Shape& w);

}  // namespace iskra
