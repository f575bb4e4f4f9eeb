// Direct NHWC convolution for few input channels: the stems of CNNs
// (3 channels of an image into 16-64), where an im2col GEMM has a K of only
// kh·kw·3 and output panels too narrow to fill its tiles; and for few output
// channels (MediaPipe's 8-channel layers at 256x256), where the GEMM's panels
// would be mostly padding.
//
// Each output pixel is a sum over taps and input channels of a broadcast
// input value times a vector of output channels' weights; two neighbouring
// pixels share every weight load, four vectors of output channels are summed
// at once (8 independent accumulators). Output rows are spread over the pool.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/activation.h"

namespace iskra {
class ThreadPool;
}

namespace iskra::cpu {

// Where the direct kernel is used (group 1): up to 4 input channels and 9
// taps. Beyond that its weights no longer stay in L1 (a 7x7 stem with 64
// outputs runs at 2/3 of the im2col GEMM's speed).
inline constexpr int64_t kDirectConvMaxInChannels = 4;
inline constexpr int64_t kDirectConvMaxTaps = 9;
// Also taken for few output channels (any input channels), where the GEMM's
// panels would be mostly padding: vectors of 8 output channels up to 8, else full vectors.
inline constexpr int64_t kDirectConvMaxOutChannels = 16;

inline bool direct_conv_applies(int64_t group, int64_t in_c, int64_t out_c, int64_t taps) {
  return group == 1 && taps <= kDirectConvMaxTaps && (in_c <= kDirectConvMaxInChannels || out_c <= kDirectConvMaxOutChannels);
}

struct DirectConvShape {
  int64_t batch = 1, in_c = 0, out_c = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;
};

// W [out_c, in_c, kh, kw] rearranged as [kh·kw][in_c][out_c padded to a
// multiple of 16] (zeros in the padding: whole vectors on every target), and
// the bias padded the same way.
// For one output channel, also W as [kh][kw][in_c]: each output is then a dot product of
// the window's rows (contiguous without dilation along x) with the weights' rows.
struct DirectConvWeights {
  int64_t padded_out_c = 0;
  std::vector<float> weights, bias;
  std::vector<float> dot;  // out_c 1 only
};
DirectConvWeights direct_conv_weights(const DirectConvShape& s, const float* w, const float* bias);

struct DirectConvJob {
  DirectConvShape shape;
  const DirectConvWeights* weights = nullptr;
  const float* input = nullptr;     // [N, in_h, in_w, in_c]
  float* output = nullptr;          // [N, out_h, out_w, out_c]
  const float* residual = nullptr;  // like output, or null (may alias it)
  Activation activation;
};

void direct_conv_nhwc(const DirectConvJob& job, ThreadPool* pool);

}  // namespace iskra::cpu
