// Depthwise convolution and the shared sliding-window engine of window2d.h.
//
// A task computes output rows [oy0, oy1) of one (n, c) plane, a chunk of
// rows at a time. The input rows a chunk reads are first staged, padded with
// the pad value, into "phase blocks": padded input (row y, column x) goes to
// block (y % stride_h, x % stride_w) at (y / stride_h, x / stride_w), every
// row `pitch` values long. Then tap (ky, kx) of output (oy, ox) sits at
//     block offset + ((ky*dh) / stride_h + oy) * pitch + (kx*dw) / stride_w + ox
// so, with output rows also laid out at `pitch`, every tap of a run of
// outputs is one contiguous vector load at a fixed offset: one flat loop over
// rows * pitch outputs handles borders, padding, strides and narrow planes
// (7x7 maps fill whole vectors) alike. A last pass copies the valid columns
// to the output, adding the epilogue (residual, average divisors).
//
// Narrow "same"-width stride-1 planes skip the staging where masked loads
// cannot fault (AVX-512, SVE): see reduce_rows_direct.
#include "kernels/cpu/depthwise_conv.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/window2d.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/depthwise_conv.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Staged rows of one chunk stay within about this many floats (L1).
constexpr int64_t kStagedFloats = 8192;
// Output vectors per step of the flat loop (independent accumulators).
constexpr int64_t kFlatVectors = 4;

// The per-call layout of a chunk's phase blocks and the offsets of the taps.
struct Layout {
  int64_t pitch = 0;        // values per staged row and per output row of the flat loop
  int64_t block_rows = 0;   // staged rows per phase block
  int64_t block_len = 0;    // block_rows * pitch
  int64_t chunk_rows = 0;   // output rows per chunk
  int64_t staged_len = 0;   // floats of all phase blocks, plus read slack
  float pad_value = 0.0f;
  int64_t row_offset[kWindowMaxKernelH] = {};  // of tap row ky
  int64_t col_offset[kWindowMaxKernelW] = {};  // of tap column kx
};

template <class D>
Layout make_layout(const Window2dJob& job, D d) {
  const DepthwiseConvShape& s = job.shape;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  Layout g;
  g.pad_value = job.reduce == WindowReduce::kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
  g.pitch = s.out_w + (s.kernel_w - 1) * s.dilation_w / s.stride_w;
  const int64_t extent_h = (s.kernel_h - 1) * s.dilation_h + 1;
  const int64_t row_floats = s.stride_w * g.pitch;
  g.chunk_rows = std::clamp<int64_t>((kStagedFloats / row_floats - extent_h) / s.stride_h + 1, 1, s.out_h);
  const int64_t staged_rows = (g.chunk_rows - 1) * s.stride_h + extent_h;
  g.block_rows = (staged_rows + s.stride_h - 1) / s.stride_h;
  g.block_len = g.block_rows * g.pitch;
  // The flat loop reads up to kFlatVectors vectors past the last valid
  // output of a row; the length stays a multiple of the vectors (what
  // follows is aligned).
  const int64_t step = kFlatVectors * lanes;
  g.staged_len = (s.stride_h * s.stride_w * g.block_len + g.pitch + 2 * step - 1) / step * step;
  for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
    const int64_t y = ky * s.dilation_h;
    g.row_offset[ky] = (y % s.stride_h * s.stride_w * g.block_rows + y / s.stride_h) * g.pitch;
  }
  for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
    const int64_t x = kx * s.dilation_w;
    g.col_offset[kx] = x % s.stride_w * g.block_len + x / s.stride_w;
  }
  return g;
}

// Loads the first n (1..lanes) values at p (the other lanes are zero) and
// stores the first n lanes of v to p, touching no memory past p + n.
template <class D>
HWY_INLINE hn::Vec<D> load_first(D d, const float* p, int64_t n) {
  if (n == static_cast<int64_t>(hn::Lanes(d))) return hn::LoadU(d, p);
#if HWY_MEM_OPS_MIGHT_FAULT
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)] = {};
  for (int64_t i = 0; i < n; ++i) buffer[i] = p[i];
  return hn::Load(d, buffer);
#else
  return hn::MaskedLoad(hn::FirstN(d, static_cast<size_t>(n)), d, p);
