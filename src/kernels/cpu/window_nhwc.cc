#include "kernels/cpu/window_nhwc.h"

#include <algorithm>
#include <limits>

#include "kernels/cpu/parallel_chunks.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/window_nhwc.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/cpu/vec_math-inl.h"

#ifndef ISKRA_WINDOW_NHWC_SHARED  // once, not per target
#define ISKRA_WINDOW_NHWC_SHARED
namespace iskra::cpu {
namespace {

// The taps of a window along one axis that fall inside the image: [begin, end).
struct TapRange {
  int64_t begin, end;
};

inline TapRange valid_taps(int64_t origin, int64_t kernel, int64_t dilation, int64_t size) {
  // origin + k * dilation in [0, size)
  int64_t begin = origin >= 0 ? 0 : (-origin + dilation - 1) / dilation;
  int64_t end = origin >= size ? 0 : std::min(kernel, (size - 1 - origin) / dilation + 1);
  begin = std::min(begin, end);
  return {begin, end};
}

}  // namespace
}  // namespace iskra::cpu
#endif  // ISKRA_WINDOW_NHWC_SHARED

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

// One output row (image n, row oy) of a job whose reduction is kReduce.
// Vectors of channels, then a scalar tail; for each output pixel the taps in
// range are visited in (ky, kx) order, as the reference does.
template <WindowReduce kReduce>
void WindowRow(const WindowNhwcJob& job, int64_t n, int64_t oy) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const DepthwiseConvShape& s = job.shape;
  const int64_t channels = s.channels;
  const int64_t vector_end = channels / lanes * lanes;
  const TapRange rows = valid_taps(oy * s.stride_h - s.pad_top, s.kernel_h, s.dilation_h, s.in_h);
  const float* image = job.input + n * s.in_h * s.in_w * channels;
  const int64_t out_row = (n * s.out_h + oy) * s.out_w * channels;
  float* out = job.output + out_row;
  const float* residual = job.residual ? job.residual + out_row : nullptr;
  const float row_scale = kReduce == WindowReduce::kAverage ? job.inv_count_h[oy] : 1.0f;
  const int64_t iy0 = oy * s.stride_h - s.pad_top;
  for (int64_t ox = 0; ox < s.out_w; ++ox) {
    const int64_t ix0 = ox * s.stride_w - s.pad_left;
    const TapRange cols = valid_taps(ix0, s.kernel_w, s.dilation_w, s.in_w);
    float* pixel = out + ox * channels;
    const float* residual_pixel = residual ? residual + ox * channels : nullptr;
    const float scale = kReduce == WindowReduce::kAverage ? row_scale * job.inv_count_w[ox] : 1.0f;
    for (int64_t c = 0; c < vector_end; c += lanes) {
      auto acc = kReduce == WindowReduce::kMax ? hn::Set(d, -std::numeric_limits<float>::infinity())
                 : job.bias && kReduce == WindowReduce::kConvolve ? hn::LoadU(d, job.bias + c)
                                                                 : hn::Zero(d);
      for (int64_t ky = rows.begin; ky < rows.end; ++ky) {
        const float* in_row = image + (iy0 + ky * s.dilation_h) * s.in_w * channels + c;
        const float* w_row = job.weights + ky * s.kernel_w * channels + c;
        for (int64_t kx = cols.begin; kx < cols.end; ++kx) {
          const auto x = hn::LoadU(d, in_row + (ix0 + kx * s.dilation_w) * channels);
          if constexpr (kReduce == WindowReduce::kConvolve) {
            acc = hn::MulAdd(x, hn::LoadU(d, w_row + kx * channels), acc);
          } else if constexpr (kReduce == WindowReduce::kMax) {
            acc = hn::IfThenElse(hn::Lt(acc, x), x, acc);  // keeps NaN like the reference's std::max order
          } else {
            acc = hn::Add(acc, x);
          }
        }
      }
      if constexpr (kReduce == WindowReduce::kAverage) acc = hn::Mul(acc, hn::Set(d, scale));
      if (residual_pixel) acc = hn::Add(acc, hn::LoadU(d, residual_pixel + c));
      hn::StoreU(acc, d, pixel + c);
    }
    for (int64_t c = vector_end; c < channels; ++c) {
      float acc = ScalarInit<kReduce>(job, c);
      for (int64_t ky = rows.begin; ky < rows.end; ++ky) {
        const float* in_row = image + (iy0 + ky * s.dilation_h) * s.in_w * channels + c;
        const float* w_row = job.weights + ky * s.kernel_w * channels + c;
        for (int64_t kx = cols.begin; kx < cols.end; ++kx) {
          const float x = in_row[(ix0 + kx * s.dilation_w) * channels];
          if constexpr (kReduce == WindowReduce::kConvolve) {
            acc = x * w_row[kx * channels] + acc;
          } else if constexpr (kReduce == WindowReduce::kMax) {
            acc = acc < x ? x : acc;
          } else {
            acc += x;
          }
        }
      }
      if constexpr (kReduce == WindowReduce::kAverage) acc *= scale;
      if (residual_pixel) acc += residual_pixel[c];
      pixel[c] = acc;
    }
  }
  if (kReduce == WindowReduce::kConvolve && !job.activation.is_none())
    ActivationTransform(job.activation, out, out, static_cast<size_t>(s.out_w * channels));
}

}  // namespace

// Output rows [begin, end) of the flattened (n, oy) rows.
void WindowNhwcRows(const WindowNhwcJob& job, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const int64_t n = r / job.shape.out_h, oy = r % job.shape.out_h;
    switch (job.reduce) {
      case WindowReduce::kConvolve: WindowRow<WindowReduce::kConvolve>(job, n, oy); break;
      case WindowReduce::kMax: WindowRow<WindowReduce::kMax>(job, n, oy); break;
      case WindowReduce::kAverage: WindowRow<WindowReduce::kAverage>(job, n, oy); break;
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
