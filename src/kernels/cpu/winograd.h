// Winograd F(4x4, 3x3) convolution on channels-last tensors (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", points 0, ±1, ±2):
// each 4x4 block of output pixels ("tile") is
//     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
// for the 6x6 input patch d and every 3x3 filter g. Summed over input
// channels, the ⊙ becomes 36 matrix products, one per position of the 6x6
// transform:
//     M_pos[tiles, C_out] = V_pos[tiles, C_in] · U_pos[C_in, C_out]
// with U the transformed weights (packed once) and V the transformed input.
// That is 36 multiply-adds per tile and channel pair instead of 144: the
// GEMMs do 4x fewer FLOPs than a direct 3x3 convolution, for the price of the
// transforms and of V and M passing through memory.
//
// Three phases, each spread over the pool: input transform (tile rows),
// 36 GEMMs (one per position), output transform with bias, residual and
// activation (tile rows). Transforms are SIMD over channels.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"

namespace iskra {
class ThreadPool;
}

namespace iskra::cpu {

inline constexpr int64_t kWinogradTile = 4;       // output pixels per tile side
inline constexpr int64_t kWinogradPatch = 6;      // input pixels per patch side
inline constexpr int64_t kWinogradPositions = 36; // 6 x 6

struct WinogradShape {
  int64_t batch = 1, in_c = 0, out_c = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t pad_top = 0, pad_left = 0;  // stride 1, dilation 1, group 1

  int64_t tiles_h() const { return (out_h + kWinogradTile - 1) / kWinogradTile; }
  int64_t tiles_w() const { return (out_w + kWinogradTile - 1) / kWinogradTile; }
  int64_t tiles() const { return tiles_h() * tiles_w(); }
};

// U: for each of the 36 positions, the C_in × C_out matrix of transformed
// weights, packed as a GEMM's right operand. `w` is [C_out, C_in, 3, 3].
std::vector<PackedMatrix> winograd_weights(const float* w, int64_t out_c, int64_t in_c);

struct WinogradJob {
  WinogradShape shape;
  const std::vector<PackedMatrix>* weights = nullptr;  // from winograd_weights
  const float* input = nullptr;     // [N, in_h, in_w, C_in]
  float* output = nullptr;          // [N, out_h, out_w, C_out]
  const float* bias = nullptr;      // [C_out] or null
  const float* residual = nullptr;  // [N, out_h, out_w, C_out] or null (may alias output)
  Activation activation;
};

// Floats of scratch the job needs (V and M of one image).
int64_t winograd_scratch_floats(const WinogradShape& s);

// Runs the convolution; `scratch` holds winograd_scratch_floats(job.shape) floats.
void winograd_conv(const WinogradJob& job, float* scratch, ThreadPool* pool);

// Whether F(4x4, 3x3) should beat the im2col GEMM for this shape: estimated
// from the GEMM FLOPs saved against the memory V, M and U move.
bool winograd_pays_off(const WinogradShape& s);

}  // namespace iskra::cpu
