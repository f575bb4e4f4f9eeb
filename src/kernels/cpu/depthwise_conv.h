// Depthwise 2-D convolution (group == channels, one filter per channel), NCHW.
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
void depthwise_conv2d(const DepthwiseConvShape& shape, const float* input, const float* weights,
                      const float* bias, const float* residual, const Activation& act, float* output,
                      ThreadPool* pool);

}  // namespace iskra::cpu
