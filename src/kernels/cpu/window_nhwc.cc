// SVE vectors are sizeless: they cannot be array elements, which this file's
// kernels use, so Arm uses NEON here (as gemm.cc does).
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#include "kernels/cpu/window_nhwc.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "kernels/cpu/parallel_chunks.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/window_nhwc.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/cpu/vec_math-inl.h"

#include "kernels/cpu/taps.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {
namespace {
namespace hn = hwy::HWY_NAMESPACE;

template <WindowReduce kReduce>
HWY_INLINE float ScalarInit(const WindowNhwcJob& job, int64_t c) {
  if constexpr (kReduce == WindowReduce::kMax) return -std::numeric_limits<float>::infinity();
  return job.bias ? job.bias[c] : 0.0f;
}

template <WindowReduce kReduce, class D>
HWY_INLINE hn::Vec<D> Combine(hn::Vec<D> acc, hn::Vec<D> x, hn::Vec<D> w) {
  if constexpr (kReduce == WindowReduce::kConvolve) {
    return hn::MulAdd(x, w, acc);
  } else if constexpr (kReduce == WindowReduce::kMax) {
    return hn::IfThenElse(hn::Lt(acc, x), x, acc);  // keeps NaN like the reference's order
  } else {
    return hn::Add(acc, x);
  }
}

template <WindowReduce kReduce>
HWY_INLINE float CombineScalar(float acc, float x, float w) {
  if constexpr (kReduce == WindowReduce::kConvolve) return x * w + acc;
  if constexpr (kReduce == WindowReduce::kMax) return acc < x ? x : acc;
  return acc + x;
}

// What one output row needs: the image, the taps' rows inside it, and where
// output pixels and their residual go.
struct RowContext {
  const WindowNhwcJob* job;
  const float* image;  // [in_h, in_w, C] of this row's image
  TapRange rows;       // ky inside the image
  int64_t iy0;         // input row of ky = 0
  float* out;          // the output row, [out_w, C]
  const float* residual;
  float row_scale;     // kAverage: 1 / taps counted along y
};

// Output pixels [ox, ox + kPixels), channels [c, c + kVectors * lanes): the
// pixels' valid kx range must be `cols` for all of them. Each weight vector
// is loaded once for all kPixels; kVectors * kPixels independent sums hide
// the FMA latency.
template <class D, WindowReduce kReduce, int kVectors, int kPixels>
HWY_INLINE void PixelsVector(const RowContext& r, int64_t ox, TapRange cols, int64_t c) {
  const D d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const WindowNhwcJob& job = *r.job;
  const DepthwiseConvShape& s = job.shape;
  const int64_t channels = s.channels;
  using V = hn::Vec<decltype(d)>;
  V acc[kPixels][kVectors];
  for (int v = 0; v < kVectors; ++v) {
    V init = hn::Zero(d);
    if constexpr (kReduce == WindowReduce::kMax) init = hn::Set(d, -std::numeric_limits<float>::infinity());
    if constexpr (kReduce == WindowReduce::kConvolve)
      if (job.bias) init = hn::LoadU(d, job.bias + c + v * lanes);
    for (int p = 0; p < kPixels; ++p) acc[p][v] = init;
  }
  const int64_t pixel_step = s.stride_w * channels, tap_step = s.dilation_w * channels;
  for (int64_t ky = r.rows.begin; ky < r.rows.end; ++ky) {
    const float* in = r.image + ((r.iy0 + ky * s.dilation_h) * s.in_w + ox * s.stride_w - s.pad_left) * channels + c;
    const float* w = job.weights + ky * s.kernel_w * channels + c;
    for (int64_t kx = cols.begin; kx < cols.end; ++kx) {
      const float* tap = in + kx * tap_step;
      for (int v = 0; v < kVectors; ++v) {
        const V wv = kReduce == WindowReduce::kConvolve ? hn::LoadU(d, w + kx * channels + v * lanes) : hn::Zero(d);
        for (int p = 0; p < kPixels; ++p)
          acc[p][v] = Combine<kReduce, decltype(d)>(acc[p][v], hn::LoadU(d, tap + p * pixel_step + v * lanes), wv);
      }
    }
  }
  for (int p = 0; p < kPixels; ++p) {
    const float scale = kReduce == WindowReduce::kAverage ? r.row_scale * job.inv_count_w[ox + p] : 1.0f;
    for (int v = 0; v < kVectors; ++v) {
      V x = acc[p][v];
      if constexpr (kReduce == WindowReduce::kAverage) x = hn::Mul(x, hn::Set(d, scale));
      const int64_t at = (ox + p) * channels + c + v * lanes;
      if (r.residual) x = hn::Add(x, hn::LoadU(d, r.residual + at));
      hn::StoreU(x, d, r.out + at);
    }
  }
}

// Channels [c, c + kVectors * lanes) of the whole row: interior pixels two at a time.
template <class D, WindowReduce kReduce, int kVectors>
HWY_INLINE void RowVectors(const RowContext& r, int64_t inner_begin, int64_t inner_end, int64_t c) {
  const DepthwiseConvShape& s = r.job->shape;
  const auto cols_of = [&](int64_t ox) {
    return valid_taps(ox * s.stride_w - s.pad_left, s.kernel_w, s.dilation_w, s.in_w);
  };
  const TapRange all_cols{0, s.kernel_w};
  int64_t ox = 0;
  for (; ox < inner_begin; ++ox) PixelsVector<D, kReduce, kVectors, 1>(r, ox, cols_of(ox), c);
  for (; ox + 2 <= inner_end; ox += 2) PixelsVector<D, kReduce, kVectors, 2>(r, ox, all_cols, c);
  for (; ox < inner_end; ++ox) PixelsVector<D, kReduce, kVectors, 1>(r, ox, all_cols, c);
  for (; ox < s.out_w; ++ox) PixelsVector<D, kReduce, kVectors, 1>(r, ox, cols_of(ox), c);
}

template <WindowReduce kReduce>
HWY_INLINE void PixelScalar(const RowContext& r, int64_t ox, TapRange cols, int64_t c) {
  const WindowNhwcJob& job = *r.job;
  const DepthwiseConvShape& s = job.shape;
  const int64_t channels = s.channels;
  float acc = ScalarInit<kReduce>(job, c);
  for (int64_t ky = r.rows.begin; ky < r.rows.end; ++ky) {
    const float* in = r.image + ((r.iy0 + ky * s.dilation_h) * s.in_w + ox * s.stride_w - s.pad_left) * channels + c;
    const float* w = job.weights + ky * s.kernel_w * channels + c;
    for (int64_t kx = cols.begin; kx < cols.end; ++kx)
      acc = CombineScalar<kReduce>(acc, in[kx * s.dilation_w * channels], kReduce == WindowReduce::kConvolve ? w[kx * channels] : 0.0f);
  }
  if constexpr (kReduce == WindowReduce::kAverage) acc *= r.row_scale * job.inv_count_w[ox];
  const int64_t at = ox * channels + c;
  if (r.residual) acc += r.residual[at];
  r.out[at] = acc;
}

// Narrow channels (C < lanes), stride 1, no dilation along x: the interior of an output row
// is a 1-D sliding window over the flattened row [out_w * C], output element p reading input
// element p + (kx - pad_left) * C of the input row. Each vector covers several pixels; the
// weight (and bias) of lane l is that of channel (p0 + l) % C, a pattern that repeats every
// `phases` = C / gcd(C, lanes) vectors, so per tap `phases` weight vectors are made once.
constexpr int64_t kMaxFlatVectors = 64;  // taps * phases
struct FlatWeights {
  int64_t phases = 0;  // 0: the flat path does not apply
  alignas(64) float weights[kMaxFlatVectors * 16];  // [tap][phase][lane]
  alignas(64) float bias[16 * 16];                  // [phase][lane]
};

void MakeFlatWeights(const WindowNhwcJob& job, int64_t lanes, FlatWeights& f) {
  const DepthwiseConvShape& s = job.shape;
  const int64_t c = s.channels, taps = s.kernel_h * s.kernel_w;
  f.phases = 0;
  if (c >= lanes || lanes > 16 || s.stride_w != 1 || s.dilation_w != 1) return;
  const int64_t phases = c / std::gcd(c, lanes);
  if (taps * phases > kMaxFlatVectors) return;
  for (int64_t ph = 0; ph < phases; ++ph)
    for (int64_t l = 0; l < lanes; ++l) {
      const int64_t ch = (ph * lanes + l) % c;
      for (int64_t t = 0; t < taps; ++t)
        f.weights[(t * phases + ph) * lanes + l] = job.weights ? job.weights[t * c + ch] : 0.0f;
      f.bias[ph * lanes + l] = job.bias ? job.bias[ch] : 0.0f;
    }
  f.phases = phases;
}

// Flattened interior elements [begin, end) of the row (begin a multiple of C); returns where
// the whole vectors stopped.
template <WindowReduce kReduce>
HWY_INLINE int64_t FlatInterior(const RowContext& r, const FlatWeights& f, int64_t begin, int64_t end) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  using V = hn::Vec<decltype(d)>;
  const WindowNhwcJob& job = *r.job;
  const DepthwiseConvShape& s = job.shape;
  const int64_t c = s.channels, row_len = s.in_w * c;
  // kAverage: every interior pixel counts all kernel_w columns.
  const V scale = hn::Set(d, kReduce == WindowReduce::kAverage ? r.row_scale * job.inv_count_w[begin / c] : 1.0f);
  int64_t p0 = begin;
  for (int64_t j = 0; p0 + lanes <= end; p0 += lanes, ++j) {
    const int64_t phase = j % f.phases;
    V acc;
    if constexpr (kReduce == WindowReduce::kMax) acc = hn::Set(d, -std::numeric_limits<float>::infinity());
    else if constexpr (kReduce == WindowReduce::kConvolve) acc = hn::Load(d, f.bias + phase * lanes);
    else acc = hn::Zero(d);
    for (int64_t ky = r.rows.begin; ky < r.rows.end; ++ky) {
      const float* in = r.image + (r.iy0 + ky * s.dilation_h) * row_len + p0 - s.pad_left * c;
      const float* w = f.weights + (ky * s.kernel_w * f.phases + phase) * lanes;
      for (int64_t kx = 0; kx < s.kernel_w; ++kx)
        acc = Combine<kReduce, decltype(d)>(acc, hn::LoadU(d, in + kx * c),
                                            kReduce == WindowReduce::kConvolve ? hn::Load(d, w + kx * f.phases * lanes)
                                                                               : hn::Zero(d));
    }
    if constexpr (kReduce == WindowReduce::kAverage) acc = hn::Mul(acc, scale);
    if (r.residual) acc = hn::Add(acc, hn::LoadU(d, r.residual + p0));
    hn::StoreU(acc, d, r.out + p0);
  }
  return p0;
}

