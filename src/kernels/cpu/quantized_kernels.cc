// Fast kernels of quantized models: per-tensor QuantizeLinear and
// DequantizeLinear (float32 <-> int8 / uint8), MaxPoolNhwc on integers, and
// the int8 channels-last convolution QLinearConvNhwc (TFLite's quantized
// CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED) with int8 X, W, Y, a
// per-tensor input and output quantization and symmetric weights (zero point
// 0, one scale per output channel or one for all):
//
//   acc[p, m] = sum_k (x[p, k] - x_zp) * w[k, m] + bias[m]              (int32)
//   y[p, m]   = clamp(round(acc * x_scale * w_scale[m] / y_scale) + y_zp)
//
//   group 1       im2col rows of 6 output pixels against W packed for 4-byte
//                 dot products. The rows hold x + 128 as unsigned bytes, the
//                 operand order of AVX-512 VNNI's vpdpbusd (u8 x s8 → s32);
//                 the +128 and x_zp come back out as one per-channel constant
//                 (correction[m] = bias[m] - (128 + x_zp) * sum_k w[k, m]).
//                 Other CPUs run the same layout in plain C++.
//   depthwise     per output pixel, int32 sums over the taps: with AVX-512BW
//   (group == C   32 channels at a time, (x - x_zp) * w exact in int16 then
//    == M)        widened; elsewhere a loop the compiler vectorizes.
//   other groups  the reference kernel.
// Requantization is in float32 (as XNNPACK's), so a value on a rounding tie
// may land one step away from the reference kernel, which rounds in double.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu/conv_common.h"
#include "kernels/cpu/parallel_chunks.h"
#include "kernels/cpu/quantized_kernels.h"
#include "kernels/cpu/register.h"
#include "kernels/window.h"
#include "kernels/layout.h"

namespace iskra::cpu {

namespace {

using Prepared = Result<std::unique_ptr<PreparedKernel>>;

// Not under ThreadSanitizer: the clones' ifunc resolver runs during relocation, before the TSan
// runtime it is instrumented to call exists (the test binaries crashed before main).
#if defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define ISKRA_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ISKRA_SIMD_CLONES
#endif

constexpr int64_t kTileRows = 6;      // output pixels per micro-kernel call
constexpr int64_t kTileChannels = 32;  // output channels per micro-kernel call (two 16-lane vectors)

// One int32 accumulator to int8: round(acc * multiplier) + zero point, clamped to [lo, hi].
inline int8_t requantize(int32_t acc, float multiplier, int32_t zp, int32_t lo, int32_t hi) {
  const int32_t q = static_cast<int32_t>(std::nearbyint(static_cast<float>(acc) * multiplier)) + zp;
  return static_cast<int8_t>(std::min(std::max(q, lo), hi));
}

// Per output channel: the int32 constant added to the raw dot product, and
// the float multiplier of the requantization.
struct Requantization {
  std::vector<int32_t> correction;
  std::vector<float> multiplier;
  int32_t y_zero_point = 0, lo = -128, hi = 127;

  int8_t apply(int32_t acc, int64_t m) const {
    const auto i = static_cast<size_t>(m);
    return requantize(acc + correction[i], multiplier[i], y_zero_point, lo, hi);
  }
};

bool cpu_has_vnni() {
#if defined(__x86_64__)
  static const bool has = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return has;
#else
  return false;
#endif
}

// acc[r][j] = sum over k4 of the 4-byte dot product of a row r and channel j (u8 x s8).
// a: rows of k4 * 4 bytes, a_stride apart; w: k4 blocks of kTileChannels * 4 bytes, w_stride apart.
void dot_tile_portable(const uint8_t* a, int64_t a_stride, int64_t rows, const int8_t* w, int64_t w_stride,
                       int64_t k4, int32_t* acc) {
  for (int64_t r = 0; r < rows; ++r) {
    int32_t sums[kTileChannels] = {};
    const uint8_t* row = a + r * a_stride;
    for (int64_t k = 0; k < k4; ++k) {
      const int8_t* wk = w + k * w_stride;
      for (int64_t j = 0; j < kTileChannels; ++j)
        for (int64_t b = 0; b < 4; ++b) sums[j] += int32_t{row[k * 4 + b]} * int32_t{wk[j * 4 + b]};
    }
    std::memcpy(acc + r * kTileChannels, sums, sizeof(sums));
  }
}

#if defined(__x86_64__)
// Requantizes 16 accumulators of channels m0.. (lanes past `width` are not stored).
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void store_requantized16(__m512i acc, const float* multiplier,
                                                                                     __m512i zp, __m512i lo, __m512i hi,
                                                                                     int64_t width, int8_t* y) {
  if (width <= 0) return;
  const __mmask16 mask = width >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << width) - 1);
  const __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_maskz_loadu_ps(mask, multiplier));
  __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(scaled), zp);  // round to nearest even
  q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
  _mm_mask_storeu_epi8(y, mask, _mm512_cvtepi32_epi8(q));
}

