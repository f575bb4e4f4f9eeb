// Fast pools on f32 NCHW tensors:
//   MaxPool, AveragePool (1-D and 2-D windows): the sliding-window engine of
//     window2d.h, with the window resolved by the same code as the reference
//     (kernels/window.h: pads, auto_pad, ceil_mode, dilations).
//     Declined: the Indices output of MaxPool, 3-D windows, kernels wider than
//     the engine takes.
//   MaxPoolNhwc, AveragePoolNhwc (the layout pass's channels-last pools):
//     window_nhwc.h, SIMD over channels.
//   GlobalAveragePool, GlobalMaxPool: a SIMD reduction per (n, c) plane.
#include <algorithm>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/parallel_chunks.h"
#include "kernels/cpu/quantized_kernels.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/window2d.h"
#include "kernels/cpu/window_nhwc.h"
#include "kernels/window.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/pool_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// out[p] = max, or mean, of the `size` contiguous values of plane p, for p in [begin, end).
template <bool kMax>
void reduce_planes(const float* in, int64_t size, int64_t begin, int64_t end, float* out) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto combine = [](auto a, auto b) {
    if constexpr (kMax) return hn::Max(a, b);
    else return hn::Add(a, b);
  };
  const float identity = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
  for (int64_t p = begin; p < end; ++p) {
    const float* x = in + p * size;
    auto a0 = hn::Set(d, identity), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 4 * lanes <= size; i += 4 * lanes) {
      a0 = combine(a0, hn::LoadU(d, x + i));
      a1 = combine(a1, hn::LoadU(d, x + i + lanes));
      a2 = combine(a2, hn::LoadU(d, x + i + 2 * lanes));
      a3 = combine(a3, hn::LoadU(d, x + i + 3 * lanes));
    }
    for (; i + lanes <= size; i += lanes) a0 = combine(a0, hn::LoadU(d, x + i));
    const auto all = combine(combine(a0, a1), combine(a2, a3));
    float result = kMax ? hn::GetLane(hn::MaxOfLanes(d, all)) : hn::GetLane(hn::SumOfLanes(d, all));
    for (; i < size; ++i) result = kMax ? std::max(result, x[i]) : result + x[i];
    out[p] = kMax ? result : result / static_cast<float>(size);
  }
}

