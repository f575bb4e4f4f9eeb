#include "kernels/cpu/depthwise_conv.h"

namespace iskra::cpu {

void depthwise_conv2d(const DepthwiseConvShape& s, const float* input, const float* weights, const float* bias,
                      const float* residual, const Activation& act, float* output, ThreadPool*) {
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t c = 0; c < s.channels; ++c) {
      const float* in = input + (n * s.channels + c) * s.in_h * s.in_w;
      const float* w = weights + c * s.kernel_h * s.kernel_w;
      const int64_t plane = (n * s.channels + c) * s.out_h * s.out_w;
      for (int64_t oy = 0; oy < s.out_h; ++oy) {
        for (int64_t ox = 0; ox < s.out_w; ++ox) {
          float sum = bias ? bias[c] : 0.0f;
          for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
            const int64_t iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
            if (iy < 0 || iy >= s.in_h) continue;
            for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
              const int64_t ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
              if (ix < 0 || ix >= s.in_w) continue;
              sum += in[iy * s.in_w + ix] * w[ky * s.kernel_w + kx];
            }
          }
          const int64_t o = plane + oy * s.out_w + ox;
          if (residual) sum += residual[o];
          output[o] = activation_reference(act, sum);
        }
      }
    }
  }
}

}  // namespace iskra::cpu