// The same tile, requantized and stored: y rows y_stride apart, channels m0 .. m0 + width.
// Rows `count` (<= kTileRows) rows of A against 32 channels of W, requantized and stored: y
// rows y_stride apart, channels m0 .. m0 + width. Always computes six rows (the missing ones
// repeat row 0, not stored), with the twelve accumulators named so they stay in registers.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void tile_vnni(
    const uint8_t* a, int64_t a_stride, int64_t count, const int8_t* w, int64_t w_stride, int64_t k4,
    const int32_t* correction, const float* multiplier, int32_t y_zp, int32_t lo, int32_t hi, int64_t width,
    int8_t* y, int64_t y_stride) {
  static_assert(kTileRows == 6);
  const uint8_t* row[6];
  for (int64_t r = 0; r < 6; ++r) row[r] = a + (r < count ? r : 0) * a_stride;
  const auto bcast = [](const uint8_t* p) {
    int32_t four;
    std::memcpy(&four, p, 4);
    return four;
  };
  __m512i a0 = _mm512_setzero_si512(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0;
  __m512i a3 = a0, b3 = a0, a4 = a0, b4 = a0, a5 = a0, b5 = a0;
  for (int64_t k = 0; k < k4; ++k) {
    const __m512i w0 = _mm512_loadu_si512(w + k * w_stride);
    const __m512i w1 = _mm512_loadu_si512(w + k * w_stride + 64);
    __m512i x = _mm512_set1_epi32(bcast(row[0] + k * 4));
    a0 = _mm512_dpbusd_epi32(a0, x, w0), b0 = _mm512_dpbusd_epi32(b0, x, w1);
    x = _mm512_set1_epi32(bcast(row[1] + k * 4));
    a1 = _mm512_dpbusd_epi32(a1, x, w0), b1 = _mm512_dpbusd_epi32(b1, x, w1);
    x = _mm512_set1_epi32(bcast(row[2] + k * 4));
    a2 = _mm512_dpbusd_epi32(a2, x, w0), b2 = _mm512_dpbusd_epi32(b2, x, w1);
    x = _mm512_set1_epi32(bcast(row[3] + k * 4));
    a3 = _mm512_dpbusd_epi32(a3, x, w0), b3 = _mm512_dpbusd_epi32(b3, x, w1);
    x = _mm512_set1_epi32(bcast(row[4] + k * 4));
    a4 = _mm512_dpbusd_epi32(a4, x, w0), b4 = _mm512_dpbusd_epi32(b4, x, w1);
    x = _mm512_set1_epi32(bcast(row[5] + k * 4));
    a5 = _mm512_dpbusd_epi32(a5, x, w0), b5 = _mm512_dpbusd_epi32(b5, x, w1);
  }
  const __m512i zp = _mm512_set1_epi32(y_zp), vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
  // correction is padded to whole tiles: the loads need no mask.
  const __m512i corr0 = _mm512_loadu_si512(correction), corr1 = _mm512_loadu_si512(correction + 16);
  const __m512i first[6] = {a0, a1, a2, a3, a4, a5}, second[6] = {b0, b1, b2, b3, b4, b5};
  for (int64_t r = 0; r < count; ++r) {
    store_requantized16(_mm512_add_epi32(first[r], corr0), multiplier, zp, vlo, vhi, width, y + r * y_stride);
    store_requantized16(_mm512_add_epi32(second[r], corr1), multiplier + 16, zp, vlo, vhi, width - 16,
                        y + r * y_stride + 16);
  }
}
#endif

// Per-thread byte scratch for the im2col rows.
uint8_t* byte_scratch(size_t bytes) { return reinterpret_cast<uint8_t*>(im2col_scratch((bytes + 3) / 4)); }

struct QuantParams {
  float x_scale = 0, y_scale = 0;
  int32_t x_zero_point = 0, y_zero_point = 0;
  std::vector<float> w_scale;  // per output channel
};

class QConvGemmKernel final : public PreparedKernel {
 public:
  QConvGemmKernel(const Conv2dGeometry& g, const int8_t* w, const int32_t* bias, const QuantParams& q,
                  int32_t lo, int32_t hi)
      : g_(g), k_(g.gemm_k()), k4_((g.gemm_k() + 3) / 4), vnni_(cpu_has_vnni()) {
    const int64_t m = g.out_c, taps = g.k_h * g.k_w, tiles = (m + kTileChannels - 1) / kTileChannels;
    // packed_[tile][k4][j][b] = W[m = tile*32 + j] at gemm row k = k4*4 + b, the rows ordered
    // (ky, kx, c) as the im2col rows; zero past K and past M.
    packed_.assign(static_cast<size_t>(tiles * k4_ * kTileChannels * 4), 0);
    rq_.correction.assign(static_cast<size_t>(tiles * kTileChannels), 0);  // padded: whole-tile loads
    rq_.multiplier.resize(static_cast<size_t>(m));
    for (int64_t o = 0; o < m; ++o) {
      int64_t sum = 0;
      for (int64_t c = 0; c < g.in_c; ++c)
        for (int64_t t = 0; t < taps; ++t) {
          const int8_t v = w[(o * g.in_c + c) * taps + t];
          const int64_t k = t * g.in_c + c;
          packed_[static_cast<size_t>((((o / kTileChannels) * k4_ + k / 4) * kTileChannels + o % kTileChannels) * 4 + k % 4)] = v;
          sum += v;
        }
      rq_.correction[static_cast<size_t>(o)] =
          static_cast<int32_t>((bias ? bias[o] : 0) - (128 + int64_t{q.x_zero_point}) * sum);
      rq_.multiplier[static_cast<size_t>(o)] = q.x_scale * q.w_scale[static_cast<size_t>(o)] / q.y_scale;
    }
    rq_.y_zero_point = q.y_zero_point;
    rq_.lo = lo;
    rq_.hi = hi;
    pad_byte_ = static_cast<uint8_t>(q.x_zero_point + 128);
  }

  Status run(KernelContext& ctx) override {
    const int64_t pixels = g_.out_plane();
    const int64_t rows_total = g_.batch * pixels;
    const int64_t tiles_total = (rows_total + kTileRows - 1) / kTileRows;
    const int8_t* x = ctx.input(0).data<int8_t>();
    int8_t* y = ctx.output(0).data<int8_t>();
    const int64_t work_per_tile = kTileRows * k_ * g_.out_c;
    for_each_chunk(ctx.pool, tiles_total, std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(work_per_tile, 1)), 1,
                   [&](int64_t t0, int64_t t1) {
                     uint8_t* rows = byte_scratch(static_cast<size_t>(kTileRows * k4_ * 4));
                     for (int64_t t = t0; t < t1; ++t) {
                       const int64_t r0 = t * kTileRows, r1 = std::min(rows_total, r0 + kTileRows);
                       if (rows_are_pixels_) {  // a pointwise conv: the rows are X's pixels themselves
                         flip_sign(x + r0 * k_, rows, (r1 - r0) * k_);
                       } else {
                         for (int64_t r = r0; r < r1; ++r) im2col_row(x, r / pixels, r % pixels, rows + (r - r0) * k4_ * 4);
                       }
                       compute_tile(rows, r1 - r0, y + r0 * g_.out_c);
                     }
                   });
    return Status::ok();
  }

 private:
  // The gemm row of output pixel p of image n: x + 128 per (ky, kx, c), x_zp + 128 outside the image.
  void im2col_row(const int8_t* x, int64_t n, int64_t p, uint8_t* row) const {
    const int64_t oy = p / g_.out_w, ox = p % g_.out_w;
    const int8_t* image = x + n * g_.in_h * g_.in_w * g_.in_c;
    uint8_t* out = row;
    const int64_t ix0 = ox * g_.stride_w - g_.pad_l;
    // A kernel row inside the image is one contiguous run of X when dilation does not cut it.
    const bool row_inside = g_.dil_w == 1 && ix0 >= 0 && ix0 + g_.k_w <= g_.in_w;
    for (int64_t ky = 0; ky < g_.k_h; ++ky) {
      const int64_t iy = oy * g_.stride_h - g_.pad_t + ky * g_.dil_h;
      if (row_inside && iy >= 0 && iy < g_.in_h) {
        flip_sign(image + (iy * g_.in_w + ix0) * g_.in_c, out, g_.k_w * g_.in_c);
        out += g_.k_w * g_.in_c;
        continue;
      }
      for (int64_t kx = 0; kx < g_.k_w; ++kx, out += g_.in_c) {
        const int64_t ix = ox * g_.stride_w - g_.pad_l + kx * g_.dil_w;
        if (iy < 0 || iy >= g_.in_h || ix < 0 || ix >= g_.in_w) {
          std::memset(out, pad_byte_, static_cast<size_t>(g_.in_c));
          continue;
        }
        flip_sign(image + (iy * g_.in_w + ix) * g_.in_c, out, g_.in_c);
      }
    }
    std::memset(out, 0, static_cast<size_t>(k4_ * 4 - k_));
  }

  static void flip_sign(const int8_t* in, uint8_t* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(in[i] ^ int8_t{-128});
  }

  void compute_tile(const uint8_t* rows, int64_t count, int8_t* y) const {
    alignas(64) int32_t acc[kTileRows * kTileChannels];
    const int64_t m = g_.out_c;
    for (int64_t m0 = 0; m0 < m; m0 += kTileChannels) {
      const int8_t* w = packed_.data() + (m0 / kTileChannels) * k4_ * kTileChannels * 4;
#if defined(__x86_64__)
      if (vnni_) {
        const int64_t width = std::min(kTileChannels, m - m0);
        const int32_t* corr = rq_.correction.data() + m0;
        const float* mult = rq_.multiplier.data() + m0;
        const int64_t a_stride = k4_ * 4;
        tile_vnni(rows, a_stride, count, w, kTileChannels * 4, k4_, corr, mult, rq_.y_zero_point, rq_.lo, rq_.hi,
                  width, y + m0, m);
        continue;
      }
#endif
      dot_tile_portable(rows, k4_ * 4, count, w, kTileChannels * 4, k4_, acc);
      const int64_t width = std::min(kTileChannels, m - m0);
      for (int64_t r = 0; r < count; ++r)
        for (int64_t j = 0; j < width; ++j) y[r * m + m0 + j] = rq_.apply(acc[r * kTileChannels + j], m0 + j);
    }
  }

  Conv2dGeometry g_;
  int64_t k_, k4_;
  bool vnni_;
  bool rows_are_pixels_ = g_.is_pointwise() && g_.k_h * g_.k_w * g_.in_c % 4 == 0;  // no im2col, no K padding
  uint8_t pad_byte_ = 0;
  std::vector<int8_t> packed_;
  Requantization rq_;
};

