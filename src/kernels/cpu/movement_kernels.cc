// Fast data movement: Transpose, Concat and constant-mode Pad (any dtype of 1,
// 2, 4 or 8 bytes)
// and Resize (f32, nearest and bilinear over the last two axes, or over axes
// 1 and 2 of an NHWC tensor).
//
// Transpose first simplifies the permutation (drops size-1 dims, merges input
// dims that stay adjacent), then either copies contiguous runs (the last dim
// stays last, e.g. [0,2,1,3]) or transposes 2-D tiles (e.g. [0,2,3,1]).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/register.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/movement_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#ifndef ISKRA_MOVEMENT_KERNELS_SHARED
#define ISKRA_MOVEMENT_KERNELS_SHARED
namespace iskra::cpu {

// Resize along one axis: output position o reads source[o] (nearest), or
// (1 - weight[o]) * x[source[o]] + weight[o] * x[source2[o]] (linear).
struct ResizeAxisMap {
  std::vector<int32_t> source, source2;
  std::vector<float> weight0, weight1;
  int32_t repeat = 0;  // nearest: k when source[o] == o / k for every o (k = 2, 4), else 0
  bool identity = false;
};

// Planes [planes, in_h, in_w] (NCHW), or with channels > 0 images
// [planes, in_h, in_w, channels] (NHWC, the layout pass's).
struct ResizeJob {
  int64_t planes = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t channels = 0;
  bool linear = false;
  const ResizeAxisMap* rows = nullptr;
  const ResizeAxisMap* columns = nullptr;
};

}  // namespace iskra::cpu
#endif  // ISKRA_MOVEMENT_KERNELS_SHARED

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// dst[x] = src[map.source[x]] for one output row.
void nearest_row(const ResizeAxisMap& map, const float* src, int64_t in_w, int64_t out_w, float* dst) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  if (map.identity) {
    std::memcpy(dst, src, static_cast<size_t>(out_w) * sizeof(float));
    return;
  }
  int64_t x = 0;  // output columns done
  if (map.repeat == 2) {
    for (int64_t i = 0; i + lanes <= in_w && 2 * (i + lanes) <= out_w; i += lanes, x += 2 * lanes) {
      const auto v = hn::LoadU(d, src + i);
      hn::StoreInterleaved2(v, v, d, dst + x);
    }
  } else if (map.repeat == 4) {
    for (int64_t i = 0; i + lanes <= in_w && 4 * (i + lanes) <= out_w; i += lanes, x += 4 * lanes) {
      const auto v = hn::LoadU(d, src + i);
      hn::StoreInterleaved4(v, v, v, v, d, dst + x);
    }
  } else {
    for (; x + lanes <= out_w; x += lanes)
      hn::StoreU(hn::GatherIndex(d, src, hn::LoadU(di, map.source.data() + x)), d, dst + x);
  }
  for (; x < out_w; ++x) dst[x] = src[map.source[static_cast<size_t>(x)]];
}

// dst[x] = w0[x] * src[source[x]] + w1[x] * src[source2[x]] for one output row.
void linear_row(const ResizeAxisMap& map, const float* src, int64_t out_w, float* dst) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t x = 0;
  for (; x + lanes <= out_w; x += lanes) {
    const auto a = hn::GatherIndex(d, src, hn::LoadU(di, map.source.data() + x));
    const auto b = hn::GatherIndex(d, src, hn::LoadU(di, map.source2.data() + x));
    hn::StoreU(hn::MulAdd(hn::LoadU(d, map.weight1.data() + x), b, hn::Mul(hn::LoadU(d, map.weight0.data() + x), a)),
               d, dst + x);
  }
  for (; x < out_w; ++x) {
    const auto i = static_cast<size_t>(x);
    dst[x] = map.weight1[i] * src[map.source2[i]] + map.weight0[i] * src[map.source[i]];
  }
}

// dst = w0 * a + w1 * b over n values.
void blend_rows(const float* a, float w0, const float* b, float w1, int64_t n, float* dst) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto v0 = hn::Set(d, w0), v1 = hn::Set(d, w1);
  int64_t x = 0;
  for (; x + lanes <= n; x += lanes)
    hn::StoreU(hn::MulAdd(v1, hn::LoadU(d, b + x), hn::Mul(v0, hn::LoadU(d, a + x))), d, dst + x);
  for (; x < n; ++x) dst[x] = w1 * b[x] + w0 * a[x];
}

// Per-thread scratch that grows once and is then reused.
float* resize_scratch(size_t count) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < count) scratch.resize(count);
  return scratch.data();
}