void GlobalMax(const float* in, int64_t size, int64_t begin, int64_t end, float* out) {
  reduce_planes<true>(in, size, begin, end, out);
}
void GlobalAverage(const float* in, int64_t size, int64_t begin, int64_t end, float* out) {
  reduce_planes<false>(in, size, begin, end, out);
}

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace iskra::cpu {

HWY_EXPORT(GlobalMax);
HWY_EXPORT(GlobalAverage);

namespace {

using Prepared = Result<std::unique_ptr<PreparedKernel>>;

// The case is not handled here: the reference kernel runs.
std::unique_ptr<PreparedKernel> declined() { return nullptr; }

template <class Kernel, class... Args>
std::unique_ptr<PreparedKernel> make_kernel(Args&&... args) {
  return std::make_unique<Kernel>(std::forward<Args>(args)...);
}

// --- MaxPool / AveragePool ------------------------------------------------------

// 1 / (taps counted) for each window along one axis. AveragePool counts the
// taps on the input, plus with count_include_pad those on the declared pads
// (never those beyond them that ceil_mode adds). No tap gives 1/0 = inf, and
// the mean 0 * inf = NaN, as the reference's 0 / 0.
std::vector<float> inverse_tap_counts(const SlidingWindow& w, size_t axis, bool count_pads) {
  const int64_t in = w.image[axis];
  const int64_t lo = count_pads ? -w.pad_begin[axis] : 0, hi = count_pads ? in + w.pad_end[axis] : in;
  std::vector<float> inv(static_cast<size_t>(w.grid[axis]));
  for (int64_t o = 0; o < w.grid[axis]; ++o) {
    int64_t count = 0;
    for (int64_t k = 0; k < w.kernel[axis]; ++k) {
      const int64_t pos = o * w.strides[axis] - w.pad_begin[axis] + k * w.dilations[axis];
      count += pos >= lo && pos < hi;
    }
    inv[static_cast<size_t>(o)] = 1.0f / static_cast<float>(count);
  }
  return inv;
}

class WindowPoolKernel final : public PreparedKernel {
 public:
  WindowPoolKernel(const Window2dJob& job, std::vector<float> inv_h, std::vector<float> inv_w)
      : job_(job), inv_h_(std::move(inv_h)), inv_w_(std::move(inv_w)) {
    job_.inv_count_h = inv_h_.data();
    job_.inv_count_w = inv_w_.data();
  }

  Status run(KernelContext& ctx) override {
    Window2dJob job = job_;
    job.input = ctx.input(0).data<float>();
    job.output = ctx.output(0).data<float>();
    run_window2d(job, ctx.pool);
    return Status::ok();
  }

 private:
  Window2dJob job_;
  std::vector<float> inv_h_, inv_w_;
};

// A 1-D or 2-D f32 MaxPool/AveragePool as a job of the window engine; nullptr when declined.
Prepared prepare_window_pool(const PrepareContext& ctx, WindowReduce reduce) {
  const Node& node = ctx.node;
  if (!ctx.has_input(0) || ctx.input(0).dtype() != DType::kF32) return declined();
  const Shape& x = ctx.input(0).shape();
  if (x.size() != 3 && x.size() != 4) return declined();
  auto window = input_window(node, spatial_dims(x), node.attr_ints("kernel_shape"), node.attr_int("ceil_mode", 0) != 0);
  if (!window.is_ok()) return declined();  // the reference kernel reports it
  SlidingWindow w = std::move(window).value();
  if (x.size() == 3) {  // a 1-D pool is a 2-D pool of height 1
    for (auto* v : {&w.grid, &w.image, &w.kernel, &w.strides, &w.dilations}) v->insert(v->begin(), 1);
    for (auto* v : {&w.pad_begin, &w.pad_end}) v->insert(v->begin(), 0);
  }
  Window2dJob job;
  job.reduce = reduce;
  DepthwiseConvShape& s = job.shape;
  s.batch = x[0];
  s.channels = x[1];
  s.in_h = w.image[0], s.in_w = w.image[1];
  s.out_h = w.grid[0], s.out_w = w.grid[1];
  s.kernel_h = w.kernel[0], s.kernel_w = w.kernel[1];
  s.stride_h = w.strides[0], s.stride_w = w.strides[1];
  s.dilation_h = w.dilations[0], s.dilation_w = w.dilations[1];
  s.pad_top = w.pad_begin[0], s.pad_left = w.pad_begin[1];
  if (!window2d_supported(s)) return declined();
  const bool count_pads = node.attr_int("count_include_pad", 0) != 0;
  std::vector<float> inv_h, inv_w;
  if (reduce == WindowReduce::kAverage) {
    inv_h = inverse_tap_counts(w, 0, count_pads);
    inv_w = inverse_tap_counts(w, 1, count_pads);
  }
  return make_kernel<WindowPoolKernel>(job, std::move(inv_h), std::move(inv_w));
}

Prepared prepare_max_pool(const PrepareContext& ctx) {
  const bool wants_indices = ctx.node.outputs.size() > 1 && ctx.node.outputs[1] != kNoValue;
  if (wants_indices) return declined();
  return prepare_window_pool(ctx, WindowReduce::kMax);
}

Prepared prepare_average_pool(const PrepareContext& ctx) {
  return prepare_window_pool(ctx, WindowReduce::kAverage);
}

// --- MaxPoolNhwc / AveragePoolNhwc ------------------------------------------------

class WindowPoolNhwcKernel final : public PreparedKernel {
 public:
  WindowPoolNhwcKernel(const WindowNhwcJob& job, std::vector<float> inv_h, std::vector<float> inv_w)
      : job_(job), inv_h_(std::move(inv_h)), inv_w_(std::move(inv_w)) {
    job_.inv_count_h = inv_h_.data();
    job_.inv_count_w = inv_w_.data();
  }

  Status run(KernelContext& ctx) override {
    WindowNhwcJob job = job_;
    job.input = ctx.input(0).data<float>();
    job.output = ctx.output(0).data<float>();
    run_window_nhwc(job, ctx.pool);
    return Status::ok();
  }

 private:
  WindowNhwcJob job_;
  std::vector<float> inv_h_, inv_w_;
};

// Windows larger than the window kernels take (a 16x16 average pool closing a
// segmentation network): per output pixel a sum (or max) over the valid taps
// of whole channel rows, vectorized by the compiler.
class LargeWindowPoolNhwcKernel final : public PreparedKernel {
 public:
  LargeWindowPoolNhwcKernel(WindowReduce reduce, int64_t batch, int64_t channels, SlidingWindow w,
                            std::vector<float> inv_h, std::vector<float> inv_w)
      : reduce_(reduce), batch_(batch), c_(channels), w_(std::move(w)), inv_h_(std::move(inv_h)), inv_w_(std::move(inv_w)) {}

  Status run(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    const int64_t out_h = w_.grid[0], out_w = w_.grid[1], in_h = w_.image[0], in_w = w_.image[1];
    const bool max = reduce_ == WindowReduce::kMax;
    for_each_chunk(ctx.pool, batch_ * out_h, 1, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / out_h, oy = r % out_h;
        for (int64_t ox = 0; ox < out_w; ++ox) {
          float* out = y + (r * out_w + ox) * c_;
          std::fill_n(out, c_, max ? -std::numeric_limits<float>::infinity() : 0.0f);
          for (int64_t ky = 0; ky < w_.kernel[0]; ++ky) {
            const int64_t iy = oy * w_.strides[0] - w_.pad_begin[0] + ky * w_.dilations[0];
            if (iy < 0 || iy >= in_h) continue;
            for (int64_t kx = 0; kx < w_.kernel[1]; ++kx) {
              const int64_t ix = ox * w_.strides[1] - w_.pad_begin[1] + kx * w_.dilations[1];
              if (ix < 0 || ix >= in_w) continue;
              const float* in = x + ((n * in_h + iy) * in_w + ix) * c_;
              if (max) {
                for (int64_t c = 0; c < c_; ++c) out[c] = out[c] < in[c] ? in[c] : out[c];  // keeps NaN as the reference
              } else {
                for (int64_t c = 0; c < c_; ++c) out[c] += in[c];
              }
            }
          }
          if (!max) {
            const float scale = inv_h_[static_cast<size_t>(oy)] * inv_w_[static_cast<size_t>(ox)];
            for (int64_t c = 0; c < c_; ++c) out[c] *= scale;
          }
        }
      }
    });
    return Status::ok();
  }

 private:
  WindowReduce reduce_;
  int64_t batch_, c_;
  SlidingWindow w_;
  std::vector<float> inv_h_, inv_w_;
};