// One output row of a depthwise convolution: per pixel acc[c] = bias[c] + sum over the taps
// inside the image of (x - x_zp) * w[tap][c] (padding is x_zp: it adds 0), requantized.
// One function per row, so the clone dispatch and the loop setup happen once a row.
ISKRA_SIMD_CLONES void depthwise_row(const Conv2dGeometry& g, const int8_t* image, int64_t oy, const int16_t* w,
                                     const int32_t* bias, const float* multiplier, int32_t x_zp, int32_t y_zp,
                                     int32_t lo, int32_t hi, int32_t* acc, int8_t* y) {
  const int64_t c = g.out_c;
  for (int64_t ox = 0; ox < g.out_w; ++ox) {
    for (int64_t i = 0; i < c; ++i) acc[i] = bias[i];
    for (int64_t ky = 0; ky < g.k_h; ++ky) {
      const int64_t iy = oy * g.stride_h - g.pad_t + ky * g.dil_h;
      if (iy < 0 || iy >= g.in_h) continue;
      for (int64_t kx = 0; kx < g.k_w; ++kx) {
        const int64_t ix = ox * g.stride_w - g.pad_l + kx * g.dil_w;
        if (ix < 0 || ix >= g.in_w) continue;
        const int8_t* xp = image + (iy * g.in_w + ix) * c;
        const int16_t* wp = w + (ky * g.k_w + kx) * c;
        for (int64_t i = 0; i < c; ++i) acc[i] += (int32_t{xp[i]} - x_zp) * int32_t{wp[i]};
      }
    }
    int8_t* out = y + ox * c;
    for (int64_t i = 0; i < c; ++i) out[i] = requantize(acc[i], multiplier[i], y_zp, lo, hi);
  }
}