void ResizePlanes(const ResizeJob& job, const float* input, float* output, int64_t p0, int64_t p1) {
  const ResizeAxisMap& rows = *job.rows;
  // Linear: the column-interpolated source rows are cached in two slots.
  float* slots = job.linear ? resize_scratch(static_cast<size_t>(2 * job.out_w)) : nullptr;
  for (int64_t p = p0; p < p1; ++p) {
    const float* in = input + p * job.in_h * job.in_w;
    float* out = output + p * job.out_h * job.out_w;
    // Linear: the slots hold the column-interpolated source rows cached[0], cached[1].
    int64_t cached[2] = {-1, -1};
    const auto slot_of = [&](int64_t r) { return cached[0] == r ? 0 : cached[1] == r ? 1 : -1; };
    const auto fill_slot = [&](int slot, int64_t r) {
      cached[slot] = r;
      linear_row(*job.columns, in + r * job.in_w, job.out_w, slots + slot * job.out_w);
    };
    for (int64_t oy = 0; oy < job.out_h; ++oy) {
      const auto o = static_cast<size_t>(oy);
      float* dst = out + oy * job.out_w;
      if (!job.linear) {
        if (oy > 0 && rows.source[o] == rows.source[o - 1])
          std::memcpy(dst, dst - job.out_w, static_cast<size_t>(job.out_w) * sizeof(float));
        else
          nearest_row(*job.columns, in + rows.source[o] * job.in_w, job.in_w, job.out_w, dst);
        continue;
      }
      const int64_t top = rows.source[o], bottom = rows.source2[o];
      int a = slot_of(top);
      if (a < 0) fill_slot(a = slot_of(bottom) == 0 ? 1 : 0, top);  // keeping `bottom` if cached
      int b = slot_of(bottom);
      if (b < 0) fill_slot(b = 1 - a, bottom);
      blend_rows(slots + a * job.out_w, rows.weight0[o], slots + b * job.out_w, rows.weight1[o], job.out_w, dst);
    }
  }
}

