// Fast fp32 kernels of the normalizations and the reductions they are built
// from: Softmax / LogSoftmax along any axis, BatchNormalization (inference,
// constant statistics folded into a per-channel scale and shift),
// LayerNormalization over trailing axes, ReduceMean / ReduceSum over one
// contiguous block of axes. Other cases (dtypes, optional statistics outputs,
// run-time axes...) are declined: the reference kernel runs.
//
// Every op views its input as [outer, len, inner] and reduces over `len`:
// rows (inner == 1) are reduced with vector accumulators; otherwise each
// vector holds `inner` neighbours (columns) reduced independently. Sums are
// fp32 with several accumulators (the reference sums in double); each output
// element is computed by one thread in a fixed order, so results do not
// depend on the thread count.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/normalize_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/cpu/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {

// Sum of fn(d, x[i]) over a row of n floats.
template <class Fn>
HWY_INLINE float SumRow(const float* x, size_t n, const Fn& fn) {
  const FloatTag d;
  const size_t lanes = hn::Lanes(d);
  auto sum0 = hn::Zero(d), sum1 = hn::Zero(d), sum2 = hn::Zero(d), sum3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    sum0 = hn::Add(sum0, fn(d, hn::LoadU(d, x + i)));
    sum1 = hn::Add(sum1, fn(d, hn::LoadU(d, x + i + lanes)));
    sum2 = hn::Add(sum2, fn(d, hn::LoadU(d, x + i + 2 * lanes)));
    sum3 = hn::Add(sum3, fn(d, hn::LoadU(d, x + i + 3 * lanes)));
  }
  for (; i + lanes <= n; i += lanes) sum0 = hn::Add(sum0, fn(d, hn::LoadU(d, x + i)));
  if (i < n && n >= lanes) {  // the last vector, without the lanes already summed
    const size_t last = n - lanes;
    sum1 = hn::Add(sum1, hn::IfThenZeroElse(hn::FirstN(d, i - last), fn(d, hn::LoadU(d, x + last))));
  } else if (i < n) {
    sum1 = hn::IfThenElseZero(hn::FirstN(d, n - i), fn(d, Array{x}.LoadPartial(d, i, n - i)));
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(sum0, sum1), hn::Add(sum2, sum3))));
}

float MaxOfRow(const float* x, size_t n) {
  const FloatTag d;
  const size_t lanes = hn::Lanes(d);
  if (n < lanes) {
    const auto v = Array{x}.LoadPartial(d, 0, n);
    return hn::GetLane(hn::MaxOfLanes(d, hn::IfThenElse(hn::FirstN(d, n), v, hn::Set(d, -kInf))));
  }
  auto max = hn::LoadU(d, x + n - lanes);  // overlaps the loop's vectors: harmless for a max
  for (size_t i = 0; i + lanes <= n; i += lanes) max = hn::Max(max, hn::LoadU(d, x + i));
  return hn::GetLane(hn::MaxOfLanes(d, max));
}

// e / sum as e * inverse, but 0 where the quotient would be subnormal (e <
// negligible = sum * kTinyRatio): on x86, producing a subnormal costs a
// microcode assist of ~100 cycles, which made rows with a wide range of
// logits 5x slower. The error is below FLT_MIN.
constexpr float kTinyRatio = 2.0f * std::numeric_limits<float>::min();

template <class D, class V>
HWY_INLINE V DivideKeepingNormal(D, V e, V negligible, V inverse) {
  return hn::Mul(hn::IfThenZeroElse(hn::Lt(e, negligible), e), inverse);
}