#if defined(__x86_64__)
// The depthwise weights as AVX-512BW's vpmaddwd wants them: taps in pairs (an odd last tap
// paired with zeros), per pair and block of 32 channels two vectors of 32 int16, each the
// (tap a, tap b) weights of the channels that _mm512_unpacklo_epi16 / _mm512_unpackhi_epi16
// of the two taps' inputs hold: 8L + i and 8L + 4 + i (128-bit lane L, i < 4). The input
// zero point is folded into the bias (sum over all taps), so taps outside the image read a
// row of zero points instead of being skipped.
struct DepthwisePairs {
  int64_t blocks = 0, pairs = 0;
  std::vector<int16_t> weights;  // [pair][block][lo 32, hi 32]
  std::vector<int32_t> bias;     // [blocks * 32], bias - x_zp * sum over taps of w
  std::vector<int8_t> zero_row;  // [blocks * 32] of x_zp

  DepthwisePairs(int64_t c, int64_t taps, const int16_t* w_tap_major, const int32_t* b, int32_t x_zp)
      : blocks((c + 31) / 32), pairs((taps + 1) / 2) {
    weights.assign(static_cast<size_t>(pairs * blocks * 64), 0);
    const auto w_at = [&](int64_t t, int64_t ch) -> int16_t { return t < taps && ch < c ? w_tap_major[t * c + ch] : 0; };
    for (int64_t pr = 0; pr < pairs; ++pr)
      for (int64_t bl = 0; bl < blocks; ++bl) {
        int16_t* v = weights.data() + (pr * blocks + bl) * 64;
        for (int64_t lane = 0; lane < 4; ++lane)
          for (int64_t i = 0; i < 4; ++i)
            for (int64_t half = 0; half < 2; ++half) {
              const int64_t ch = bl * 32 + lane * 8 + half * 4 + i;
              v[half * 32 + lane * 8 + 2 * i] = w_at(2 * pr, ch);
              v[half * 32 + lane * 8 + 2 * i + 1] = w_at(2 * pr + 1, ch);
            }
      }
    bias.assign(static_cast<size_t>(blocks * 32), 0);
    for (int64_t ch = 0; ch < c; ++ch) {
      int64_t sum = 0;
      for (int64_t t = 0; t < taps; ++t) sum += w_at(t, ch);
      bias[static_cast<size_t>(ch)] = static_cast<int32_t>(b[ch] - int64_t{x_zp} * sum);
    }
    zero_row.assign(static_cast<size_t>(blocks * 32), static_cast<int8_t>(x_zp));
  }
};