// One output row (image n, row oy) of a job whose reduction is kReduce.
// Blocks of channels outermost, so that a block's weights and the input
// lines it reads stay in L1 while it sweeps the row; interior pixels (every
// kx inside the image) go two at a time, sharing each weight load; border
// pixels one at a time; channels past the last whole vector are scalar.
template <WindowReduce kReduce>
void WindowRow(const WindowNhwcJob& job, const FlatWeights& flat, int64_t n, int64_t oy) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const DepthwiseConvShape& s = job.shape;
  const int64_t channels = s.channels;
  RowContext r;
  r.job = &job;
  r.image = job.input + n * s.in_h * s.in_w * channels;
  r.iy0 = oy * s.stride_h - s.pad_top;
  r.rows = valid_taps(r.iy0, s.kernel_h, s.dilation_h, s.in_h);
  const int64_t out_row = (n * s.out_h + oy) * s.out_w * channels;
  r.out = job.output + out_row;
  r.residual = job.residual ? job.residual + out_row : nullptr;
  r.row_scale = kReduce == WindowReduce::kAverage ? job.inv_count_h[oy] : 1.0f;
  // Interior output columns [inner_begin, inner_end): all kernel columns inside.
  const TapRange inner = interior_outputs(s.out_w, s.in_w, s.kernel_w, s.stride_w, s.dilation_w, s.pad_left);
  const int64_t inner_begin = inner.begin, inner_end = inner.end;
  const auto cols_of = [&](int64_t ox) {
    return valid_taps(ox * s.stride_w - s.pad_left, s.kernel_w, s.dilation_w, s.in_w);
  };
  if (flat.phases > 0) {  // narrow channels: border pixels scalar, the interior flattened
    for (int64_t ox = 0; ox < s.out_w; ++ox) {
      if (ox == inner_begin) ox = std::max(inner_begin, inner_end);
      if (ox >= s.out_w) break;
      for (int64_t ch = 0; ch < channels; ++ch) PixelScalar<kReduce>(r, ox, cols_of(ox), ch);
    }
    const int64_t stop = FlatInterior<kReduce>(r, flat, inner_begin * channels, inner_end * channels);
    for (int64_t p = stop; p < inner_end * channels; ++p)
      PixelScalar<kReduce>(r, p / channels, TapRange{0, s.kernel_w}, p % channels);
    if (kReduce == WindowReduce::kConvolve && !job.activation.is_none())
      ActivationTransform(job.activation, r.out, r.out, static_cast<size_t>(s.out_w * channels));
    return;
  }
  // Blocks of four vectors of channels (two cache lines of each pixel), then single vectors.
  const int64_t block_end = channels / (4 * lanes) * (4 * lanes), vector_end = channels / lanes * lanes;
  using D = hn::ScalableTag<float>;
  int64_t c = 0;
  for (; c < block_end; c += 4 * lanes) RowVectors<D, kReduce, 4>(r, inner_begin, inner_end, c);
  for (; c < vector_end; c += lanes) RowVectors<D, kReduce, 1>(r, inner_begin, inner_end, c);
  // The channels left: vectors of 8 and 4 lanes where the full ones are wider (24 channels on
  // AVX-512: 16 + 8), then scalar.
  using D8 = hn::CappedTag<float, 8>;
  using D4 = hn::CappedTag<float, 4>;
  if (lanes > 8 && channels - c >= 8 && hn::Lanes(D8()) == 8) {
    RowVectors<D8, kReduce, 1>(r, inner_begin, inner_end, c);
    c += 8;
  }
  if (lanes > 4 && channels - c >= 4 && hn::Lanes(D4()) == 4) {
    RowVectors<D4, kReduce, 1>(r, inner_begin, inner_end, c);
    c += 4;
  }
  for (; c < channels; ++c)
    for (int64_t ox = 0; ox < s.out_w; ++ox) PixelScalar<kReduce>(r, ox, cols_of(ox), c);
  if (kReduce == WindowReduce::kConvolve && !job.activation.is_none())
    ActivationTransform(job.activation, r.out, r.out, static_cast<size_t>(s.out_w * channels));
}

}  // namespace

