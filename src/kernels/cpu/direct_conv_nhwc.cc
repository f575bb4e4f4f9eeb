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


struct RowContext {
  const DirectConvJob* job;
  const float* image;  // [in_h, in_w, in_c] of this row's image
  TapRange rows;       // ky inside the image
  int64_t iy0;         // input row of ky = 0
  float* out;          // the output row [out_w, out_c]
  const float* residual;
};

// Output row `row` of the flattened (n, oy) rows.
RowContext row_context(const DirectConvJob& job, int64_t row) {
  const DirectConvShape& s = job.shape;
  const int64_t n = row / s.out_h, oy = row % s.out_h;
  RowContext r;
  r.job = &job;
  r.image = job.input + n * s.in_h * s.in_w * s.in_c;
  r.iy0 = oy * s.stride_h - s.pad_top;
  r.rows = valid_taps(r.iy0, s.kernel_h, s.dilation_h, s.in_h);
  r.out = job.output + row * s.out_w * s.out_c;
  r.residual = job.residual ? job.residual + row * s.out_w * s.out_c : nullptr;
  return r;
}

// Stores the first n lanes of v (n = lanes: all).
template <class D>
HWY_INLINE void StoreFirst(D d, hn::Vec<D> v, float* p, int64_t n) {
  if (n == static_cast<int64_t>(hn::Lanes(d))) return hn::StoreU(v, d, p);
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(v, d, buffer);
  std::memcpy(p, buffer, static_cast<size_t>(n) * sizeof(float));
}
template <class D>
HWY_INLINE hn::Vec<D> LoadFirst(D d, const float* p, int64_t n) {
  if (n == static_cast<int64_t>(hn::Lanes(d))) return hn::LoadU(d, p);
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)] = {};
  std::memcpy(buffer, p, static_cast<size_t>(n) * sizeof(float));
  return hn::Load(d, buffer);
}

// Output pixels [ox, ox + kPixels) (all with the valid kx range `cols`),
// output channels [co, co + kVecs * lanes) (padded: the store stops at out_c).
// kInC 0: the input channel count is the job's (a run-time loop).
template <class D, int kInC, int kVecs, int kPixels>
HWY_INLINE void Pixels(const RowContext& r, int64_t ox, TapRange cols, int64_t co) {
  using VF = hn::Vec<D>;
  const D d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const DirectConvJob& job = *r.job;
  const DirectConvShape& s = job.shape;
  const int64_t pout = job.weights->padded_out_c;
  const int64_t in_c = kInC > 0 ? kInC : s.in_c;
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
template <class D, int kInC, int kVecs, int kPixels>
HWY_INLINE void RowBlock(const RowContext& r, TapRange inner, int64_t co) {
  const DirectConvShape& s = r.job->shape;
  const auto cols_of = [&](int64_t ox) {
    return valid_taps(ox * s.stride_w - s.pad_left, s.kernel_w, s.dilation_w, s.in_w);
  };
  const TapRange all{0, s.kernel_w};
  int64_t ox = 0;
  for (; ox < inner.begin; ++ox) Pixels<D, kInC, kVecs, 1>(r, ox, cols_of(ox), co);
  for (; ox + kPixels <= inner.end; ox += kPixels) Pixels<D, kInC, kVecs, kPixels>(r, ox, all, co);
  for (; ox < inner.end; ++ox) Pixels<D, kInC, kVecs, 1>(r, ox, all, co);
  for (; ox < s.out_w; ++ox) Pixels<D, kInC, kVecs, 1>(r, ox, cols_of(ox), co);
}

// One output channel, interior pixel ox: per kernel row a dot product of kw * in_c contiguous
// input values with the weights' row (a multiple of the lanes of D).
template <class D>
HWY_INLINE float DotPixel(const RowContext& r, int64_t ox) {
  const D d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const DirectConvShape& s = r.job->shape;
  const int64_t run = s.kernel_w * s.in_c;
  hn::Vec<D> acc0 = hn::Zero(d), acc1 = hn::Zero(d);
  for (int64_t ky = r.rows.begin; ky < r.rows.end; ++ky) {
    const float* in = r.image + ((r.iy0 + ky * s.dilation_h) * s.in_w + ox * s.stride_w - s.pad_left) * s.in_c;
    const float* w = r.job->weights->dot.data() + ky * run;
    int64_t i = 0;
    for (; i + 2 * lanes <= run; i += 2 * lanes) {
      acc0 = hn::MulAdd(hn::LoadU(d, in + i), hn::LoadU(d, w + i), acc0);
      acc1 = hn::MulAdd(hn::LoadU(d, in + i + lanes), hn::LoadU(d, w + i + lanes), acc1);
    }
    if (i < run) acc0 = hn::MulAdd(hn::LoadU(d, in + i), hn::LoadU(d, w + i), acc0);
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1))) + r.job->weights->bias[0];
}