// NHWC: output rows [r0, r1) of the flattened (image, oy) rows; each output
// pixel reads whole source pixels (channels contiguous).
void ResizeNhwcRows(const ResizeJob& job, const float* input, float* output, int64_t r0, int64_t r1) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const ResizeAxisMap& rows = *job.rows;
  const ResizeAxisMap& cols = *job.columns;
  const int64_t c = job.channels, in_row = job.in_w * c, out_row = job.out_w * c;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t image = r / job.out_h, oy = r % job.out_h;
    const auto o = static_cast<size_t>(oy);
    const float* in = input + image * job.in_h * in_row;
    float* dst = output + r * out_row;
    if (!job.linear) {
      if (oy > 0 && r > r0 && rows.source[o] == rows.source[o - 1]) {
        std::memcpy(dst, dst - out_row, static_cast<size_t>(out_row) * sizeof(float));
        continue;
      }
      const float* src = in + rows.source[o] * in_row;
      for (int64_t ox = 0; ox < job.out_w; ++ox)
        std::memcpy(dst + ox * c, src + cols.source[static_cast<size_t>(ox)] * c, static_cast<size_t>(c) * sizeof(float));
      continue;
    }
    const float* top = in + rows.source[o] * in_row;
    const float* bottom = in + rows.source2[o] * in_row;
    const auto wy0 = hn::Set(d, rows.weight0[o]), wy1 = hn::Set(d, rows.weight1[o]);
    for (int64_t ox = 0; ox < job.out_w; ++ox) {
      const auto x = static_cast<size_t>(ox);
      const int64_t left = cols.source[x] * c, right = cols.source2[x] * c;
      const float wx0 = cols.weight0[x], wx1 = cols.weight1[x];
      const auto vx0 = hn::Set(d, wx0), vx1 = hn::Set(d, wx1);
      float* pixel = dst + ox * c;
      int64_t k = 0;
      for (; k + lanes <= c; k += lanes) {  // columns first, then rows, as ResizePlanes
        const auto t = hn::MulAdd(vx1, hn::LoadU(d, top + right + k), hn::Mul(vx0, hn::LoadU(d, top + left + k)));
        const auto b = hn::MulAdd(vx1, hn::LoadU(d, bottom + right + k), hn::Mul(vx0, hn::LoadU(d, bottom + left + k)));
        hn::StoreU(hn::MulAdd(wy1, b, hn::Mul(wy0, t)), d, pixel + k);
      }
      for (; k < c; ++k) {
        const float t = wx1 * top[right + k] + wx0 * top[left + k];
        const float b = wx1 * bottom[right + k] + wx0 * bottom[left + k];
        pixel[k] = rows.weight1[o] * b + rows.weight0[o] * t;
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace iskra::cpu {

HWY_EXPORT(ResizePlanes);
HWY_EXPORT(ResizeNhwcRows);

namespace {

using Prepared = Result<std::unique_ptr<PreparedKernel>>;

// The case is not handled here: the reference kernel runs.
std::unique_ptr<PreparedKernel> declined() { return nullptr; }

template <class Kernel, class... Args>
std::unique_ptr<PreparedKernel> make_kernel(Args&&... args) {
  return std::make_unique<Kernel>(std::forward<Args>(args)...);
}

// Below this many bytes moved a kernel runs on the calling thread only.
constexpr int64_t kParallelBytes = int64_t{1} << 20;

// Runs fn(begin, end) over [0, n), split over the pool when `bytes` is large.
template <class Fn>
void for_ranges(ThreadPool* pool, int64_t n, int64_t bytes, Fn&& fn) {
  const int64_t threads = pool ? pool->threads() : 1;
  if (threads <= 1 || bytes < kParallelBytes || n < 2) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t tasks = std::min(n, 4 * threads);
  pool->parallel_for(tasks, [&](int64_t t) {
    const Range r = split_range(n, tasks, t);
    fn(r.begin, r.end);
  });
}

bool movable_dtype(DType dtype) {
  const size_t size = dtype_size(dtype);
  return dtype != DType::kString && (size == 1 || size == 2 || size == 4 || size == 8);
}

// --- Transpose ----------------------------------------------------------------------

constexpr int kMaxRank = 8;

// A permutation with size-1 dims dropped and runs of input dims that stay
// adjacent (and in order) in the output merged:
// output dim d is input dim perm[d] (of in_dims).
struct Permutation {
  int rank = 0;
  int64_t in_dims[kMaxRank] = {};
  int perm[kMaxRank] = {};
};

Permutation simplify(const Shape& in, const std::vector<int64_t>& perm) {
  // Output order of the input dims other than 1 (a 0 stays: nothing to move).
  std::vector<int> order;
  for (int64_t p : perm)
    if (in[static_cast<size_t>(p)] != 1) order.push_back(static_cast<int>(p));
  // Runs of consecutive input dims in output order become one dim.
  std::vector<std::pair<int, int>> runs;  // first, last input dim
  for (int p : order) {
    if (!runs.empty() && runs.back().second + 1 == p) runs.back().second = p;
    else runs.emplace_back(p, p);
  }
  // The runs sorted by input position are the simplified input dims.
  std::vector<int> by_input(runs.size());
  std::iota(by_input.begin(), by_input.end(), 0);
  std::sort(by_input.begin(), by_input.end(),
            [&](int a, int b) { return runs[static_cast<size_t>(a)].first < runs[static_cast<size_t>(b)].first; });
  Permutation s;
  s.rank = static_cast<int>(runs.size());
  for (int k = 0; k < s.rank; ++k) {
    const int run = by_input[static_cast<size_t>(k)];
    s.in_dims[k] = 1;
    for (int p = runs[static_cast<size_t>(run)].first; p <= runs[static_cast<size_t>(run)].second; ++p)
      s.in_dims[k] *= in[static_cast<size_t>(p)];
    s.perm[run] = k;  // output dim `run` is input dim k
  }
  return s;
}

// Walks a multi-index over `count` dims in row-major order, tracking the
// element offsets of the source and destination.
struct Odometer {
  int count = 0;
  int64_t dims[kMaxRank] = {}, src_strides[kMaxRank] = {}, dst_strides[kMaxRank] = {};
  int64_t index[kMaxRank] = {};
  int64_t src = 0, dst = 0;

  void seek(int64_t flat) {
    src = dst = 0;
    for (int k = count - 1; k >= 0; --k) {
      index[k] = flat % dims[k];
      flat /= dims[k];
      src += index[k] * src_strides[k];
      dst += index[k] * dst_strides[k];
    }
  }
  void next() {
    for (int k = count - 1; k >= 0; --k) {
      src += src_strides[k];
      dst += dst_strides[k];
      if (++index[k] < dims[k]) return;
      src -= dims[k] * src_strides[k];
      dst -= dims[k] * dst_strides[k];
      index[k] = 0;
    }
  }
};

// out[j * out_stride + i] = in[i * in_stride + j] for i < rows, j < cols, in tiles.
template <class T>
void transpose_2d(const T* in, int64_t in_stride, T* out, int64_t out_stride, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 16;
  for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
    const int64_t j1 = std::min(cols, j0 + kTile);
    for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
      const int64_t i1 = std::min(rows, i0 + kTile);
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t i = i0; i < i1; ++i) out[j * out_stride + i] = in[i * in_stride + j];
    }
  }
}

class TransposeKernel final : public PreparedKernel {
 public:
  TransposeKernel(const Permutation& p, size_t elem) : elem_(elem) {
    int64_t in_strides[kMaxRank], out_strides[kMaxRank];
    int64_t stride = 1;
    for (int k = p.rank - 1; k >= 0; --k) in_strides[k] = stride, stride *= p.in_dims[k];
    stride = 1;
    for (int k = p.rank - 1; k >= 0; --k) out_strides[k] = stride, stride *= p.in_dims[p.perm[k]];
    total_ = stride;
    last_stays_last_ = p.rank <= 1 || p.perm[p.rank - 1] == p.rank - 1;
    // Outer dims: every output dim but the last, and (for tiles) but the one
    // that is the input's last.
    const int inner_out = p.rank - 1;
    int input_last_at = -1;
    for (int k = 0; k < p.rank; ++k)
      if (p.perm[k] == p.rank - 1) input_last_at = k;
    for (int k = 0; k < p.rank - 1; ++k) {
      if (!last_stays_last_ && k == input_last_at) continue;
      outer_.dims[outer_.count] = p.in_dims[p.perm[k]];
      outer_.src_strides[outer_.count] = in_strides[p.perm[k]];
      outer_.dst_strides[outer_.count++] = out_strides[k];
    }
    outer_total_ = 1;
    for (int k = 0; k < outer_.count; ++k) outer_total_ *= outer_.dims[k];
    if (p.rank >= 1) {
      rows_ = p.in_dims[p.perm[inner_out]];  // the output's last dim
      rows_stride_ = in_strides[p.perm[inner_out]];
    }
    if (!last_stays_last_) {
      cols_ = p.in_dims[p.rank - 1];
      cols_stride_ = out_strides[input_last_at];
    }
  }

  Status run(KernelContext& ctx) override {
    const auto* in = static_cast<const std::byte*>(ctx.input(0).raw_data());
    auto* out = static_cast<std::byte*>(ctx.output(0).raw_data());
    const auto bytes = static_cast<int64_t>(elem_) * total_;
    if (total_ == 0) return Status::ok();
    if (last_stays_last_) {
      const size_t run_bytes = static_cast<size_t>(rows_) * elem_;
      for_ranges(ctx.pool, outer_total_, bytes, [&](int64_t begin, int64_t end) {
        Odometer o = outer_;
        o.seek(begin);
        for (int64_t i = begin; i < end; ++i, o.next())
          std::memcpy(out + o.dst * static_cast<int64_t>(elem_), in + o.src * static_cast<int64_t>(elem_), run_bytes);
      });
      return Status::ok();
    }
    switch (elem_) {
      case 1: tiles<uint8_t>(in, out, ctx.pool, bytes); break;
      case 2: tiles<uint16_t>(in, out, ctx.pool, bytes); break;
      case 4: tiles<uint32_t>(in, out, ctx.pool, bytes); break;
      default: tiles<uint64_t>(in, out, ctx.pool, bytes); break;
    }
    return Status::ok();
  }

 private:
  template <class T>
  void tiles(const std::byte* in, std::byte* out, ThreadPool* pool, int64_t bytes) const {
    const T* src = reinterpret_cast<const T*>(in);
    T* dst = reinterpret_cast<T*>(out);
    for_ranges(pool, outer_total_, bytes, [&](int64_t begin, int64_t end) {
      Odometer o = outer_;
      o.seek(begin);
      for (int64_t i = begin; i < end; ++i, o.next())
        transpose_2d(src + o.src, rows_stride_, dst + o.dst, cols_stride_, rows_, cols_);
    });
  }

  size_t elem_;
  int64_t total_ = 0;
  bool last_stays_last_ = true;
  Odometer outer_;
  int64_t outer_total_ = 1;
  int64_t rows_ = 1, rows_stride_ = 0;  // the output's last dim, and its stride in the input
  int64_t cols_ = 1, cols_stride_ = 0;  // the input's last dim, and its stride in the output
};

Prepared prepare_transpose(const PrepareContext& ctx) {
  if (!ctx.has_input(0) || !movable_dtype(ctx.input(0).dtype())) return declined();
  const Shape& in = ctx.input(0).shape();
  const int rank = static_cast<int>(in.size());
  if (rank > kMaxRank) return declined();
  std::vector<int64_t> perm(static_cast<size_t>(rank));
  for (int d = 0; d < rank; ++d) perm[static_cast<size_t>(d)] = rank - 1 - d;
  perm = ctx.node.attr_ints("perm", perm);
  for (int64_t& p : perm) p = p < 0 ? p + rank : p;  // the shape function validated the values
  return make_kernel<TransposeKernel>(simplify(in, perm), dtype_size(ctx.input(0).dtype()));
}

// --- Concat ---------------------------------------------------------------------------

// out = the inputs side by side along `axis`: for each of `outer` blocks, each
// input contributes one contiguous run. Threads split the output's bytes, so
// a single large block (outer = 1) spreads too.
class ConcatKernel final : public PreparedKernel {
 public:
  ConcatKernel(int64_t outer, std::vector<int64_t> run_bytes)
      : outer_(outer), run_bytes_(std::move(run_bytes)),
        out_block_(std::accumulate(run_bytes_.begin(), run_bytes_.end(), int64_t{0})) {}

  Status run(KernelContext& ctx) override {
    auto* out = static_cast<std::byte*>(ctx.output(0).raw_data());
    const int64_t total = outer_ * out_block_;
    if (total == 0) return Status::ok();
    constexpr int64_t kChunk = 4096;  // bytes: the unit threads split
    for_ranges(ctx.pool, (total + kChunk - 1) / kChunk, total, [&](int64_t begin, int64_t end) {
      copy_output(ctx, out, begin * kChunk, std::min(total, end * kChunk));
    });
    return Status::ok();
  }

 private:
  // Writes output bytes [begin, end), run by run.
  void copy_output(const KernelContext& ctx, std::byte* out, int64_t begin, int64_t end) const {
    int64_t o = begin / out_block_, at = o * out_block_;  // block o starts at byte `at`
    size_t i = 0;
    while (at + run_bytes_[i] <= begin) at += run_bytes_[i++];  // the run holding `begin`
    for (int64_t pos = begin; pos < end;) {
      const int64_t n = std::min(end, at + run_bytes_[i]) - pos;  // bytes of run i to copy
      const auto* src = static_cast<const std::byte*>(ctx.input(i).raw_data()) + o * run_bytes_[i] + (pos - at);
      if (n > 0) std::memcpy(out + pos, src, static_cast<size_t>(n));
      pos += n;
      at += run_bytes_[i];
      if (++i == run_bytes_.size()) i = 0, ++o;
    }
  }

  int64_t outer_;
  std::vector<int64_t> run_bytes_;
  int64_t out_block_;
};

Prepared prepare_concat(const PrepareContext& ctx) {
  if (ctx.inputs.empty() || !ctx.has_input(0) || !movable_dtype(ctx.input(0).dtype())) return declined();
  const Shape& out = ctx.outputs[0].shape;
  const auto rank = static_cast<int64_t>(out.size());
  int64_t axis = ctx.node.attr_int("axis", 1);
  axis = axis < 0 ? axis + rank : axis;
  if (axis < 0 || axis >= rank) return declined();
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out[static_cast<size_t>(d)];
  std::vector<int64_t> run_bytes;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    if (!ctx.has_input(i)) return declined();
    const Tensor& t = ctx.input(i);
    run_bytes.push_back(outer == 0 ? 0 : t.element_count() / outer * static_cast<int64_t>(dtype_size(t.dtype())));
  }
  return make_kernel<ConcatKernel>(outer, std::move(run_bytes));
}