#endif
}

template <class D>
HWY_INLINE void store_first(D d, hn::Vec<D> v, float* p, int64_t n) {
  if (n == static_cast<int64_t>(hn::Lanes(d))) return hn::StoreU(v, d, p);
#if HWY_MEM_OPS_MIGHT_FAULT
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(v, d, buffer);
  for (int64_t i = 0; i < n; ++i) p[i] = buffer[i];
#else
  hn::BlendedStore(v, hn::FirstN(d, static_cast<size_t>(n)), d, p);
#endif
}

// dst[0, count) = pad_left pad values, then src[0, in_w), then pad values.
// Whole vectors are stored at multiples of the lanes from dst (so that loads
// right after them, at the same places, forward from the store buffer);
// lanes on a border are blended with masked loads.
template <class D>
HWY_INLINE void pad_row(D d, const float* src, int64_t in_w, int64_t pad_left, float pad, int64_t count, float* dst) {
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto pad_vec = hn::Set(d, pad);
  for (int64_t j = 0; j < count; j += lanes) {
    const int64_t ix = j - pad_left;  // input column of lane 0
    hn::Vec<D> v;
    if (ix >= 0 && ix + lanes <= in_w) {
      v = hn::LoadU(d, src + ix);
    } else if (in_w == 0 || ix + lanes <= 0 || ix >= in_w) {  // in_w 0: src is null (a padding row)
      v = pad_vec;
    } else {
#if HWY_MEM_OPS_MIGHT_FAULT
      HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)];
      for (int64_t i = 0; i < lanes; ++i) buffer[i] = ix + i >= 0 && ix + i < in_w ? src[ix + i] : pad;
      v = hn::Load(d, buffer);
#else
      // Lanes i with 0 <= ix + i < in_w; the others are not read, so src + ix
      // may point before the row.
      const auto inside = hn::AndNot(hn::FirstN(d, static_cast<size_t>(std::max<int64_t>(0, -ix))),
                                     hn::FirstN(d, static_cast<size_t>(std::min(lanes, in_w - ix))));
      v = hn::IfThenElse(inside, hn::MaskedLoad(inside, d, src + ix), pad_vec);
#endif
    }
    store_first(d, v, dst + j, std::min(lanes, count - j));
  }
}

// Per-thread scratch that grows once and is then reused, aligned for vectors.
float* scratch_floats(size_t count) {
  constexpr size_t kAlignFloats = 64 / sizeof(float);
  thread_local std::vector<float> scratch;
  if (scratch.size() < count + kAlignFloats) scratch.resize(count + kAlignFloats);
  const auto address = reinterpret_cast<uintptr_t>(scratch.data());
  return scratch.data() + (kAlignFloats - address / sizeof(float) % kAlignFloats) % kAlignFloats;
}

// Stages input row `src` (null: a row of padding) as the row at `dst` of the
// column-phase blocks of one row phase (block b at dst + b * block_len).
// `temp` holds a padded row when stride_w > 1.
template <class D>
HWY_INLINE void stage_row(D d, const DepthwiseConvShape& s, const Layout& g, const float* src, float* temp, float* dst) {
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t in_w = src ? s.in_w : 0;
  if (s.stride_w == 1) {
    // Pad values over the whole row, then the input row over them.
    const auto pad_vec = hn::Set(d, g.pad_value);
    for (int64_t j = 0; j < g.pitch; j += lanes) store_first(d, pad_vec, dst + j, std::min(lanes, g.pitch - j));
    const int64_t copy = std::clamp<int64_t>(g.pitch - s.pad_left, 0, in_w);
    float* row = dst + s.pad_left;
    for (int64_t j = 0; j < copy; j += lanes) {
      const int64_t n = std::min(lanes, copy - j);
      store_first(d, load_first(d, src + j, n), row + j, n);
    }
    return;
  }
  const int64_t padded = (s.stride_w * g.pitch + 2 * lanes - 1) / (2 * lanes) * (2 * lanes);
  pad_row(d, src, in_w, s.pad_left, g.pad_value, padded, temp);
  if (s.stride_w == 2) {
    for (int64_t m = 0; m < g.pitch; m += lanes) {
      hn::Vec<D> even, odd;
      hn::LoadInterleaved2(d, temp + 2 * m, even, odd);
      const int64_t n = std::min(lanes, g.pitch - m);
      store_first(d, even, dst + m, n);
      store_first(d, odd, dst + g.block_len + m, n);
    }
    return;
  }
  for (int64_t phase = 0; phase < s.stride_w; ++phase)
    for (int64_t m = 0; m < g.pitch; ++m) dst[phase * g.block_len + m] = temp[m * s.stride_w + phase];
}

