// What the NCHW (conv_kernels.cc) and NHWC (conv_nhwc_kernels.cc) fast
// convolutions share: the 2-D geometry and the per-thread im2col scratch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "kernels/window.h"

namespace iskra::cpu {

// Per-thread scratch for im2col: grows to the largest need, then stays.
inline float* im2col_scratch(size_t floats) {
  struct Buffer {
    std::unique_ptr<float[], void (*)(float*)> data{nullptr, [](float* p) { ::operator delete[](p, std::align_val_t{64}); }};
    size_t size = 0;
  };
  thread_local Buffer buffer;
  if (buffer.size < floats) {
    buffer.data.reset(static_cast<float*>(::operator new[](floats * sizeof(float), std::align_val_t{64})));
    buffer.size = floats;
  }
  return buffer.data.get();
}

struct Conv2dGeometry {
  int64_t batch, in_c, out_c, group;
  int64_t in_h, in_w, out_h, out_w;
  int64_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;

  int64_t in_c_per_group() const { return in_c / group; }
  int64_t out_c_per_group() const { return out_c / group; }
  int64_t gemm_k() const { return in_c_per_group() * k_h * k_w; }
  int64_t out_plane() const { return out_h * out_w; }
  bool is_pointwise() const {
    return k_h == 1 && k_w == 1 && stride_h == 1 && stride_w == 1 && pad_t == 0 && pad_l == 0;
  }
};

// The geometry of a 2-D Conv (or ConvTranspose, with "in" and "out" the
// other way round) from its resolved layout.
inline Conv2dGeometry conv2d_geometry(const ConvLayout& c, bool transposed) {
  const SlidingWindow& w = c.window;
  const Shape& in = transposed ? w.grid : w.image;
  const Shape& out = transposed ? w.image : w.grid;
  return Conv2dGeometry{c.batch, c.in_channels, c.out_channels, c.group,
                        in[0], in[1], out[0], out[1],
                        w.kernel[0], w.kernel[1], w.strides[0], w.strides[1], w.dilations[0], w.dilations[1],
                        w.pad_begin[0], w.pad_begin[1]};
}

}  // namespace iskra::cpu