template <class D>
void DotRows(const DirectConvJob& job, int64_t begin, int64_t end) {
  const DirectConvShape& s = job.shape;
  const TapRange inner = interior_outputs(s.out_w, s.in_w, s.kernel_w, s.stride_w, s.dilation_w, s.pad_left);
  const auto cols_of = [&](int64_t ox) {
    return valid_taps(ox * s.stride_w - s.pad_left, s.kernel_w, s.dilation_w, s.in_w);
  };
  using D8 = hn::CappedTag<float, 8>;
  for (int64_t row = begin; row < end; ++row) {
    const RowContext r = row_context(job, row);
    // Borders through the general path (it adds the residual and applies the activation itself).
    for (int64_t ox = 0; ox < inner.begin; ++ox) Pixels<D8, 0, 1, 1>(r, ox, cols_of(ox), 0);
    for (int64_t ox = inner.end; ox < s.out_w; ++ox) Pixels<D8, 0, 1, 1>(r, ox, cols_of(ox), 0);
    for (int64_t ox = inner.begin; ox < inner.end; ++ox) {
      float y = DotPixel<D>(r, ox);
      if (r.residual) y += r.residual[ox];
      r.out[ox] = y;
    }
    if (!job.activation.is_none() && inner.end > inner.begin)
      ActivationTransform(job.activation, r.out + inner.begin, r.out + inner.begin,
                          static_cast<size_t>(inner.end - inner.begin));
  }
}

template <class D, int kInC>
void Rows(const DirectConvJob& job, int64_t begin, int64_t end) {
  const D d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const DirectConvShape& s = job.shape;
  const TapRange inner = interior_outputs(s.out_w, s.in_w, s.kernel_w, s.stride_w, s.dilation_w, s.pad_left);
  const int64_t vector_end = (s.out_c + lanes - 1) / lanes * lanes;  // <= padded_out_c
  for (int64_t row = begin; row < end; ++row) {
    const RowContext r = row_context(job, row);
    int64_t co = 0;
    for (; co + 4 * lanes <= vector_end; co += 4 * lanes) RowBlock<D, kInC, 4, 2>(r, inner, co);
    for (; co + 2 * lanes <= vector_end; co += 2 * lanes) RowBlock<D, kInC, 2, 4>(r, inner, co);
    for (; co < vector_end; co += lanes) RowBlock<D, kInC, 1, 4>(r, inner, co);
  }
}

}  // namespace

// Output rows [begin, end) of the flattened (n, oy) rows.
void DirectConvRows(const DirectConvJob& job, int64_t begin, int64_t end) {
  using DF = hn::ScalableTag<float>;
  using D8 = hn::CappedTag<float, 8>;
  if (!job.weights->dot.empty()) {  // one output channel: dot products of rows
    const int64_t run = job.shape.kernel_w * job.shape.in_c;
    if (run % 8 == 0) return DotRows<D8>(job, begin, end);
    if (run % 4 == 0) return DotRows<hn::CappedTag<float, 4>>(job, begin, end);
  }
  if (job.shape.in_c > kDirectConvMaxInChannels) {  // few output channels: vectors of at most 8 of them
    if (job.shape.out_c <= 8) return Rows<D8, 0>(job, begin, end);
    return Rows<DF, 0>(job, begin, end);
  }
  switch (job.shape.in_c) {
    case 1: return Rows<DF, 1>(job, begin, end);
    case 2: return Rows<DF, 2>(job, begin, end);
    case 3: return Rows<DF, 3>(job, begin, end);
    default: return Rows<DF, 4>(job, begin, end);  // kDirectConvMaxInChannels
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
  if (s.out_c == 1 && s.dilation_w == 1) {  // [ky][kx][c]
    out.dot.resize(static_cast<size_t>(taps * s.in_c));
    for (int64_t c = 0; c < s.in_c; ++c)
      for (int64_t t = 0; t < taps; ++t) out.dot[static_cast<size_t>(t * s.in_c + c)] = w[c * taps + t];
  }
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
