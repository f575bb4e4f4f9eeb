// Weights are padded for vectors of up to 16 floats; SVE's run-time lengths
// may not divide that, so Arm uses NEON here.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#include "kernels/cpu/direct_conv_nhwc.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/parallel_chunks.h"
#include "kernels/cpu/taps.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/direct_conv_nhwc.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/cpu/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {
namespace {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

struct RowContext {
  const DirectConvJob* job;
  const float* image;  // [in_h, in_w, in_c] of this row's image
  TapRange rows;       // ky inside the image
  int64_t iy0;         // input row of ky = 0
  float* out;          // the output row [out_w, out_c]
  const float* residual;
};

// Stores the first n lanes of v (n = lanes: all).
HWY_INLINE void StoreFirst(DF d, VF v, float* p, int64_t n) {
  if (n == static_cast<int64_t>(hn::Lanes(d))) return hn::StoreU(v, d, p);
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(v, d, buffer);
  std::memcpy(p, buffer, static_cast<size_t>(n) * sizeof(float));
}
HWY_INLINE VF LoadFirst(DF d, const float* p, int64_t n) {
  if (n == static_cast<int64_t>(hn::Lanes(d))) return hn::LoadU(d, p);
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)] = {};
  std::memcpy(buffer, p, static_cast<size_t>(n) * sizeof(float));
  return hn::Load(d, buffer);
}

// Output pixels [ox, ox + kPixels) (all with the valid kx range `cols`),
// output channels [co, co + kVecs * lanes) (padded: the store stops at out_c).
template <int kInC, int kVecs, int kPixels>
HWY_INLINE void Pixels(const RowContext& r, int64_t ox, TapRange cols, int64_t co) {
  const DF d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const DirectConvJob& job = *r.job;
  const DirectConvShape& s = job.shape;
  const int64_t pout = job.weights->padded_out_c;
  constexpr int64_t in_c = kInC;
  VF acc[kPixels][kVecs];
  for (int v = 0; v < kVecs; ++v) {
    const VF b = hn::LoadU(d, job.weights->bias.data() + co + v * lanes);
    for (int p = 0; p < kPixels; ++p) acc[p][v] = b;
  }
  const int64_t pixel_step = s.stride_w * in_c;
  for (int64_t ky = r.rows.begin; ky < r.rows.end; ++ky) {
    const float* in_row = r.image + ((r.iy0 + ky * s.dilation_h) * s.in_w + ox * s.stride_w - s.pad_left) * in_c;
    for (int64_t kx = cols.begin; kx < cols.end; ++kx) {
      const float* in = in_row + kx * s.dilation_w * in_c;
      const float* w = job.weights->weights.data() + (ky * s.kernel_w + kx) * in_c * pout + co;
      for (int64_t ci = 0; ci < in_c; ++ci) {
        VF x[kPixels];
        for (int p = 0; p < kPixels; ++p) x[p] = hn::Set(d, in[p * pixel_step + ci]);
        for (int v = 0; v < kVecs; ++v) {
          const VF wv = hn::LoadU(d, w + ci * pout + v * lanes);
          for (int p = 0; p < kPixels; ++p) acc[p][v] = hn::MulAdd(x[p], wv, acc[p][v]);
        }
      }
    }
  }
  for (int p = 0; p < kPixels; ++p) {
    for (int v = 0; v < kVecs; ++v) {
      const int64_t c = co + v * lanes, n = std::min(lanes, s.out_c - c);
      if (n <= 0) break;
      const int64_t at = (ox + p) * s.out_c + c;
      VF y = acc[p][v];
      if (r.residual) y = hn::Add(y, LoadFirst(d, r.residual + at, n));
      StoreFirst(d, ActivateVector(job.activation, d, y), r.out + at, n);
    }
  }
}