// The reduction of one tap into an accumulator, and of two accumulators.
template <WindowReduce kReduce, class V>
HWY_INLINE V accumulate(V acc, V input, V weight) {
  if constexpr (kReduce == WindowReduce::kConvolve) return hn::MulAdd(weight, input, acc);
  else if constexpr (kReduce == WindowReduce::kMax) return hn::Max(acc, input);
  else return hn::Add(acc, input);
}

template <WindowReduce kReduce, class V>
HWY_INLINE V combine(V a, V b) {
  if constexpr (kReduce == WindowReduce::kMax) return hn::Max(a, b);
  else return hn::Add(a, b);
}

// The per-plane constants of a reduction: the taps' weights (copied to a
// local array when the kernel size is known, so that the compiler may keep
// them in registers) and the accumulator's initial value.
template <WindowReduce kReduce, int KH, int KW>
struct PlaneTaps {
  float local[KH && KW ? KH * KW : 1];
  const float* weights = nullptr;
  float init = 0.0f;

  PlaneTaps(const Window2dJob& job, int64_t plane, float pad_value) {
    const DepthwiseConvShape& s = job.shape;
    const int64_t channel = plane % s.channels;
    init = pad_value;  // 0 for sums, -inf for max
    if constexpr (kReduce == WindowReduce::kConvolve) {
      weights = job.weights + channel * s.kernel_h * s.kernel_w;
      if constexpr (KH && KW) {
        std::copy(weights, weights + KH * KW, local);
        weights = local;
      }
      if (job.bias) init = job.bias[channel];
    }
  }
  template <class D>
  HWY_INLINE hn::Vec<D> weight(D d, int64_t k) const {
    if constexpr (kReduce == WindowReduce::kConvolve) return hn::Set(d, weights[k]);
    else return hn::Zero(d);
  }
};

// Adds the epilogue (residual, average divisors) to the reduced outputs
// (oy, ox..ox+n) of `plane` and stores them.
template <WindowReduce kReduce, class D>
HWY_INLINE void finish(D d, const Window2dJob& job, hn::Vec<D> v, int64_t plane, int64_t oy, int64_t ox, int64_t n) {
  const DepthwiseConvShape& s = job.shape;
  const int64_t at = (plane * s.out_h + oy) * s.out_w + ox;
  if constexpr (kReduce == WindowReduce::kConvolve) {
    if (job.residual) v = hn::Add(v, load_first(d, job.residual + at, n));
  } else if constexpr (kReduce == WindowReduce::kAverage) {
    v = hn::Mul(v, hn::Mul(hn::Set(d, job.inv_count_h[oy]), load_first(d, job.inv_count_w + ox, n)));
  }
  store_first(d, v, job.output + at, n);
}