// --- Resize ------------------------------------------------------------------------------

enum class Transform { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn };
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

// The source coordinate of output position y along an axis of `in` -> `out`
// values at `scale` (ONNX coordinate_transformation_mode).
double source_coordinate(Transform t, double y, int64_t in, int64_t out, double scale) {
  const double length = scale * static_cast<double>(in);  // the fractional output length
  switch (t) {
    case Transform::kAsymmetric: return y / scale;
    case Transform::kTfHalfPixelForNn: return (y + 0.5) / scale;
    case Transform::kAlignCorners: return length == 1 ? 0.0 : y * static_cast<double>(in - 1) / (length - 1);
    case Transform::kPytorchHalfPixel: return out > 1 ? (y + 0.5) / scale - 0.5 : 0.0;
    case Transform::kHalfPixelSymmetric: {
      const double offset = static_cast<double>(in) / 2 * (1 - static_cast<double>(out) / length);
      return offset + (y + 0.5) / scale - 0.5;
    }
    case Transform::kHalfPixel: break;
  }
  return (y + 0.5) / scale - 0.5;
}

// The axis map of `in` -> `out` positions, as the reference kernel resolves
// them: the source coordinate x splits into a left neighbour floor(x) and a
// fraction (a whole x counts as fraction 1 of the neighbour on its left);
// nearest picks one of the two by nearest_mode, linear weighs both; indices
// clamp to the input.
ResizeAxisMap resize_axis_map(Transform t, NearestMode nearest, bool linear, int64_t in, int64_t out, double scale) {
  ResizeAxisMap map;
  const auto close = [](double p, double q) { return std::fabs(p - q) <= 1e-9 * std::max(std::fabs(p), std::fabs(q)) + 1e-12; };
  map.identity = in == out && close(scale, 1.0);
  const auto clamp_index = [&](double i) { return static_cast<int32_t>(std::clamp<double>(i, 0, static_cast<double>(in - 1))); };
  for (int64_t o = 0; o < out; ++o) {
    double x = map.identity ? static_cast<double>(o) : source_coordinate(t, static_cast<double>(o), in, out, scale);
    if (std::isnan(x)) x = 0;
    x = std::clamp(x, -1e15, 1e15);
    const double base = std::floor(x), frac = x - base;
    const double ratio = frac == 0 ? 1.0 : frac;
    const double left = frac == 0 ? base - 1 : base;  // the neighbours are left and left + 1
    if (linear) {
      map.source.push_back(clamp_index(left));
      map.source2.push_back(clamp_index(left + 1));
      map.weight0.push_back(static_cast<float>(1 - ratio));
      map.weight1.push_back(static_cast<float>(ratio));
      continue;
    }
    bool upper;
    switch (nearest) {
      case NearestMode::kCeil: upper = true; break;
      case NearestMode::kFloor: upper = ratio == 1.0; break;
      case NearestMode::kRoundPreferCeil: upper = ratio >= 0.5; break;
      default: upper = ratio > 0.5; break;
    }
    map.source.push_back(clamp_index(upper ? left + 1 : left));
  }
  for (int32_t k : {2, 4}) {
    bool repeats = !linear && out > 0;
    for (int64_t o = 0; o < out && repeats; ++o) repeats = map.source[static_cast<size_t>(o)] == o / k;
    if (repeats) map.repeat = k;
  }
  return map;
}