__attribute__((target("avx512f,avx512bw,avx512vl"))) void depthwise_row_avx512(
    const Conv2dGeometry& g, const DepthwisePairs& dw, const int8_t* image, int64_t oy, const float* multiplier,
    int32_t y_zp, int32_t lo, int32_t hi, int8_t* y) {
  const int64_t c = g.out_c, taps = g.k_h * g.k_w;
  const __m512i zp = _mm512_set1_epi32(y_zp), vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
  // acc_lo lane 4L + i holds channel 8L + i, acc_hi lane 4L + i channel 8L + 4 + i; back to channel order:
  const __m512i to_first16 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i to_second16 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  const int8_t* tap_small[64];
  std::vector<const int8_t*> tap_big;  // kernels of more than 64 taps only
  if (2 * dw.pairs > 64) tap_big.resize(static_cast<size_t>(2 * dw.pairs));
  const int8_t** tap = tap_big.empty() ? tap_small : tap_big.data();
  for (int64_t ox = 0; ox < g.out_w; ++ox) {
    for (int64_t ky = 0, t = 0; ky < g.k_h; ++ky)
      for (int64_t kx = 0; kx < g.k_w; ++kx, ++t) {
        const int64_t iy = oy * g.stride_h - g.pad_t + ky * g.dil_h, ix = ox * g.stride_w - g.pad_l + kx * g.dil_w;
        const bool inside = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
        tap[t] = inside ? image + (iy * g.in_w + ix) * c : dw.zero_row.data();
      }
    if (taps % 2) tap[taps] = dw.zero_row.data();  // its weights are 0
    for (int64_t bl = 0; bl < dw.blocks; ++bl) {
      const int64_t c0 = bl * 32, width = std::min<int64_t>(32, c - c0);
      const __mmask32 mask = width == 32 ? ~__mmask32(0) : static_cast<__mmask32>((uint64_t{1} << width) - 1);
      __m512i acc_lo = _mm512_setzero_si512(), acc_hi = _mm512_setzero_si512();
      for (int64_t pr = 0; pr < dw.pairs; ++pr) {
        const __m512i xa = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, tap[2 * pr] + c0));
        const __m512i xb = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, tap[2 * pr + 1] + c0));
        const int16_t* wv = dw.weights.data() + (pr * dw.blocks + bl) * 64;
        acc_lo = _mm512_add_epi32(acc_lo, _mm512_madd_epi16(_mm512_unpacklo_epi16(xa, xb), _mm512_loadu_si512(wv)));
        acc_hi = _mm512_add_epi32(acc_hi, _mm512_madd_epi16(_mm512_unpackhi_epi16(xa, xb), _mm512_loadu_si512(wv + 32)));
      }
      const __m512i first = _mm512_add_epi32(_mm512_permutex2var_epi32(acc_lo, to_first16, acc_hi),
                                             _mm512_loadu_si512(dw.bias.data() + c0));
      const __m512i second = _mm512_add_epi32(_mm512_permutex2var_epi32(acc_lo, to_second16, acc_hi),
                                              _mm512_loadu_si512(dw.bias.data() + c0 + 16));
      int8_t* out = y + ox * c + c0;
      store_requantized16(first, multiplier + c0, zp, vlo, vhi, width, out);
      store_requantized16(second, multiplier + c0 + 16, zp, vlo, vhi, width - 16, out + 16);
    }
  }
}