// Computes output rows [oy0, oy1) of plane `plane`. KH/KW: the kernel size
// when known at compile time (unrolled taps), 0 for the job's runtime size.
template <WindowReduce kReduce, int KH, int KW, class D>
void reduce_rows(D d, const Window2dJob& job, const Layout& g, int64_t plane, int64_t oy0, int64_t oy1) {
  const DepthwiseConvShape& s = job.shape;
  const int64_t kh = KH ? KH : s.kernel_h, kw = KW ? KW : s.kernel_w;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t extent_h = (kh - 1) * s.dilation_h + 1;
  const int64_t step = kFlatVectors * lanes;
  const int64_t flat_len = (g.chunk_rows * g.pitch + step - 1) / step * step;
  const int64_t temp_len = (s.stride_w * g.pitch + 2 * lanes - 1) / (2 * lanes) * (2 * lanes);
  float* staged = scratch_floats(static_cast<size_t>(g.staged_len + flat_len + temp_len));
  float* flat = staged + g.staged_len;  // the chunk's outputs at `pitch`
  float* temp = flat + flat_len;

  const PlaneTaps<kReduce, KH, KW> taps(job, plane, g.pad_value);
  const auto init = hn::Set(d, taps.init);
  const float* in_plane = job.input + plane * s.in_h * s.in_w;

  for (int64_t c0 = oy0; c0 < oy1; c0 += g.chunk_rows) {
    const int64_t c1 = std::min(oy1, c0 + g.chunk_rows);
    const int64_t first_row = c0 * s.stride_h - s.pad_top;  // input row of staged row 0
    // Staged row q goes to row q / stride_h of row phase q % stride_h.
    int64_t phase = 0, block_row = 0;
    for (int64_t q = 0; q < (c1 - 1 - c0) * s.stride_h + extent_h; ++q) {
      const int64_t iy = first_row + q;
      float* dst = staged + (phase * s.stride_w * g.block_rows + block_row) * g.pitch;
      stage_row(d, s, g, iy >= 0 && iy < s.in_h ? in_plane + iy * s.in_w : nullptr, temp, dst);
      if (++phase == s.stride_h) phase = 0, ++block_row;
    }
    // The flat loop: kFlatVectors output vectors at a time (independent
    // dependency chains sharing each tap's weight).
    const int64_t count = (c1 - c0) * g.pitch;
    for (int64_t i = 0; i < count; i += step) {
      auto a0 = init, a1 = init, a2 = init, a3 = init;
      for (int64_t ky = 0; ky < kh; ++ky) {
        for (int64_t kx = 0; kx < kw; ++kx) {
          const float* at = staged + g.row_offset[ky] + g.col_offset[kx] + i;
          const auto wv = taps.weight(d, ky * kw + kx);
          a0 = accumulate<kReduce>(a0, hn::LoadU(d, at), wv);
          a1 = accumulate<kReduce>(a1, hn::LoadU(d, at + lanes), wv);
          a2 = accumulate<kReduce>(a2, hn::LoadU(d, at + 2 * lanes), wv);
          a3 = accumulate<kReduce>(a3, hn::LoadU(d, at + 3 * lanes), wv);
        }
      }
      hn::Store(a0, d, flat + i);
      hn::Store(a1, d, flat + i + lanes);
      hn::Store(a2, d, flat + i + 2 * lanes);
      hn::Store(a3, d, flat + i + 3 * lanes);
    }
    // The valid columns to the output, with the epilogue.
    for (int64_t oy = c0; oy < c1; ++oy) {
      const float* from = flat + (oy - c0) * g.pitch;
      for (int64_t ox = 0; ox < s.out_w; ox += lanes)
        finish<kReduce>(d, job, hn::LoadU(d, from + ox), plane, oy, ox, std::min(lanes, s.out_w - ox));
    }
  }
}

#if !HWY_MEM_OPS_MIGHT_FAULT
// "Same" windows of stride 1 (out_w == in_w) read the input directly: output
// flat index i = oy * out_w + ox reads tap (ky, kx) at input flat index
// i + (ky*dh - pad_top) * in_w + kx*dw - pad_left, masked to the lanes whose
// tap lies inside the input (masked-off lanes are not read). The masks come
// from each lane's output row and column (tables computed once per call).
// Stride 2 with in = 2 * out on both axes works the same way on the four
// phase planes of the input (even/odd rows x even/odd columns, each
// out_h x out_w), which are staged first.
struct OutputGrid {
  const int32_t* row = nullptr;  // output row of flat output i (a far-off value past the end)
  const int32_t* col = nullptr;  // output column of flat output i
};

// Taken for narrow planes only: it fills whole vectors across rows, but its
// masked taps cost more than staging on wide rows (measured: 960x7x7 3x3
// 1.8x faster than staged, 32x112x112 1.6x slower).
bool direct_window(const DepthwiseConvShape& s) {
  constexpr int64_t kMaxTapColumns = 48;  // out_w * kernel_w
  constexpr int64_t kMaxRows = int64_t{1} << 28;  // rows in the int32 grid, with room for offsets
  const bool stride1 = s.stride_h == 1 && s.stride_w == 1 && s.out_w == s.in_w;
  const bool stride2 = s.stride_h == 2 && s.stride_w == 2 && s.in_w == 2 * s.out_w && s.in_h == 2 * s.out_h;
  return (stride1 || stride2) && s.out_w * s.kernel_w <= kMaxTapColumns && s.in_h < kMaxRows &&
         s.pad_top < kMaxRows && s.pad_left < kMaxRows && s.kernel_h * s.dilation_h < kMaxRows &&
         s.kernel_w * s.dilation_w < kMaxRows;
}

