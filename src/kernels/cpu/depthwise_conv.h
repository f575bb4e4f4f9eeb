// Depthwise 2-D convolution (group == channels, one filter per channel), NCHW.
//
// depthwise_conv2d handles every shape. The SIMD path (window2d.h) covers
// kernels up to 16x16 and stride_w <= 4, with any stride_h, dilation and
// padding; 3x3 and 5x5 kernels are unrolled. Anything else runs
// depthwise_conv2d_reference. Threads (the pool) split planes or rows when a
// call has more than ~128K window taps. Measured (1 thread, Sapphire Rapids):
// 25-55 GFLOP/s on 28x28 and larger planes, 10-30 on 7x7/14x14 planes.
#pragma once

#include <cstdint>

#include "kernels/cpu/activation.h"

namespace iskra {
class ThreadPool;
}

namespace iskra::cpu {

struct DepthwiseConvShape {
  int64_t batch = 1, channels = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;  // bottom/right padding follows from the output size
};

// output[n, c] = act(sum_k input[n, c] (*) weights[c] + bias[c] + residual[n, c]).
// weights [C, kh, kw]; bias [C] or null; residual [N, C, out_h, out_w] or null.
// `output` may alias `residual` (each element is read before it is written).
void depthwise_conv2d(const DepthwiseConvShape& shape, const float* input, const float* weights,
                      const float* bias, const float* residual, const Activation& act, float* output,
                      ThreadPool* pool);

// The scalar definition of depthwise_conv2d (the tests' oracle and the
// fallback for shapes outside the SIMD path).
void depthwise_conv2d_reference(const DepthwiseConvShape& shape, const float* input, const float* weights,
                                const float* bias, const float* residual, const Activation& act, float* output);

}  // namespace iskra::cpu