// Softmax or LogSoftmax of rows [begin, end) of `len` floats each. A NaN or
// +inf anywhere in a row makes the whole row NaN, as in the reference.
void SoftmaxRows(const float* x, float* y, int64_t len, bool log, int64_t begin, int64_t end) {
  const size_t n = static_cast<size_t>(len);
  for (int64_t row = begin; row < end; ++row) {
    const float* in = x + row * len;
    float* out = y + row * len;
    const float max = MaxOfRow(in, n);
    auto exp_shifted = [max](auto d, auto v) { return ExpNonPositive(d, hn::Sub(v, hn::Set(d, max))); };
    if (log) {
      const float log_sum = std::log(SumRow(in, n, exp_shifted));
      Map(out, n, [=](auto d, auto v) { return hn::Sub(hn::Sub(v, hn::Set(d, max)), hn::Set(d, log_sum)); }, Array{in});
    } else {
      Map(out, n, exp_shifted, Array{in});
      const float sum = SumRow(out, n, [](auto, auto v) { return v; });
      const float inverse = 1.0f / sum, negligible = sum * kTinyRatio;
      MapInPlace(out, n, [=](auto d, auto v) { return DivideKeepingNormal(d, v, hn::Set(d, negligible), hn::Set(d, inverse)); });
    }
  }
}

// Softmax down Lanes(d) neighbouring columns: x[l * inner] for l < len.
template <class D>
HWY_INLINE void SoftmaxColumns(D d, const float* x, float* y, int64_t len, int64_t inner, bool log) {
  auto max = hn::LoadU(d, x);
  for (int64_t l = 1; l < len; ++l) max = hn::Max(max, hn::LoadU(d, x + l * inner));
  auto sum = hn::Zero(d);
  for (int64_t l = 0; l < len; ++l) {
    const auto e = ExpNonPositive(d, hn::Sub(hn::LoadU(d, x + l * inner), max));
    if (!log) hn::StoreU(e, d, y + l * inner);
    sum = hn::Add(sum, e);
  }
  if (log) {
    const auto log_sum = hn::IfThenElse(hn::IsNaN(sum), sum, hn::Log(d, sum));
    for (int64_t l = 0; l < len; ++l)
      hn::StoreU(hn::Sub(hn::Sub(hn::LoadU(d, x + l * inner), max), log_sum), d, y + l * inner);
  } else {
    const auto inverse = Reciprocal(d, sum);  // sum >= 1, or NaN
    const auto negligible = hn::Mul(sum, hn::Set(d, kTinyRatio));
    for (int64_t l = 0; l < len; ++l)
      hn::StoreU(DivideKeepingNormal(d, hn::LoadU(d, y + l * inner), negligible, inverse), d, y + l * inner);
  }
}

// Calls columns(d, offset) over the (outer, column) pairs [begin, end) of an
// [outer, len, inner] tensor, a full vector of columns at a time where it
// fits, else one column; offset is that of element (outer, 0, column).
template <class Fn>
HWY_INLINE void ForEachColumnBlock(int64_t len, int64_t inner, int64_t begin, int64_t end, const Fn& columns) {
  const FloatTag d;
  const hn::CappedTag<float, 1> d1;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t outer = begin / inner; outer * inner < end; ++outer) {
    const int64_t first = std::max(begin - outer * inner, int64_t{0});
    const int64_t last = std::min(end - outer * inner, inner);
    int64_t c = first;
    for (; c + lanes <= last; c += lanes) columns(d, outer * len * inner + c);
    for (; c < last; ++c) columns(d1, outer * len * inner + c);
  }
}

void SoftmaxStrided(const float* x, float* y, int64_t len, int64_t inner, bool log, int64_t begin, int64_t end) {
  ForEachColumnBlock(len, inner, begin, end,
                     [&](auto d, int64_t at) { SoftmaxColumns(d, x + at, y + at, len, inner, log); });
}