bool cpu_has_avx512bw() {
  static const bool has = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return has;
}
#endif

class QConvDepthwiseKernel final : public PreparedKernel {
 public:
  QConvDepthwiseKernel(const Conv2dGeometry& g, const int8_t* w, const int32_t* bias, const QuantParams& q,
                       int32_t lo, int32_t hi)
      : g_(g), q_(q), lo_(lo), hi_(hi) {
    const int64_t c = g.out_c, taps = g.k_h * g.k_w;
    weights_.resize(static_cast<size_t>(taps * c));  // [tap][c]
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t t = 0; t < taps; ++t) weights_[static_cast<size_t>(t * c + ch)] = w[ch * taps + t];
    bias_.assign(static_cast<size_t>(c), 0);
    if (bias) std::copy(bias, bias + c, bias_.begin());
    multiplier_.resize(static_cast<size_t>(c));
    for (int64_t ch = 0; ch < c; ++ch) multiplier_[static_cast<size_t>(ch)] = q.x_scale * q.w_scale[static_cast<size_t>(ch)] / q.y_scale;
#if defined(__x86_64__)
    if (avx512_) pairs_ = std::make_unique<DepthwisePairs>(c, taps, weights_.data(), bias_.data(), q.x_zero_point);
#endif
  }

  Status run(KernelContext& ctx) override {
    const int64_t rows = g_.batch * g_.out_h;
    const int8_t* x = ctx.input(0).data<int8_t>();
    int8_t* y = ctx.output(0).data<int8_t>();
    const int64_t work_per_row = g_.out_w * g_.out_c * g_.k_h * g_.k_w;
    for_each_chunk(ctx.pool, rows, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(work_per_row, 1)), 1,
                   [&](int64_t r0, int64_t r1) {
                     auto* acc = reinterpret_cast<int32_t*>(im2col_scratch(static_cast<size_t>(g_.out_c)));
                     for (int64_t r = r0; r < r1; ++r) output_row(x, r / g_.out_h, r % g_.out_h, acc, y);
                   });
    return Status::ok();
  }

 private:
  void output_row(const int8_t* x, int64_t n, int64_t oy, int32_t* acc, int8_t* y) const {
    const int64_t c = g_.out_c;
#if defined(__x86_64__)
    if (avx512_) {
      depthwise_row_avx512(g_, *pairs_, x + n * g_.in_h * g_.in_w * c, oy, multiplier_.data(), q_.y_zero_point, lo_,
                           hi_, y + (n * g_.out_h + oy) * g_.out_w * c);
      return;
    }
#endif
    depthwise_row(g_, x + n * g_.in_h * g_.in_w * c, oy, weights_.data(), bias_.data(), multiplier_.data(),
                  q_.x_zero_point, q_.y_zero_point, lo_, hi_, acc, y + (n * g_.out_h + oy) * g_.out_w * c);
  }

  Conv2dGeometry g_;
  QuantParams q_;
  int32_t lo_, hi_;
  std::vector<int16_t> weights_;
  std::vector<int32_t> bias_;
  std::vector<float> multiplier_;
#if defined(__x86_64__)
  bool avx512_ = cpu_has_avx512bw();
  std::unique_ptr<DepthwisePairs> pairs_;  // the AVX-512 path's weights
#endif
};

constexpr size_t kX = 0, kXScale = 1, kXZp = 2, kW = 3, kWScale = 4, kWZp = 5, kYScale = 6, kYZp = 7, kBias = 8;