inline int64_t floor_div2(int64_t x) { return x >= 0 ? x / 2 : -((1 - x) / 2); }

// Stride 2: input rows [r0, r1) of `in` (a plane of 2*out_h x 2*out_w) into
// the phase planes: row r, column x goes to plane (r % 2, x % 2) at
// (r / 2, x / 2); planes are out_h * out_w apart.
template <class D>
void stage_phase_planes(D d, const DepthwiseConvShape& s, const float* in, int64_t r0, int64_t r1, float* phases) {
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t phase_len = s.out_h * s.out_w;
  const float* plane_end = in + s.in_h * s.in_w;
  for (int64_t r = r0; r < r1; ++r) {
    float* even = phases + (r % 2 * 2) * phase_len + r / 2 * s.out_w;
    float* odd = even + phase_len;
    const float* row = in + r * s.in_w;
    for (int64_t m = 0; m < s.out_w; m += lanes) {
      const int64_t n = std::min(lanes, s.out_w - m);
      hn::Vec<D> e, o;
      if (row + 2 * m + 2 * lanes <= plane_end) {
        hn::LoadInterleaved2(d, row + 2 * m, e, o);  // may read the next rows: only n lanes are kept
      } else {  // the plane's last values: no reading past them
        HWY_ALIGN float tail[2 * HWY_MAX_BYTES / sizeof(float)] = {};
        const int64_t count = 2 * n, first = std::min(lanes, count);
        hn::Store(load_first(d, row + 2 * m, first), d, tail);
        if (count > first) hn::Store(load_first(d, row + 2 * m + lanes, count - first), d, tail + lanes);
        hn::LoadInterleaved2(d, tail, e, o);
      }
      store_first(d, e, even + m, n);
      store_first(d, o, odd + m, n);
    }
  }
}

template <class D>
OutputGrid make_output_grid(D d, const DepthwiseConvShape& s) {
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t outputs = s.out_h * s.out_w;
  const int64_t padded = (outputs + lanes - 1) / lanes * lanes;
  thread_local std::vector<int32_t> table;
  table.resize(static_cast<size_t>(2 * padded));
  for (int64_t i = 0; i < padded; ++i) {
    const bool inside = i < outputs;
    table[static_cast<size_t>(i)] = inside ? static_cast<int32_t>(i / s.out_w) : (1 << 30);
    table[static_cast<size_t>(padded + i)] = inside ? static_cast<int32_t>(i % s.out_w) : (1 << 30);
  }
  return OutputGrid{table.data(), table.data() + padded};
}