class ResizeKernel final : public PreparedKernel {
 public:
  ResizeKernel(ResizeJob job, ResizeAxisMap rows, ResizeAxisMap columns)
      : job_(job), rows_(std::move(rows)), columns_(std::move(columns)) {
    job_.rows = &rows_;
    job_.columns = &columns_;
  }

  Status run(KernelContext& ctx) override {
    const float* in = ctx.input(0).data<float>();
    float* out = ctx.output(0).data<float>();
    const int64_t bytes = job_.planes * job_.out_h * job_.out_w * std::max<int64_t>(job_.channels, 1) *
                          static_cast<int64_t>(sizeof(float));
    if (job_.channels > 0) {
      for_ranges(ctx.pool, job_.planes * job_.out_h, bytes, [&](int64_t begin, int64_t end) {
        HWY_DYNAMIC_DISPATCH(ResizeNhwcRows)(job_, in, out, begin, end);
      });
      return Status::ok();
    }
    for_ranges(ctx.pool, job_.planes, bytes, [&](int64_t begin, int64_t end) {
      HWY_DYNAMIC_DISPATCH(ResizePlanes)(job_, in, out, begin, end);
    });
    return Status::ok();
  }

 private:
  ResizeJob job_;
  ResizeAxisMap rows_, columns_;
};