Prepared prepare_qlinear_conv_nhwc(const PrepareContext& ctx) {
  std::unique_ptr<PreparedKernel> none;
  for (size_t i = kXScale; i <= kYZp; ++i)
    if (!ctx.is_constant(i)) return none;
  if (!ctx.has_input(kX) || ctx.input(kX).dtype() != DType::kI8 || ctx.input(kW).dtype() != DType::kI8 ||
      ctx.input(kYZp).dtype() != DType::kI8 || ctx.input(kX).rank() != 4 || ctx.input(kW).rank() != 4)
    return none;
  if (ctx.input(kXScale).element_count() != 1 || ctx.input(kYScale).element_count() != 1 ||
      ctx.input(kXZp).element_count() != 1 || ctx.input(kYZp).element_count() != 1)
    return none;
  if (ctx.has_input(kBias) && (!ctx.is_constant(kBias) || ctx.input(kBias).dtype() != DType::kI32)) return none;
  const Tensor& w_zp = ctx.input(kWZp);
  for (int64_t i = 0; i < w_zp.element_count(); ++i)
    if (w_zp.data<int8_t>()[i] != 0) return none;  // asymmetric weights: the reference kernel
  const Shape x_nchw = permute_shape(ctx.input(kX).shape(), kNhwcToNchw);
  ISKRA_ASSIGN_OR_RETURN(ConvLayout layout, conv_layout(ctx.node, x_nchw, ctx.input(kW).shape()));
  const Conv2dGeometry g = conv2d_geometry(layout, false);
  if (g.out_plane() == 0 || g.batch == 0 || g.out_c == 0) return none;
  const bool depthwise = g.group == g.in_c && g.group == g.out_c;
  if (g.group != 1 && !depthwise) return none;

  QuantParams q;
  q.x_scale = ctx.input(kXScale).data<float>()[0];
  q.y_scale = ctx.input(kYScale).data<float>()[0];
  q.x_zero_point = ctx.input(kXZp).data<int8_t>()[0];
  q.y_zero_point = ctx.input(kYZp).data<int8_t>()[0];
  const Tensor& w_scale = ctx.input(kWScale);
  if (w_scale.element_count() != 1 && w_scale.element_count() != g.out_c) return none;
  for (int64_t m = 0; m < g.out_c; ++m) q.w_scale.push_back(w_scale.data<float>()[w_scale.element_count() == 1 ? 0 : m]);
  const int32_t lo = static_cast<int32_t>(std::max<int64_t>(-128, ctx.node.attr_int("activation_min", -128)));
  const int32_t hi = static_cast<int32_t>(std::min<int64_t>(127, ctx.node.attr_int("activation_max", 127)));
  const int8_t* w = ctx.input(kW).data<int8_t>();
  const int32_t* bias = ctx.has_input(kBias) ? ctx.input(kBias).data<int32_t>() : nullptr;
  if (depthwise) return std::unique_ptr<PreparedKernel>(new QConvDepthwiseKernel(g, w, bias, q, lo, hi));
  return std::unique_ptr<PreparedKernel>(new QConvGemmKernel(g, w, bias, q, lo, hi));
}

// --- MaxPoolNhwc on int8 / uint8 --------------------------------------------------------------------

template <class T>
ISKRA_SIMD_CLONES void max_into(const T* x, int64_t n, T* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::max(out[i], x[i]);
}

template <class T>
class MaxPoolNhwcIntegerKernel final : public PreparedKernel {
 public:
  MaxPoolNhwcIntegerKernel(int64_t batch, int64_t channels, SlidingWindow w)
      : batch_(batch), c_(channels), w_(std::move(w)) {}

  Status run(KernelContext& ctx) override {
    const T* x = ctx.input(0).data<T>();
    T* y = ctx.output(0).data<T>();
    const int64_t out_h = w_.grid[0], out_w = w_.grid[1], in_h = w_.image[0], in_w = w_.image[1];
    for_each_chunk(ctx.pool, batch_ * out_h, std::max<int64_t>(1, 4096 / std::max<int64_t>(out_w * c_, 1)), 1,
                   [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / out_h, oy = r % out_h;
        for (int64_t ox = 0; ox < out_w; ++ox) {
          T* out = y + (r * out_w + ox) * c_;
          std::fill_n(out, c_, std::numeric_limits<T>::lowest());  // padding never wins: -inf in ONNX, skipped in TFLite
          for (int64_t ky = 0; ky < w_.kernel[0]; ++ky) {
            const int64_t iy = oy * w_.strides[0] - w_.pad_begin[0] + ky * w_.dilations[0];
            if (iy < 0 || iy >= in_h) continue;
            for (int64_t kx = 0; kx < w_.kernel[1]; ++kx) {
              const int64_t ix = ox * w_.strides[1] - w_.pad_begin[1] + kx * w_.dilations[1];
              if (ix >= 0 && ix < in_w) max_into(x + ((n * in_h + iy) * in_w + ix) * c_, c_, out);
            }
          }
        }
      }
    });
    return Status::ok();
  }

 private:
  int64_t batch_, c_;
  SlidingWindow w_;
};

