// One sliding-window engine for the per-channel 2-D ops on NCHW planes:
// depthwise convolution, MaxPool and AveragePool. Window `o` of an output
// plane covers input positions o * stride - pad_begin + k * dilation; the
// engine stages the input rows a task needs into zero/-inf padded copies
// (split into stride phases, so that every kernel tap is a contiguous vector
// load) and reduces runs of outputs with SIMD (Highway, runtime dispatch).
// Work is split over the pool by planes, or by row blocks when the planes
// are few; small calls stay on the calling thread.
//
// Implemented in depthwise_conv.cc (the engine would move to window2d.cc).
#pragma once

#include <cstdint>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/depthwise_conv.h"

namespace iskra {
class ThreadPool;
}

namespace iskra::cpu {

enum class WindowReduce : uint8_t {
  kConvolve,  // sum of weight * input, padding reads 0
  kMax,       // max over the window, padding reads -inf
  kAverage,   // sum over the window times inv_count_h[oy] * inv_count_w[ox], padding reads 0
};

struct Window2dJob {
  DepthwiseConvShape shape;
  WindowReduce reduce = WindowReduce::kConvolve;
  const float* input = nullptr;     // [N, C, in_h, in_w]
  float* output = nullptr;          // [N, C, out_h, out_w]
  // kConvolve: weights [C, kh, kw]; bias [C] or null; residual [N, C, out_h, out_w] or null.
  const float* weights = nullptr;
  const float* bias = nullptr;
  const float* residual = nullptr;
  Activation activation;  // applied last (kConvolve only)
  // kAverage: 1 / (number of taps counted) per output row and per output column.
  const float* inv_count_h = nullptr;
  const float* inv_count_w = nullptr;
};

// The largest kernel and stride_w the SIMD engine takes; window2d_supported
// tells whether a shape is within them (depthwise_conv2d falls back to the
// scalar definition otherwise; pools decline).
inline constexpr int64_t kWindowMaxKernelH = 16;
inline constexpr int64_t kWindowMaxKernelW = 16;
inline constexpr int64_t kWindowMaxStrideW = 4;
bool window2d_supported(const DepthwiseConvShape& shape);

// Runs the job, spread over `pool` (may be null) when the work is large.
// Requires window2d_supported(job.shape).
void run_window2d(const Window2dJob& job, ThreadPool* pool);

}  // namespace iskra::cpu