// Computes output rows [oy0, oy1) of plane `plane` reading the input directly.
template <int kStride, WindowReduce kReduce, int KH, int KW, class D>
void reduce_rows_direct(D d, const Window2dJob& job, const OutputGrid& grid, int64_t plane, int64_t oy0,
                        int64_t oy1) {
  const DepthwiseConvShape& s = job.shape;
  const int64_t kh = KH ? KH : s.kernel_h, kw = KW ? KW : s.kernel_w;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const float pad_value = job.reduce == WindowReduce::kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
  const PlaneTaps<kReduce, KH, KW> taps(job, plane, pad_value);
  const auto pad_vec = hn::Set(d, pad_value);
  const float* in = job.input + plane * s.in_h * s.in_w;
  const int64_t begin = oy0 * s.out_w, end = oy1 * s.out_w;  // flat outputs of this call
  const float* phases = nullptr;
  if constexpr (kStride == 2) {
    const int64_t phase_len = s.out_h * s.out_w;
    float* staged = scratch_floats(static_cast<size_t>(4 * phase_len));
    stage_phase_planes(d, s, in, std::max<int64_t>(0, 2 * oy0 - s.pad_top),
                       std::min(s.in_h, 2 * oy1 + (kh - 1) * s.dilation_h - s.pad_top), staged);
    phases = staged;
  }
  // Stride 2: where tap (ky, kx) of output 0 reads in the phase planes
  // (input offset dy rows, dx columns from its window start).
  const float* tap_base[kStride == 2 ? kWindowMaxKernelH * kWindowMaxKernelW : 1] = {};
  for (int64_t ky = 0; ky < kh && kStride == 2; ++ky)
    for (int64_t kx = 0; kx < kw; ++kx) {
      const int64_t dy = ky * s.dilation_h - s.pad_top, dx = kx * s.dilation_w - s.pad_left;
      const int64_t phase = (dy - 2 * floor_div2(dy)) * 2 + (dx - 2 * floor_div2(dx));
      tap_base[ky * kw + kx] = phases + phase * s.out_h * s.out_w + floor_div2(dy) * s.out_w + floor_div2(dx);
    }
  const hn::RebindToSigned<D> di;
  const hn::RebindToUnsigned<D> du;
  for (int64_t v = begin / lanes; v * lanes < end; ++v) {
    const int64_t i = v * lanes;
    // The input row and column of each lane's window start.
    auto rows = hn::LoadU(di, grid.row + i), cols = hn::LoadU(di, grid.col + i);
    if constexpr (kStride == 2) rows = hn::Add(rows, rows), cols = hn::Add(cols, cols);
    auto a = hn::Set(d, taps.init), b = pad_vec;  // even and odd ky: two dependency chains
    for (int64_t ky = 0; ky < kh; ++ky) {
      const int64_t dy = ky * s.dilation_h - s.pad_top;
      // Lanes whose tap row is inside the input (unsigned: negative rows too).
      const auto in_row = hn::Lt(hn::BitCast(du, hn::Add(rows, hn::Set(di, static_cast<int32_t>(dy)))),
                                 hn::Set(du, static_cast<uint32_t>(s.in_h)));
      [[maybe_unused]] const float* row = in + i + dy * s.in_w - s.pad_left;  // stride 1: tap kx at row + kx * dw
      for (int64_t kx = 0; kx < kw; ++kx) {
        const int64_t dx = kx * s.dilation_w - s.pad_left;
        const auto in_col = hn::Lt(hn::BitCast(du, hn::Add(cols, hn::Set(di, static_cast<int32_t>(dx)))),
                                   hn::Set(du, static_cast<uint32_t>(s.in_w)));
        const auto inside = hn::RebindMask(d, hn::And(in_row, in_col));
        const float* at;
        if constexpr (kStride == 1) at = row + kx * s.dilation_w;
        else at = tap_base[ky * kw + kx] + i;
        auto x = hn::MaskedLoad(inside, d, at);
        if constexpr (kReduce == WindowReduce::kMax) x = hn::IfThenElse(inside, x, pad_vec);
        if (ky % 2 == 0) a = accumulate<kReduce>(a, x, taps.weight(d, ky * kw + kx));
        else b = accumulate<kReduce>(b, x, taps.weight(d, ky * kw + kx));
      }
    }
    auto result = combine<kReduce>(a, b);
    // Only this call's outputs: [max(i, begin), min(i + lanes, end)).
    const int64_t first = std::max(i, begin), last = std::min(i + lanes, end);
    if (first == i && (kReduce != WindowReduce::kAverage || (last - 1) / s.out_w == i / s.out_w)) {
      finish<kReduce>(d, job, result, plane, i / s.out_w, i % s.out_w, last - i);  // contiguous outputs
      continue;
    }
    // A vector across a call boundary or (average) across rows: lane by lane.
    HWY_ALIGN float values[HWY_MAX_BYTES / sizeof(float)] = {};
    hn::Store(result, d, values);
    for (int64_t k = first; k < last; ++k) {
      const int64_t oy = k / s.out_w, ox = k % s.out_w, at = (plane * s.out_h + oy) * s.out_w + ox;
      float value = values[k - i];
      if constexpr (kReduce == WindowReduce::kConvolve) {
        if (job.residual) value += job.residual[at];
      } else if constexpr (kReduce == WindowReduce::kAverage) {
        value *= job.inv_count_h[oy] * job.inv_count_w[ox];
      }
      job.output[at] = value;
    }
  }
}
#endif  // !HWY_MEM_OPS_MIGHT_FAULT