// --- QuantizeLinear / DequantizeLinear, one scale and zero point ----------------------------------

// Rounds in float32 as the reference kernel does for float32 x and scale: the
// quotient x / scale is a float32, rounded half to even, then offset and
// saturated; NaN gives 0, as in the reference.
template <class Q>
ISKRA_SIMD_CLONES void quantize(const float* x, float scale, int32_t zp, int64_t n, Q* y) {
  constexpr float lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
  for (int64_t i = 0; i < n; ++i) {
    const float q = std::nearbyint(x[i] / scale) + static_cast<float>(zp);
    y[i] = q == q ? static_cast<Q>(std::min(std::max(q, lo), hi)) : Q{0};
  }
}

template <class Q>
ISKRA_SIMD_CLONES void dequantize(const Q* x, float scale, int32_t zp, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(int32_t{x[i]} - zp) * scale;
}

class QuantizeKernel final : public PreparedKernel {
 public:
  QuantizeKernel(bool to_real, float scale, int32_t zp) : to_real_(to_real), scale_(scale), zp_(zp) {}

  Status run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    Tensor& y = ctx.output(0);
    const int64_t n = x.element_count();
    for_each_chunk(ctx.pool, n, 1 << 15, 64, [&](int64_t b, int64_t e) {
      if (to_real_) {
        if (x.dtype() == DType::kI8) dequantize(x.data<int8_t>() + b, scale_, zp_, e - b, y.data<float>() + b);
        else dequantize(x.data<uint8_t>() + b, scale_, zp_, e - b, y.data<float>() + b);
      } else {
        if (y.dtype() == DType::kI8) quantize(x.data<float>() + b, scale_, zp_, e - b, y.data<int8_t>() + b);
        else quantize(x.data<float>() + b, scale_, zp_, e - b, y.data<uint8_t>() + b);
      }
    });
    return Status::ok();
  }

 private:
  bool to_real_;
  float scale_;
  int32_t zp_;
};

Prepared prepare_quantize(const PrepareContext& ctx) {
  std::unique_ptr<PreparedKernel> none;
  const bool to_real = ctx.node.op == OpKind::DequantizeLinear;
  if (!ctx.has_input(0) || !ctx.is_constant(1) || ctx.input(1).dtype() != DType::kF32 ||
      ctx.input(1).element_count() != 1 || ctx.node.attr_int("precision", 0) != 0)
    return none;
  const DType quantized = to_real ? ctx.input(0).dtype() : ctx.outputs[0].dtype;
  const DType real = to_real ? ctx.outputs[0].dtype : ctx.input(0).dtype();
  if ((quantized != DType::kI8 && quantized != DType::kU8) || real != DType::kF32) return none;
  int32_t zp = 0;
  if (ctx.has_input(2)) {
    if (!ctx.is_constant(2) || ctx.input(2).element_count() != 1) return none;
    zp = quantized == DType::kI8 ? int32_t{ctx.input(2).data<int8_t>()[0]} : int32_t{ctx.input(2).data<uint8_t>()[0]};
  }
  return std::unique_ptr<PreparedKernel>(new QuantizeKernel(to_real, ctx.input(1).data<float>()[0], zp));
}

}  // namespace

Prepared prepare_max_pool_nhwc_integer(const PrepareContext& ctx) {
  std::unique_ptr<PreparedKernel> none;
  if (!ctx.has_input(0) || ctx.input(0).rank() != 4 || ctx.outputs.size() != 1) return none;  // no Indices output
  const DType dtype = ctx.input(0).dtype();
  if (dtype != DType::kI8 && dtype != DType::kU8) return none;
  const Shape& x = ctx.input(0).shape();
  auto window = input_window(ctx.node, Shape{x[1], x[2]}, ctx.node.attr_ints("kernel_shape"),
                             ctx.node.attr_int("ceil_mode", 0) != 0);
  if (!window.is_ok()) return none;  // the reference kernel reports it
  if (dtype == DType::kI8) return std::unique_ptr<PreparedKernel>(new MaxPoolNhwcIntegerKernel<int8_t>(x[0], x[3], *window));
  return std::unique_ptr<PreparedKernel>(new MaxPoolNhwcIntegerKernel<uint8_t>(x[0], x[3], *window));
}

void register_quantized_kernels(OpTable& table) {
  table.set_prepare(OpKind::QLinearConvNhwc, prepare_qlinear_conv_nhwc);
  table.set_prepare(OpKind::QuantizeLinear, prepare_quantize);
  table.set_prepare(OpKind::DequantizeLinear, prepare_quantize);
}

}  // namespace iskra::cpu