// A 2-D f32 pool on [N, H, W, C]; nullptr when declined.
Prepared prepare_window_pool_nhwc(const PrepareContext& ctx, WindowReduce reduce) {
  const Node& node = ctx.node;
  if (!ctx.has_input(0) || ctx.input(0).dtype() != DType::kF32 || ctx.input(0).rank() != 4) return declined();
  const Shape& x = ctx.input(0).shape();
  auto window = input_window(node, Shape{x[1], x[2]}, node.attr_ints("kernel_shape"), node.attr_int("ceil_mode", 0) != 0);
  if (!window.is_ok()) return declined();  // the reference kernel reports it
  const SlidingWindow w = std::move(window).value();
  WindowNhwcJob job;
  job.reduce = reduce;
  job.shape = DepthwiseConvShape{x[0], x[3], w.image[0], w.image[1], w.grid[0], w.grid[1], w.kernel[0], w.kernel[1],
                                 w.strides[0], w.strides[1], w.dilations[0], w.dilations[1], w.pad_begin[0],
                                 w.pad_begin[1]};
  const bool count_pads = node.attr_int("count_include_pad", 0) != 0;
  std::vector<float> inv_h, inv_w;
  if (reduce == WindowReduce::kAverage) {
    inv_h = inverse_tap_counts(w, 0, count_pads);
    inv_w = inverse_tap_counts(w, 1, count_pads);
  }
  if (!window_nhwc_supported(job.shape))
    return make_kernel<LargeWindowPoolNhwcKernel>(reduce, x[0], x[3], w, std::move(inv_h), std::move(inv_w));
  return make_kernel<WindowPoolNhwcKernel>(job, std::move(inv_h), std::move(inv_w));
}