// y = (x - mean) / sqrt(var + epsilon) * scale + bias over rows [begin, end).
void LayerNormRows(const float* x, float* y, const float* scale, const float* bias, int64_t len, float epsilon,
                   int64_t begin, int64_t end) {
  const size_t n = static_cast<size_t>(len);
  for (int64_t row = begin; row < end; ++row) {
    const float* in = x + row * len;
    const float mean = SumRow(in, n, [](auto, auto v) { return v; }) / static_cast<float>(len);
    const float var = SumRow(in, n, [mean](auto d, auto v) {
                        const auto centered = hn::Sub(v, hn::Set(d, mean));
                        return hn::Mul(centered, centered);
                      }) / static_cast<float>(len);
    const float inv_std = 1.0f / std::sqrt(var + epsilon);
    auto normalize = [=](auto d, auto v, auto s, auto b) {
      return hn::MulAdd(hn::Mul(hn::Sub(v, hn::Set(d, mean)), hn::Set(d, inv_std)), s, b);
    };
    if (bias) Map(y + row * len, n, normalize, Array{in}, Array{scale}, Array{bias});
    else Map(y + row * len, n, normalize, Array{in}, Array{scale}, Broadcast{0.0f});
  }
}

// y = x * scale[c] + shift[c] with channel c: rows [begin, end) of `spatial`
// floats are channel (row % channels); for spatial == 1, each row holds all
// channels (a [N, C] input).
void ChannelAffine(const float* x, float* y, const float* scale, const float* shift, int64_t channels,
                   int64_t spatial, int64_t begin, int64_t end) {
  auto affine = [](auto, auto v, auto s, auto t) { return hn::MulAdd(v, s, t); };
  for (int64_t row = begin; row < end; ++row) {
    if (spatial == 1) {
      Map(y + row * channels, static_cast<size_t>(channels), affine, Array{x + row * channels}, Array{scale},
          Array{shift});
    } else {
      Map(y + row * spatial, static_cast<size_t>(spatial), affine, Array{x + row * spatial},
          Broadcast{scale[row % channels]}, Broadcast{shift[row % channels]});
    }
  }
}

