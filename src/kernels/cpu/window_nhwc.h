// The sliding-window ops on channels-last (NHWC) tensors: depthwise
// convolution, MaxPool and AveragePool. Output pixel (oy, ox) reads input
// pixels (oy * stride - pad + ky * dilation, ...) that lie inside the image;
// each pixel's channels are contiguous, so every tap is a run of SIMD loads
// over channels, and borders simply skip the taps outside (Highway, runtime
// dispatch). Output rows are spread over the pool when the work is large.
#pragma once

#include <cstdint>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/depthwise_conv.h"
#include "kernels/cpu/window2d.h"

namespace iskra {
class ThreadPool;
}

namespace iskra::cpu {

struct WindowNhwcJob {
  DepthwiseConvShape shape;  // sizes as for NCHW; the tensors are [N, H, W, C]
  WindowReduce reduce = WindowReduce::kConvolve;
  const float* input = nullptr;  // [N, in_h, in_w, C]
  float* output = nullptr;       // [N, out_h, out_w, C]
  // kConvolve: weights [kernel_h * kernel_w, C] (tap-major), bias [C] or null,
  // residual [N, out_h, out_w, C] or null (may alias output).
  const float* weights = nullptr;
  const float* bias = nullptr;
  const float* residual = nullptr;
  Activation activation;  // kConvolve only, applied last
  // kAverage: 1 / (taps counted) per output row and per output column.
  const float* inv_count_h = nullptr;
  const float* inv_count_w = nullptr;
};

// Kernels up to kWindowMaxKernelH x kWindowMaxKernelW (window2d.h) are taken.
inline bool window_nhwc_supported(const DepthwiseConvShape& s) {
  return s.kernel_h >= 1 && s.kernel_w >= 1 && s.kernel_h <= kWindowMaxKernelH && s.kernel_w <= kWindowMaxKernelW;
}

// Requires window_nhwc_supported(job.shape).
void run_window_nhwc(const WindowNhwcJob& job, ThreadPool* pool);

// The scalar definition of run_window_nhwc: the tests' oracle.
void run_window_nhwc_reference(const WindowNhwcJob& job);

}  // namespace iskra::cpu