// One kernel variant for rows [oy0, oy1) of a plane; `plan` is its per-call
// Layout (staged) or OutputGrid (direct).
template <class D>
using RowsFn = void (*)(D, const Window2dJob&, const void* plan, int64_t plane, int64_t oy0, int64_t oy1);

// kDirectStride: 0 for the staged path, else the stride of the direct path.
template <int kDirectStride, WindowReduce kReduce, int KH, int KW, class D>
void rows_variant(D d, const Window2dJob& job, const void* plan, int64_t plane, int64_t oy0, int64_t oy1) {
#if !HWY_MEM_OPS_MIGHT_FAULT
  if constexpr (kDirectStride != 0) {
    return reduce_rows_direct<kDirectStride, kReduce, KH, KW>(d, job, *static_cast<const OutputGrid*>(plan), plane,
                                                              oy0, oy1);
  }
#endif
  reduce_rows<kReduce, KH, KW>(d, job, *static_cast<const Layout*>(plan), plane, oy0, oy1);
}

template <int kDirectStride, class D>
RowsFn<D> pick_rows_fn(const Window2dJob& job) {
  const DepthwiseConvShape& s = job.shape;
  switch (job.reduce) {
    case WindowReduce::kConvolve:
      if (s.kernel_h == 3 && s.kernel_w == 3) return rows_variant<kDirectStride, WindowReduce::kConvolve, 3, 3, D>;
      if (s.kernel_h == 5 && s.kernel_w == 5) return rows_variant<kDirectStride, WindowReduce::kConvolve, 5, 5, D>;
      return rows_variant<kDirectStride, WindowReduce::kConvolve, 0, 0, D>;
    case WindowReduce::kMax:
      return rows_variant<kDirectStride, WindowReduce::kMax, 0, 0, D>;
    case WindowReduce::kAverage:
      return rows_variant<kDirectStride, WindowReduce::kAverage, 0, 0, D>;
  }
  return nullptr;
}

// Work units: a run of whole planes, or a block of rows of one plane.
// Activation runs once per unit over its (contiguous) output.
constexpr int64_t kUnitOutputs = 4096;        // whole planes are grouped up to about this many outputs
constexpr int64_t kParallelTaps = 1 << 17;    // below this many window taps a call runs on one thread

template <class D>
void run_units(D d, const Window2dJob& job, RowsFn<D> rows_fn, const void* plan, ThreadPool* pool) {
  const DepthwiseConvShape& s = job.shape;
  const int64_t planes = s.batch * s.channels, plane_outputs = s.out_h * s.out_w;
  const bool activate = job.reduce == WindowReduce::kConvolve && !job.activation.is_none();
  // Planes [p0, p1), rows [oy0, oy1) of each.
  const auto unit = [&](int64_t p0, int64_t p1, int64_t oy0, int64_t oy1) {
    for (int64_t p = p0; p < p1; ++p) rows_fn(d, job, plan, p, oy0, oy1);
    if (activate)
      apply_activation(job.activation, job.output + p0 * plane_outputs + oy0 * s.out_w,
                       static_cast<size_t>((p1 - p0 - 1) * plane_outputs + (oy1 - oy0) * s.out_w));
  };
  const int64_t threads = pool ? pool->threads() : 1;
  const int64_t taps = planes * plane_outputs * s.kernel_h * s.kernel_w;
  const int64_t group = std::max<int64_t>(1, kUnitOutputs / plane_outputs);
  if (threads <= 1 || taps < kParallelTaps) {
    for (int64_t p = 0; p < planes; p += group) unit(p, std::min(planes, p + group), 0, s.out_h);
    return;
  }
  const int64_t wanted = 4 * threads;  // units, for balance
  if (planes >= wanted) {
    const int64_t per_unit = std::min(group, planes / wanted);
    pool->parallel_for((planes + per_unit - 1) / per_unit, [&](int64_t t) {
      unit(t * per_unit, std::min(planes, (t + 1) * per_unit), 0, s.out_h);
    });
    return;
  }
  const int64_t blocks = std::min(s.out_h, (wanted + planes - 1) / planes);
  const int64_t rows_per_block = (s.out_h + blocks - 1) / blocks;
  pool->parallel_for(planes * blocks, [&](int64_t t) {
    const int64_t oy0 = t % blocks * rows_per_block;
    if (oy0 < s.out_h) unit(t / blocks, t / blocks + 1, oy0, std::min(s.out_h, oy0 + rows_per_block));
  });
}