bool parse_transform(const std::string& name, Transform& t) {
  static const std::pair<const char*, Transform> kNames[] = {
      {"half_pixel", Transform::kHalfPixel},          {"half_pixel_symmetric", Transform::kHalfPixelSymmetric},
      {"pytorch_half_pixel", Transform::kPytorchHalfPixel}, {"align_corners", Transform::kAlignCorners},
      {"asymmetric", Transform::kAsymmetric},         {"tf_half_pixel_for_nn", Transform::kTfHalfPixelForNn}};
  for (const auto& [n, value] : kNames)
    if (name == n) return t = value, true;
  return false;  // tf_crop_and_resize (roi, extrapolation) or unknown
}

bool parse_nearest_mode(const std::string& name, NearestMode& m) {
  static const std::pair<const char*, NearestMode> kNames[] = {{"round_prefer_floor", NearestMode::kRoundPreferFloor},
                                                               {"round_prefer_ceil", NearestMode::kRoundPreferCeil},
                                                               {"floor", NearestMode::kFloor},
                                                               {"ceil", NearestMode::kCeil}};
  for (const auto& [n, value] : kNames)
    if (name == n) return m = value, true;
  return false;
}

// f32 Resize of the last two axes (nearest, or linear without antialias) with
// constant scales or sizes; declines cubic, antialias, exclude_outside, axes,
// tf_crop_and_resize and aspect-ratio policies.
Prepared prepare_resize(const PrepareContext& ctx) {
  const Node& node = ctx.node;
  if (!ctx.has_input(0) || ctx.input(0).dtype() != DType::kF32) return declined();
  const Shape& in = ctx.input(0).shape();
  const Shape& out = ctx.outputs[0].shape;
  const size_t rank = in.size();
  const std::string mode = node.attr_string("mode", "nearest");
  Transform transform = Transform::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  if ((mode != "nearest" && mode != "linear") || rank < 2 || out.size() != rank ||
      !parse_transform(node.attr_string("coordinate_transformation_mode", "half_pixel"), transform) ||
      !parse_nearest_mode(node.attr_string("nearest_mode", "round_prefer_floor"), nearest) ||
      node.attr_int("antialias", 0) != 0 || node.attr_int("exclude_outside", 0) != 0 || node.has_attr("axes") ||
      node.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch")
    return declined();
  std::vector<double> scales(rank, 1.0);
  const bool has_scales = ctx.has_input(2) && ctx.input(2).element_count() > 0;
  if (has_scales) {
    if (!ctx.is_constant(2) || ctx.input(2).element_count() != static_cast<int64_t>(rank)) return declined();
    for (size_t d = 0; d < rank; ++d) scales[d] = tensor_double_at(ctx.input(2), static_cast<int64_t>(d));
  } else {
    if (!ctx.is_constant(3)) return declined();
    for (size_t d = 0; d < rank; ++d) scales[d] = in[d] == 0 ? 1.0 : static_cast<double>(out[d]) / static_cast<double>(in[d]);
  }
  // The resized axes: the last two (NCHW planes), or 1 and 2 of a 4-D tensor
  // (NHWC images); every other axis must keep its size.
  const auto kept = [&](size_t d) { return in[d] == out[d] && scales[d] == 1.0; };
  const bool nhwc = rank == 4 && kept(0) && kept(3) && !(kept(1) && kept(2));
  const size_t h_axis = nhwc ? 1 : rank - 2;
  int64_t planes = 1;
  for (size_t d = 0; d < rank; ++d) {
    if (d == h_axis || d == h_axis + 1 || (nhwc && d == 3)) continue;
    if (!kept(d)) return declined();
    planes *= in[d];
  }
  constexpr int64_t kMaxIndex = std::numeric_limits<int32_t>::max();  // the maps hold int32
  ResizeJob job;
  job.planes = planes;
  job.channels = nhwc ? in[3] : 0;
  job.in_h = in[h_axis], job.in_w = in[h_axis + 1];
  job.out_h = out[h_axis], job.out_w = out[h_axis + 1];
  job.linear = mode == "linear";
  if (job.in_h * job.in_w == 0 || job.out_h * job.out_w == 0 || job.in_h > kMaxIndex || job.in_w > kMaxIndex ||
      (nhwc && job.channels == 0))
    return declined();
  return make_kernel<ResizeKernel>(
      job, resize_axis_map(transform, nearest, job.linear, job.in_h, job.out_h, scales[h_axis]),
      resize_axis_map(transform, nearest, job.linear, job.in_w, job.out_w, scales[h_axis + 1]));
}

// --- Pad ------------------------------------------------------------------------------

// Constant-mode Pad with pads >= 0: the output, row by row (a row = the last
// dim), is either all padding, or padding, a copy of an input row, padding.
// Every output byte is written once.
class PadKernel final : public PreparedKernel {
 public:
  PadKernel(Shape in, Shape out, std::vector<int64_t> begin, size_t elem, uint64_t value_bits)
      : in_(std::move(in)), out_(std::move(out)), begin_(std::move(begin)), elem_(elem), value_bits_(value_bits) {}

  Status run(KernelContext& ctx) override {
    const size_t rank = out_.size();
    const int64_t row = out_[rank - 1], in_row = in_[rank - 1], before = begin_[rank - 1];
    const int64_t rows = row == 0 ? 0 : shape_element_count(out_) / row;
    const auto* src = static_cast<const std::byte*>(ctx.input(0).raw_data());
    auto* dst = static_cast<std::byte*>(ctx.output(0).raw_data());
    for_ranges(ctx.pool, rows, rows * row * static_cast<int64_t>(elem_), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        std::byte* out_row = dst + static_cast<size_t>(r * row) * elem_;
        // The input row this output row copies, if it is inside the input.
        int64_t rest = r, in_index = 0, stride = 1;
        bool inside = true;
        for (size_t d = rank - 1; d-- > 0;) {
          const int64_t o = rest % out_[d];
          rest /= out_[d];
          const int64_t i = o - begin_[d];
          if (i < 0 || i >= in_[d]) {
            inside = false;
            break;
          }
          in_index += i * stride;
          stride *= in_[d];
        }
        if (!inside) {
          fill(out_row, row);
          continue;
        }
        fill(out_row, before);
        std::memcpy(out_row + static_cast<size_t>(before) * elem_, src + static_cast<size_t>(in_index * in_row) * elem_,
                    static_cast<size_t>(in_row) * elem_);
        fill(out_row + static_cast<size_t>(before + in_row) * elem_, row - before - in_row);
      }
    });
    return Status::ok();
  }

 private:
  void fill(std::byte* at, int64_t count) const {
    if (count <= 0) return;
    if (value_bits_ == 0) {
      std::memset(at, 0, static_cast<size_t>(count) * elem_);
      return;
    }
    auto fill_as = [&](auto type_tag) {
      using T = decltype(type_tag);
      T v;
      std::memcpy(&v, &value_bits_, sizeof(T));  // little-endian: the low bytes hold the value
      T* p = reinterpret_cast<T*>(at);
      std::fill(p, p + count, v);
    };
    switch (elem_) {
      case 1: fill_as(uint8_t{}); break;
      case 2: fill_as(uint16_t{}); break;
      case 4: fill_as(uint32_t{}); break;
      default: fill_as(uint64_t{}); break;
    }
  }

  Shape in_, out_;
  std::vector<int64_t> begin_;
  size_t elem_;
  uint64_t value_bits_;
};