// y[outer, inner] = sum over l of x[outer, l, inner] / divisor, for the
// (outer, inner) pairs [begin, end).
void SumAxis(const float* x, float* y, int64_t len, int64_t inner, float divisor, int64_t begin, int64_t end) {
  if (inner == 1) {
    for (int64_t row = begin; row < end; ++row)
      y[row] = SumRow(x + row * len, static_cast<size_t>(len), [](auto, auto v) { return v; }) / divisor;
    return;
  }
  // Rows of a span of up to kSpan columns are added into partial sums, which
  // every kBlock rows are added into the totals: memory is read once, row by
  // row, and each sum adds about kBlock + len / kBlock terms in sequence
  // instead of len (the accuracy of a pairwise sum, for a mean over a
  // 160x160 plane of an NHWC tensor).
  constexpr int64_t kSpan = 256, kBlock = 64;
  const FloatTag d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  HWY_ALIGN float partial[kSpan], total[kSpan];
  for (int64_t outer = begin / inner; outer * inner < end; ++outer) {
    const int64_t first = std::max(begin - outer * inner, int64_t{0});
    const int64_t last = std::min(end - outer * inner, inner);
    for (int64_t c0 = first; c0 < last; c0 += kSpan) {
      const int64_t span = std::min(kSpan, last - c0);
      const int64_t vector_span = span / lanes * lanes;
      const float* column = x + outer * len * inner + c0;
      std::fill_n(total, span, 0.0f);
      for (int64_t l0 = 0; l0 < len; l0 += kBlock) {
        std::fill_n(partial, span, 0.0f);
        for (int64_t l = l0; l < std::min(len, l0 + kBlock); ++l) {
          const float* row = column + l * inner;
          int64_t c = 0;
          for (; c < vector_span; c += lanes) hn::Store(hn::Add(hn::Load(d, partial + c), hn::LoadU(d, row + c)), d, partial + c);
          for (; c < span; ++c) partial[c] += row[c];
        }
        for (int64_t c = 0; c < span; ++c) total[c] += partial[c];
      }
      float* out = y + outer * inner + c0;
      for (int64_t c = 0; c < span; ++c) out[c] = total[c] / divisor;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <memory>
#include <optional>
#include <vector>

#include "kernels/cpu/parallel_chunks.h"
#include "kernels/cpu/register.h"

namespace iskra::cpu {

HWY_EXPORT(SoftmaxRows);
HWY_EXPORT(SoftmaxStrided);
HWY_EXPORT(LayerNormRows);
HWY_EXPORT(ChannelAffine);
HWY_EXPORT(SumAxis);

namespace {

constexpr int64_t kMinTaskElements = 16 * 1024;  // below that, a thread wake-up costs more than it saves

using Prepared = Result<std::unique_ptr<PreparedKernel>>;
Prepared decline() { return std::unique_ptr<PreparedKernel>(); }

bool is_f32(const Tensor* t) { return t != nullptr && t->dtype() == DType::kF32; }

// Element count of dims [first, last) of `shape`.
int64_t dims_product(const Shape& shape, size_t first, size_t last) {
  int64_t n = 1;
  for (size_t d = first; d < last; ++d) n *= shape[d];
  return n;
}

// An input viewed as [outer, len, inner], reduced or normalized over `len`.
struct AxisView {
  int64_t outer = 1, len = 1, inner = 1;
};

// Calls fn(begin, end) over `items` independent items of `item_elements`
// floats each, on the pool when the tensor is large.
template <typename Fn>
void for_each_item(KernelContext& ctx, int64_t items, int64_t item_elements, Fn&& fn) {
  const int64_t min_items = std::max<int64_t>(1, kMinTaskElements / std::max<int64_t>(item_elements, 1));
  for_each_chunk(ctx.pool, items, min_items, 1, fn);
}

// The independent items of a view, `len` elements each: rows when inner == 1,
// else (outer, column) pairs.
int64_t items_of(const AxisView& v) { return v.inner == 1 ? v.outer : v.outer * v.inner; }

// ---------------------------------------------------------------------------
// Softmax, LogSoftmax.

class SoftmaxKernel final : public PreparedKernel {
 public:
  SoftmaxKernel(AxisView view, bool log) : view_(view), log_(log) {}

  Status run(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    for_each_item(ctx, items_of(view_), view_.len, [&](int64_t begin, int64_t end) {
      if (view_.inner == 1) HWY_DYNAMIC_DISPATCH(SoftmaxRows)(x, y, view_.len, log_, begin, end);
      else HWY_DYNAMIC_DISPATCH(SoftmaxStrided)(x, y, view_.len, view_.inner, log_, begin, end);
    });
    return Status::ok();
  }

 private:
  AxisView view_;
  bool log_;
};

// coerce_2d (opset < 13): one softmax over all axes from `axis` on.
Prepared prepare_softmax(const PrepareContext& ctx) {
  if (ctx.node.inputs.size() != 1 || !is_f32(ctx.inputs[0]) || ctx.outputs[0].dtype != DType::kF32) return decline();
  const Shape& shape = ctx.input(0).shape();
  const int64_t rank = static_cast<int64_t>(shape.size());
  int64_t axis = ctx.node.attr_int("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return decline();
  const size_t a = static_cast<size_t>(axis);
  AxisView view{dims_product(shape, 0, a), shape[a], dims_product(shape, a + 1, shape.size())};
  if (ctx.node.attr_int("coerce_2d", 0) != 0) view = {view.outer, view.len * view.inner, 1};
  if (view.len == 0) return decline();  // nothing to normalize (and no element to start a max from)
  return std::unique_ptr<PreparedKernel>(std::make_unique<SoftmaxKernel>(view, ctx.node.op == OpKind::LogSoftmax));
}

// ---------------------------------------------------------------------------
// BatchNormalization (inference).

class BatchNormKernel final : public PreparedKernel {
 public:
  BatchNormKernel(std::vector<float> scale, std::vector<float> shift) : scale_(std::move(scale)), shift_(std::move(shift)) {}

  Status run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t channels = x.dim(1), spatial = dims_product(x.shape(), 2, x.shape().size());
    const int64_t row_size = spatial == 1 ? channels : spatial;
    const int64_t rows = row_size == 0 ? 0 : x.element_count() / row_size;
    float* y = ctx.output(0).data<float>();
    for_each_item(ctx, rows, row_size, [&](int64_t begin, int64_t end) {
      HWY_DYNAMIC_DISPATCH(ChannelAffine)(x.data<float>(), y, scale_.data(), shift_.data(), channels, spatial, begin, end);
    });
    return Status::ok();
  }

 private:
  std::vector<float> scale_, shift_;  // y = x * scale + shift per channel
};

// Constant scale, B, mean and var folded into scale / sqrt(var + eps) and
// B - mean * that (in double, rounded once).
Prepared prepare_batch_norm(const PrepareContext& ctx) {
  const Node& node = ctx.node;
  if (node.attr_int("training_mode", 0) != 0 || node.has_output(1) || node.has_output(2)) return decline();
  if (node.inputs.size() != 5 || !is_f32(ctx.inputs[0]) || ctx.input(0).rank() < 2) return decline();
  for (size_t i = 1; i <= 4; ++i)
    if (!is_f32(ctx.inputs[i]) || !ctx.is_constant(i)) return decline();
  const double epsilon = node.attr_float("epsilon", 1e-5f);
  const size_t channels = static_cast<size_t>(ctx.input(0).dim(1));
  std::vector<float> scale(channels), shift(channels);
  for (size_t c = 0; c < channels; ++c) {
    const double s = ctx.input(1).data<float>()[c] / std::sqrt(double{ctx.input(4).data<float>()[c]} + epsilon);
    scale[c] = static_cast<float>(s);
    shift[c] = static_cast<float>(ctx.input(2).data<float>()[c] - ctx.input(3).data<float>()[c] * s);
  }
  return std::unique_ptr<PreparedKernel>(std::make_unique<BatchNormKernel>(std::move(scale), std::move(shift)));
}

// ---------------------------------------------------------------------------
// LayerNormalization.

class LayerNormKernel final : public PreparedKernel {
 public:
  LayerNormKernel(AxisView view, float epsilon) : view_(view), epsilon_(epsilon) {}

  Status run(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    const float* scale = ctx.input(1).data<float>();
    const float* bias = ctx.has_input(2) ? ctx.input(2).data<float>() : nullptr;
    float* y = ctx.output(0).data<float>();
    for_each_item(ctx, view_.outer, view_.len, [&](int64_t begin, int64_t end) {
      HWY_DYNAMIC_DISPATCH(LayerNormRows)(x, y, scale, bias, view_.len, epsilon_, begin, end);
    });
    return Status::ok();
  }

 private:
  AxisView view_;  // inner == 1
  float epsilon_;
};

// True when `param` broadcast to `shape` repeats one row of `shape[axis:]`:
// 1 (or absent) on the leading axes, the full trailing dims from `axis` on.
bool is_trailing_row(const Shape& param, const Shape& shape, size_t axis) {
  if (param.size() > shape.size()) return false;
  const size_t pad = shape.size() - param.size();
  for (size_t d = pad; d < shape.size(); ++d)
    if (param[d - pad] != (d < axis ? 1 : shape[d])) return false;
  return pad <= axis;
}

Prepared prepare_layer_norm(const PrepareContext& ctx) {
  const Node& node = ctx.node;
  if (node.has_output(1) || node.has_output(2) || node.attr_int("stash_type", 1) != 1) return decline();
  if (!is_f32(ctx.inputs[0]) || !is_f32(ctx.inputs[1]) || ctx.outputs[0].dtype != DType::kF32) return decline();
  if (ctx.has_input(2) && !is_f32(ctx.inputs[2])) return decline();
  const Shape& shape = ctx.input(0).shape();
  const int64_t rank = static_cast<int64_t>(shape.size());
  int64_t axis = node.attr_int("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return decline();
  const size_t a = static_cast<size_t>(axis);
  if (!is_trailing_row(ctx.input(1).shape(), shape, a)) return decline();
  if (ctx.has_input(2) && !is_trailing_row(ctx.input(2).shape(), shape, a)) return decline();
  const AxisView view{dims_product(shape, 0, a), dims_product(shape, a, shape.size()), 1};
  if (view.len == 0) return decline();
  return std::unique_ptr<PreparedKernel>(std::make_unique<LayerNormKernel>(view, node.attr_float("epsilon", 1e-5f)));
}

// ---------------------------------------------------------------------------
// ReduceMean, ReduceSum.

class SumKernel final : public PreparedKernel {
 public:
  SumKernel(AxisView view, float divisor) : view_(view), divisor_(divisor) {}

  Status run(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    for_each_item(ctx, items_of(view_), view_.len, [&](int64_t begin, int64_t end) {
      HWY_DYNAMIC_DISPATCH(SumAxis)(x, y, view_.len, view_.inner, divisor_, begin, end);
    });
    return Status::ok();
  }

 private:
  AxisView view_;
  float divisor_;  // len for the mean, 1 for the sum
};

// The reduced axes from the constant `axes` input (absent or empty: all
// axes); nullopt unless they are one contiguous block [first, last).
std::optional<std::pair<size_t, size_t>> reduced_block(const PrepareContext& ctx, size_t rank) {
  std::vector<bool> reduced(rank, true);
  if (ctx.has_input(1)) {
    if (!ctx.is_constant(1)) return std::nullopt;
    const std::vector<int64_t> axes = tensor_to_int64s(ctx.input(1));
    if (!axes.empty()) {
      reduced.assign(rank, false);
      for (int64_t axis : axes) {
        const int64_t a = axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
        if (a < 0 || a >= static_cast<int64_t>(rank) || reduced[static_cast<size_t>(a)]) return std::nullopt;
        reduced[static_cast<size_t>(a)] = true;
      }
    } else if (ctx.node.attr_int("noop_with_empty_axes", 0) != 0) {
      return std::nullopt;
    }
  } else if (ctx.node.attr_int("noop_with_empty_axes", 0) != 0) {
    return std::nullopt;
  }
  const auto first = std::find(reduced.begin(), reduced.end(), true);
  const auto last = std::find(first, reduced.end(), false);
  if (first == reduced.end() || std::find(last, reduced.end(), true) != reduced.end()) return std::nullopt;
  return std::pair{static_cast<size_t>(first - reduced.begin()), static_cast<size_t>(last - reduced.begin())};
}

Prepared prepare_reduce(const PrepareContext& ctx) {
  if (!is_f32(ctx.inputs[0]) || ctx.outputs[0].dtype != DType::kF32) return decline();
  const Shape& shape = ctx.input(0).shape();
  const auto block = reduced_block(ctx, shape.size());
  if (!block) return decline();
  const auto [first, last] = *block;
  const AxisView view{dims_product(shape, 0, first), dims_product(shape, first, last),
                      dims_product(shape, last, shape.size())};
  if (view.len == 0) return decline();  // empty reductions: the reference's NaN / 0
  const float divisor = ctx.node.op == OpKind::ReduceMean ? static_cast<float>(view.len) : 1.0f;
  return std::unique_ptr<PreparedKernel>(std::make_unique<SumKernel>(view, divisor));
}

}  // namespace

void register_normalize_kernels(OpTable& table) {
  table.set_prepare(OpKind::Softmax, prepare_softmax);
  table.set_prepare(OpKind::LogSoftmax, prepare_softmax);
  table.set_prepare(OpKind::BatchNormalization, prepare_batch_norm);
  table.set_prepare(OpKind::LayerNormalization, prepare_layer_norm);
  table.set_prepare(OpKind::ReduceMean, prepare_reduce);
  table.set_prepare(OpKind::ReduceSum, prepare_reduce);
}

}  // namespace iskra::cpu
#endif  // HWY_ONCE