Prepared prepare_max_pool_nhwc(const PrepareContext& ctx) {
  if (ctx.has_input(0) && ctx.input(0).dtype() != DType::kF32) return prepare_max_pool_nhwc_integer(ctx);
  return prepare_window_pool_nhwc(ctx, WindowReduce::kMax);
}
Prepared prepare_average_pool_nhwc(const PrepareContext& ctx) {
  return prepare_window_pool_nhwc(ctx, WindowReduce::kAverage);
}

// --- GlobalAveragePool / GlobalMaxPool ----------------------------------------------

// Below this many input values a global pool runs on the calling thread only.
constexpr int64_t kGlobalPoolParallelValues = 1 << 16;

template <bool kMax>
class GlobalPoolKernel final : public PreparedKernel {
 public:
  GlobalPoolKernel(int64_t planes, int64_t size) : planes_(planes), size_(size) {}

  Status run(KernelContext& ctx) override {
    const float* in = ctx.input(0).data<float>();
    float* out = ctx.output(0).data<float>();
    auto reduce = [&](int64_t begin, int64_t end) {
      if constexpr (kMax) HWY_DYNAMIC_DISPATCH(GlobalMax)(in, size_, begin, end, out);
      else HWY_DYNAMIC_DISPATCH(GlobalAverage)(in, size_, begin, end, out);
    };
    const int64_t threads = ctx.pool ? ctx.pool->threads() : 1;
    if (threads <= 1 || planes_ * size_ < kGlobalPoolParallelValues) {
      reduce(0, planes_);
      return Status::ok();
    }
    const int64_t tasks = std::min(planes_, 4 * threads);
    ctx.pool->parallel_for(tasks, [&](int64_t t) {
      const Range r = split_range(planes_, tasks, t);
      reduce(r.begin, r.end);
    });
    return Status::ok();
  }

 private:
  int64_t planes_, size_;
};

template <bool kMax>
Prepared prepare_global_pool(const PrepareContext& ctx) {
  if (!ctx.has_input(0) || ctx.input(0).dtype() != DType::kF32) return declined();
  const Shape& x = ctx.input(0).shape();
  if (x.size() < 3) return declined();
  const int64_t planes = x[0] * x[1];
  const int64_t size = shape_element_count(x) / std::max<int64_t>(planes, 1);
  if (planes == 0 || size == 0) return declined();
  return make_kernel<GlobalPoolKernel<kMax>>(planes, size);
}

}  // namespace

void register_pool_kernels(OpTable& table) {
  table.set_prepare(OpKind::MaxPool, prepare_max_pool);
  table.set_prepare(OpKind::AveragePool, prepare_average_pool);
  table.set_prepare(OpKind::GlobalMaxPool, prepare_global_pool<true>);
  table.set_prepare(OpKind::GlobalAveragePool, prepare_global_pool<false>);
  table.set_prepare(OpKind::MaxPoolNhwc, prepare_max_pool_nhwc);
  table.set_prepare(OpKind::AveragePoolNhwc, prepare_average_pool_nhwc);
}

}  // namespace iskra::cpu
#endif  // HWY_ONCE