// A block of kVecs vectors of output channels over the whole row: interior
// pixels kPixels at a time (kVecs * kPixels = 8 accumulators), borders one by one.
template <int kInC, int kVecs, int kPixels>
HWY_INLINE void RowBlock(const RowContext& r, TapRange inner, int64_t co) {
  const DirectConvShape& s = r.job->shape;
  const auto cols_of = [&](int64_t ox) {
    return valid_taps(ox * s.stride_w - s.pad_left, s.kernel_w, s.dilation_w, s.in_w);
  };
  const TapRange all{0, s.kernel_w};
  int64_t ox = 0;
  for (; ox < inner.begin; ++ox) Pixels<kInC, kVecs, 1>(r, ox, cols_of(ox), co);
  for (; ox + kPixels <= inner.end; ox += kPixels) Pixels<kInC, kVecs, kPixels>(r, ox, all, co);
  for (; ox < inner.end; ++ox) Pixels<kInC, kVecs, 1>(r, ox, all, co);
  for (; ox < s.out_w; ++ox) Pixels<kInC, kVecs, 1>(r, ox, cols_of(ox), co);
}

template <int kInC>
void Rows(const DirectConvJob& job, int64_t begin, int64_t end) {
  const DF d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const DirectConvShape& s = job.shape;
  const TapRange inner = interior_outputs(s.out_w, s.in_w, s.kernel_w, s.stride_w, s.dilation_w, s.pad_left);
  const int64_t vector_end = (s.out_c + lanes - 1) / lanes * lanes;  // <= padded_out_c
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / s.out_h, oy = row % s.out_h;
    RowContext r;
    r.job = &job;
    r.image = job.input + n * s.in_h * s.in_w * s.in_c;
    r.iy0 = oy * s.stride_h - s.pad_top;
    r.rows = valid_taps(r.iy0, s.kernel_h, s.dilation_h, s.in_h);
    r.out = job.output + row * s.out_w * s.out_c;
    r.residual = job.residual ? job.residual + row * s.out_w * s.out_c : nullptr;
    int64_t co = 0;
    for (; co + 4 * lanes <= vector_end; co += 4 * lanes) RowBlock<kInC, 4, 2>(r, inner, co);
    for (; co + 2 * lanes <= vector_end; co += 2 * lanes) RowBlock<kInC, 2, 4>(r, inner, co);
    for (; co < vector_end; co += lanes) RowBlock<kInC, 1, 4>(r, inner, co);
  }
}

}  // namespace

// Output rows [begin, end) of the flattened (n, oy) rows.
void DirectConvRows(const DirectConvJob& job, int64_t begin, int64_t end) {
  switch (job.shape.in_c) {
    case 1: return Rows<1>(job, begin, end);
    case 2: return Rows<2>(job, begin, end);
    case 3: return Rows<3>(job, begin, end);
    default: return Rows<4>(job, begin, end);  // kDirectConvMaxInChannels
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace iskra::cpu {

HWY_EXPORT(DirectConvRows);

DirectConvWeights direct_conv_weights(const DirectConvShape& s, const float* w, const float* bias) {
  // A multiple of 16 floats: whole vectors for every target (4, 8 or 16 lanes).
  constexpr int64_t kPad = 16;
  DirectConvWeights out;
  out.padded_out_c = (s.out_c + kPad - 1) / kPad * kPad;
  const int64_t taps = s.kernel_h * s.kernel_w;
  out.weights.assign(static_cast<size_t>(taps * s.in_c * out.padded_out_c), 0.0f);
  out.bias.assign(static_cast<size_t>(out.padded_out_c), 0.0f);
  for (int64_t m = 0; m < s.out_c; ++m) {
    if (bias) out.bias[static_cast<size_t>(m)] = bias[m];
    for (int64_t c = 0; c < s.in_c; ++c)
      for (int64_t t = 0; t < taps; ++t)
        out.weights[static_cast<size_t>((t * s.in_c + c) * out.padded_out_c + m)] = w[(m * s.in_c + c) * taps + t];
  }
  return out;
}

void direct_conv_nhwc(const DirectConvJob& job, ThreadPool* pool) {
  const DirectConvShape& s = job.shape;
  const int64_t rows = s.batch * s.out_h;
  const int64_t macs_per_row = std::max<int64_t>(1, s.out_w * s.out_c * s.in_c * s.kernel_h * s.kernel_w);
  const int64_t min_rows = std::max<int64_t>(1, (1 << 17) / macs_per_row);
  for_each_chunk(pool, rows, min_rows, 1,
                 [&](int64_t begin, int64_t end) { HWY_DYNAMIC_DISPATCH(DirectConvRows)(job, begin, end); });
}

}  // namespace iskra::cpu
#endif  // HWY_ONCE