// Output rows [begin, end) of the flattened (n, oy) rows.
void WindowNhwcRows(const WindowNhwcJob& job, int64_t begin, int64_t end) {
  FlatWeights flat;
  MakeFlatWeights(job, static_cast<int64_t>(hn::Lanes(hn::ScalableTag<float>())), flat);
  for (int64_t r = begin; r < end; ++r) {
    const int64_t n = r / job.shape.out_h, oy = r % job.shape.out_h;
    switch (job.reduce) {
      case WindowReduce::kConvolve: WindowRow<WindowReduce::kConvolve>(job, flat, n, oy); break;
      case WindowReduce::kMax: WindowRow<WindowReduce::kMax>(job, flat, n, oy); break;
      case WindowReduce::kAverage: WindowRow<WindowReduce::kAverage>(job, flat, n, oy); break;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace iskra::cpu {

HWY_EXPORT(WindowNhwcRows);

void run_window_nhwc(const WindowNhwcJob& job, ThreadPool* pool) {
  const DepthwiseConvShape& s = job.shape;
  const int64_t rows = s.batch * s.out_h;
  const int64_t taps_per_row = std::max<int64_t>(1, s.out_w * s.channels * s.kernel_h * s.kernel_w);
  constexpr int64_t kMinTapsPerTask = 1 << 17;
  const int64_t min_rows = std::max<int64_t>(1, kMinTapsPerTask / taps_per_row);
  for_each_chunk(pool, rows, min_rows, 1,
                 [&](int64_t begin, int64_t end) { HWY_DYNAMIC_DISPATCH(WindowNhwcRows)(job, begin, end); });
}

void run_window_nhwc_reference(const WindowNhwcJob& job) {
  const DepthwiseConvShape& s = job.shape;
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t oy = 0; oy < s.out_h; ++oy) {
      for (int64_t ox = 0; ox < s.out_w; ++ox) {
        for (int64_t c = 0; c < s.channels; ++c) {
          float acc = job.reduce == WindowReduce::kMax ? -std::numeric_limits<float>::infinity()
                      : job.reduce == WindowReduce::kConvolve && job.bias ? job.bias[c]
                                                                          : 0.0f;
          for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
            const int64_t iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
            if (iy < 0 || iy >= s.in_h) continue;
            for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
              const int64_t ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
              if (ix < 0 || ix >= s.in_w) continue;
              const float x = job.input[((n * s.in_h + iy) * s.in_w + ix) * s.channels + c];
              if (job.reduce == WindowReduce::kConvolve) acc = x * job.weights[(ky * s.kernel_w + kx) * s.channels + c] + acc;
              else if (job.reduce == WindowReduce::kMax) acc = acc < x ? x : acc;
              else acc += x;
            }
          }
          if (job.reduce == WindowReduce::kAverage) acc *= job.inv_count_h[oy] * job.inv_count_w[ox];
          const int64_t at = ((n * s.out_h + oy) * s.out_w + ox) * s.channels + c;
          if (job.residual) acc += job.residual[at];
          if (job.reduce == WindowReduce::kConvolve) acc = activation_reference(job.activation, acc);
          job.output[at] = acc;
        }
      }
    }
  }
}

}  // namespace iskra::cpu
#endif  // HWY_ONCE