Prepared prepare_pad(const PrepareContext& ctx) {
  if (!ctx.has_input(0) || !movable_dtype(ctx.input(0).dtype()) || ctx.node.attr_string("mode", "constant") != "constant" ||
      !ctx.is_constant(1) || ctx.has_input(3) || (ctx.has_input(2) && !ctx.is_constant(2)))
    return declined();
  const Shape& in = ctx.input(0).shape();
  const Shape& out = ctx.outputs[0].shape;
  const std::vector<int64_t> pads = tensor_to_int64s(ctx.input(1));
  if (in.empty() || pads.size() != 2 * in.size() || out.size() != in.size()) return declined();
  std::vector<int64_t> begin(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    if (pads[d] < 0 || pads[d + in.size()] < 0) return declined();  // cropping: the reference kernel
    begin[d] = pads[d];
  }
  // An unpadded last dim merges into the one before it: longer rows (e.g. [1, 258, 258, 3] padding
  // H and W copies rows of 256 * 3 values, not 3).
  Shape in_m = in, out_m = out;
  while (in_m.size() > 1 && out_m.back() == in_m.back()) {
    const int64_t inner = in_m.back();
    in_m.pop_back();
    out_m.pop_back();
    begin.pop_back();
    in_m.back() *= inner;
    out_m.back() *= inner;
    begin.back() *= inner;
  }
  const size_t elem = dtype_size(ctx.input(0).dtype());
  uint64_t value_bits = 0;
  if (ctx.has_input(2) && ctx.input(2).element_count() == 1) std::memcpy(&value_bits, ctx.input(2).raw_data(), elem);
  return make_kernel<PadKernel>(std::move(in_m), std::move(out_m), std::move(begin), elem, value_bits);
}

}  // namespace

void register_movement_kernels(OpTable& table) {
  table.set_prepare(OpKind::Transpose, prepare_transpose);
  table.set_prepare(OpKind::Concat, prepare_concat);
  table.set_prepare(OpKind::Resize, prepare_resize);
  table.set_prepare(OpKind::Pad, prepare_pad);
}

}  // namespace iskra::cpu
#endif  // HWY_ONCE
