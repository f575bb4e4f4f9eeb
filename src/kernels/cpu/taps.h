// The kernel taps of a sliding window that fall inside the image, shared by
// the direct NHWC kernels (window_nhwc.cc, direct_conv_nhwc.cc).
#pragma once

#include <algorithm>
#include <cstdint>

namespace iskra::cpu {

// Taps [begin, end) of a window along one axis: origin + k * dilation in [0, size).
struct TapRange {
  int64_t begin, end;
};

inline TapRange valid_taps(int64_t origin, int64_t kernel, int64_t dilation, int64_t size) {
  int64_t begin = origin >= 0 ? 0 : (-origin + dilation - 1) / dilation;
  const int64_t end = origin >= size ? 0 : std::min(kernel, (size - 1 - origin) / dilation + 1);
  begin = std::min(begin, end);
  return {begin, end};
}

// Output positions [begin, end) along one axis whose whole window lies inside the image.
inline TapRange interior_outputs(int64_t out, int64_t size, int64_t kernel, int64_t stride, int64_t dilation,
                                 int64_t pad_begin) {
  const int64_t extent = (kernel - 1) * dilation;
  const int64_t begin = std::min(out, (pad_begin + stride - 1) / stride);
  const int64_t last_start = size - 1 - extent + pad_begin;  // largest o * stride
  const int64_t end = last_start >= 0 ? std::min(out, last_start / stride + 1) : 0;
  return {begin, std::max(begin, end)};
}

}  // namespace iskra::cpu