template <class D>
void run_window2d_with(D d, const Window2dJob& job, ThreadPool* pool) {
#if !HWY_MEM_OPS_MIGHT_FAULT
  if (direct_window(job.shape)) {
    const OutputGrid grid = make_output_grid(d, job.shape);
    const RowsFn<D> rows_fn = job.shape.stride_w == 1 ? pick_rows_fn<1, D>(job) : pick_rows_fn<2, D>(job);
    return run_units(d, job, rows_fn, &grid, pool);
  }
#endif
  const Layout layout = make_layout(job, d);
  run_units(d, job, pick_rows_fn<0, D>(job), &layout, pool);
}

void RunWindow2d(const Window2dJob& job, ThreadPool* pool) {
  // Staged rows narrower than a vector waste less of a vector of 8 lanes
  // than of 16 (the direct path runs over whole planes: full vectors).
  bool narrow = job.shape.out_w <= 8 && job.shape.in_w <= 8;
#if !HWY_MEM_OPS_MIGHT_FAULT
  narrow = narrow && !direct_window(job.shape);
#endif
  if (narrow) return run_window2d_with(hn::CappedTag<float, 8>(), job, pool);
  run_window2d_with(hn::ScalableTag<float>(), job, pool);
}

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace iskra::cpu {

HWY_EXPORT(RunWindow2d);

bool window2d_supported(const DepthwiseConvShape& s) {
  return s.kernel_h >= 1 && s.kernel_h <= kWindowMaxKernelH && s.kernel_w >= 1 && s.kernel_w <= kWindowMaxKernelW &&
         s.stride_w >= 1 && s.stride_w <= kWindowMaxStrideW && s.stride_h >= 1 && s.dilation_h >= 1 &&
         s.dilation_w >= 1 && s.pad_top >= 0 && s.pad_left >= 0;
}

void run_window2d(const Window2dJob& job, ThreadPool* pool) {
  const DepthwiseConvShape& s = job.shape;
  if (s.batch * s.channels * s.out_h * s.out_w == 0) return;
  HWY_DYNAMIC_DISPATCH(RunWindow2d)(job, pool);
}

void depthwise_conv2d(const DepthwiseConvShape& shape, const float* input, const float* weights, const float* bias,
                      const float* residual, const Activation& act, float* output, ThreadPool* pool) {
  if (!window2d_supported(shape))
    return depthwise_conv2d_reference(shape, input, weights, bias, residual, act, output);
  Window2dJob job;
  job.shape = shape;
  job.reduce = WindowReduce::kConvolve;
  job.input = input;
  job.output = output;
  job.weights = weights;
  job.bias = bias;
  job.residual = residual;
  job.activation = act;
  run_window2d(job, pool);
}

void depthwise_conv2d_reference(const DepthwiseConvShape& s, const float* input, const float* weights,
                                const float* bias, const float* residual, const Activation& act, float* output) {
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t c = 0; c < s.channels; ++c) {
      const float* in = input + (n * s.channels + c) * s.in_h * s.in_w;
      const float* w = weights + c * s.kernel_h * s.kernel_w;
      const int64_t plane = (n * s.channels + c) * s.out_h * s.out_w;
      for (int64_t oy = 0; oy < s.out_h; ++oy) {
        for (int64_t ox = 0; ox < s.out_w; ++ox) {
          float sum = bias ? bias[c] : 0.0f;
          for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
            const int64_t iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
            if (iy < 0 || iy >= s.in_h) continue;
            for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
              const int64_t ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
              if (ix < 0 || ix >= s.in_w) continue;
              sum += in[iy * s.in_w + ix] * w[ky * s.kernel_w + kx];
            }
          }
          const int64_t o = plane + oy * s.out_w + ox;
          if (residual) sum += residual[o];
          output[o] = activation_reference(act, sum);
        }
      }
    }
  }
}

}  // namespace iskra::cpu
#endif  // HWY_ONCE
