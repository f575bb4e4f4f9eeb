// Per-target GEMM leaf code: the register-blocked micro-kernel and the panel
// packing. Included by gemm-inl.h (once per SIMD target).

#if defined(ISKRA_KERNELS_CPU_GEMM_TILE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ISKRA_KERNELS_CPU_GEMM_TILE_INL_H_
#undef ISKRA_KERNELS_CPU_GEMM_TILE_INL_H_
#else
#define ISKRA_KERNELS_CPU_GEMM_TILE_INL_H_
#endif

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/cpu/activation.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {
namespace {  // internal linkage: other files' per-target code may reuse these names
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

constexpr int64_t kLanes = static_cast<int64_t>(hn::MaxLanes(DF()));
constexpr int64_t kTileVecs = 3;
constexpr int64_t kPanelWidth = kTileVecs * kLanes;
// Accumulators: kTileRows × kTileVecs vectors, plus kTileVecs panel vectors and
// a broadcast must fit the register file: 8×3 of 32 (AVX-512), 6×3 of 32
// (NEON), 4×3 of 16 (AVX2, SSE4).
constexpr int64_t kTileRows = kLanes >= 16 ? 8 : (HWY_ARCH_ARM_A64 ? 6 : HWY_MIN(4, kPanelWidth));
static_assert(kPanelWidth % kTileRows == 0, "a row tile of a packed operand must not straddle panels");

// ---------------------------------------------------------------------------
// Micro-kernel on a tile of kRows × kVecs vectors:
//   tile(r, l) (+)= Σ_{k < kc} rows[r·row_stride + k·k_stride] · panel[k·kPanelWidth + l]
// Sums start from zero in registers; C (when load_c) is added after the k
// loop, its lines prefetched meanwhile; then the fused epilogue, if any.
// Packed operands streamed from memory are fetched ahead of their use: the
// kernel prefetches `fetch.lines` cache lines from fetch.data into L2, spread
// over its k steps.

struct Fetch {
  const float* data = nullptr;
  size_t lines = 0;  // of 64 bytes
};
constexpr size_t kFloatsPerLine = 16;

// Into L2 only (x86 prefetcht1): data for later calls must not evict the L1 working set.
HWY_INLINE void PrefetchToL2(const float* p) {
#if HWY_COMPILER_GCC || HWY_COMPILER_CLANG
  __builtin_prefetch(p, /*rw=*/0, /*locality=*/2);
#else
  hwy::Prefetch(p);
#endif
}

// Bias, residual and a simple activation applied in registers before the
// final store. Pointers are in tile coordinates and may be null.
struct TileEpilogue {
  const float* row_bias = nullptr;  // [tile row]
  const float* col_bias = nullptr;  // [tile lane]
  const float* residual = nullptr;  // tile row r at residual + r·residual_stride
  ptrdiff_t residual_stride = 0;
  Activation activation;            // kNone, kRelu, kClip or kLeakyRelu (see Fusable)
};

bool Fusable(ActivationKind kind) {
  return kind == ActivationKind::kNone || kind == ActivationKind::kRelu || kind == ActivationKind::kClip ||
         kind == ActivationKind::kLeakyRelu;
}

// Same order and NaN behaviour as gemm_reference: adds left to right, then
// std::max / std::min / select semantics. Loop-invariant parts of the
// epilogue (column bias vectors, activation constants) are loaded once per
// tile by StoreTile; this finishes one vector.
//
// x86's max/min return their second operand when either is NaN, which keeps
// a NaN x as Max(bound, x) / Min(bound, x): ReLU and Clip take one
// instruction per bound there. Elsewhere compare and select (Highway's NEON
// Max/Min return the number, dropping the NaN: Gemm.NaNSurvivesFusedActivations
// under qemu-aarch64 caught it).
#if HWY_ARCH_X86
HWY_INLINE VF MaxKeepNaN(VF bound, VF x) { return hn::Max(bound, x); }
HWY_INLINE VF MinKeepNaN(VF bound, VF x) { return hn::Min(bound, x); }
#else
HWY_INLINE VF MaxKeepNaN(VF bound, VF x) { return hn::IfThenElse(hn::Lt(x, bound), bound, x); }
HWY_INLINE VF MinKeepNaN(VF bound, VF x) { return hn::IfThenElse(hn::Lt(bound, x), bound, x); }
#endif

template <ActivationKind kAct>
HWY_INLINE VF Activate(VF x, VF zero, VF alpha, VF beta) {
  if constexpr (kAct == ActivationKind::kRelu) return MaxKeepNaN(zero, x);
  if constexpr (kAct == ActivationKind::kClip) return MinKeepNaN(beta, MaxKeepNaN(alpha, x));
  if constexpr (kAct == ActivationKind::kLeakyRelu) return hn::IfThenElse(hn::Lt(x, zero), hn::Mul(x, alpha), x);
  return x;
}

struct TileArgs {
  size_t kc = 0;
  const float* rows = nullptr;  // row operand: element (k, r) at rows[r·row_stride + k·k_stride]
  ptrdiff_t row_stride = 0, k_stride = 0;
  const float* panel = nullptr;  // lane operand: rows kPanelWidth apart
  Fetch fetch;
  float* c = nullptr;  // tile row r at c + r·c_stride
  ptrdiff_t c_stride = 0;
  bool load_c = false;
  const TileEpilogue* epilogue = nullptr;  // null: plain store
};

template <size_t kRows, size_t kVecs, size_t kFetchLinesPerStep>
HWY_INLINE void AccumulateTile(size_t k_begin, size_t k_end, const float* const (&row)[kRows], ptrdiff_t k_stride,
                               const float* HWY_RESTRICT panel, const float* fetch, VF (&acc)[kRows][kVecs]) {
  const DF d;
  for (size_t k = k_begin; k < k_end; ++k) {
    HWY_UNROLL(16)
    for (size_t i = 0; i < kFetchLinesPerStep; ++i) PrefetchToL2(fetch + (k * kFetchLinesPerStep + i) * kFloatsPerLine);
    VF b[kVecs];
    HWY_UNROLL(16)
    for (size_t v = 0; v < kVecs; ++v) b[v] = hn::Load(d, panel + k * kPanelWidth + v * kLanes);
    const ptrdiff_t offset = static_cast<ptrdiff_t>(k) * k_stride;
    HWY_UNROLL(16)
    for (size_t r = 0; r < kRows; ++r) {
      const VF a = hn::Set(d, row[r][offset]);
      HWY_UNROLL(16)
      for (size_t v = 0; v < kVecs; ++v) acc[r][v] = hn::MulAdd(a, b[v], acc[r][v]);
    }
  }
}

// C tile = acc (+ C when load_c), then with kEpilogue the additions of
// *t.epilogue and the activation kAct, stored.
template <ActivationKind kAct, bool kEpilogue, size_t kRows, size_t kVecs>
HWY_INLINE void StoreTile(const TileArgs& t, VF (&acc)[kRows][kVecs]) {
  const DF d;
  const TileEpilogue* e = kEpilogue ? t.epilogue : nullptr;
  const bool row_bias = e && e->row_bias, col_bias = e && e->col_bias, residual = e && e->residual;
  VF col[kVecs];
  HWY_UNROLL(16)
  for (size_t v = 0; v < kVecs; ++v) col[v] = col_bias ? hn::LoadU(d, e->col_bias + v * kLanes) : hn::Zero(d);
  const VF zero = hn::Zero(d);
  const VF alpha = hn::Set(d, e ? e->activation.alpha : 0.0f), beta = hn::Set(d, e ? e->activation.beta : 0.0f);
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    float* c_row = t.c + static_cast<ptrdiff_t>(r) * t.c_stride;
    const VF rb = row_bias ? hn::Set(d, e->row_bias[r]) : zero;
    const float* res_row = residual ? e->residual + static_cast<ptrdiff_t>(r) * e->residual_stride : nullptr;
    HWY_UNROLL(16)
    for (size_t v = 0; v < kVecs; ++v) {
      VF sum = t.load_c ? hn::Add(hn::LoadU(d, c_row + v * kLanes), acc[r][v]) : acc[r][v];
      if (row_bias) sum = hn::Add(sum, rb);
      if (col_bias) sum = hn::Add(sum, col[v]);
      if (residual) sum = hn::Add(sum, hn::LoadU(d, res_row + v * kLanes));
      hn::StoreU(Activate<kAct>(sum, zero, alpha, beta), d, c_row + v * kLanes);
    }
  }
}

template <size_t kRows, size_t kVecs>
void TileKernel(const TileArgs& t) {
  const DF d;
  VF acc[kRows][kVecs];
  const float* row[kRows];
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    row[r] = t.rows + static_cast<ptrdiff_t>(r) * t.row_stride;
    HWY_UNROLL(16)
    for (size_t v = 0; v < kVecs; ++v) {
      hwy::Prefetch(t.c + static_cast<ptrdiff_t>(r) * t.c_stride + v * kLanes);  // read or overwritten at the end
      acc[r][v] = hn::Zero(d);
    }
  }
  size_t k = 0;
  if (t.fetch.lines > t.kc) {  // up to a whole panel: three lines per step
    k = std::min(t.kc, t.fetch.lines / 3);
    AccumulateTile<kRows, kVecs, 3>(0, k, row, t.k_stride, t.panel, t.fetch.data, acc);
  } else if (t.fetch.lines > 0) {
    k = t.fetch.lines;
    AccumulateTile<kRows, kVecs, 1>(0, k, row, t.k_stride, t.panel, t.fetch.data, acc);
  }
  AccumulateTile<kRows, kVecs, 0>(k, t.kc, row, t.k_stride, t.panel, nullptr, acc);
  if (!t.epilogue) return StoreTile<ActivationKind::kNone, false>(t, acc);
  switch (t.epilogue->activation.kind) {
    case ActivationKind::kRelu: return StoreTile<ActivationKind::kRelu, true>(t, acc);
    case ActivationKind::kClip: return StoreTile<ActivationKind::kClip, true>(t, acc);
    case ActivationKind::kLeakyRelu: return StoreTile<ActivationKind::kLeakyRelu, true>(t, acc);
    default: return StoreTile<ActivationKind::kNone, true>(t, acc);
  }
}

using TileFn = void (*)(const TileArgs&);

template <size_t kRows, size_t... kVecIndex>
constexpr std::array<TileFn, kTileVecs> TileKernelsWithRows(std::index_sequence<kVecIndex...>) {
  return {&TileKernel<kRows, kVecIndex + 1>...};
}
template <size_t... kRowIndex>
constexpr std::array<std::array<TileFn, kTileVecs>, kTileRows> AllTileKernels(std::index_sequence<kRowIndex...>) {
  return {TileKernelsWithRows<kRowIndex + 1>(std::make_index_sequence<kTileVecs>())...};
}
// kTileKernels[rows - 1][vectors - 1]: edge tiles compute only what they need.
constexpr auto kTileKernels = AllTileKernels(std::make_index_sequence<kTileRows>());

// ---------------------------------------------------------------------------
// Packing. Panels of a K × L view (element (k, l) at src[k·stride_k + l·stride_l]):
// panel p holds lanes [p·kPanelWidth, (p+1)·kPanelWidth) for k < kc at
// dst[p·panel_stride + k·kPanelWidth + lane % kPanelWidth] (panel_stride
// defaults to kc·kPanelWidth); lanes past L are zero.

void PackPanels(const float* src, ptrdiff_t stride_k, ptrdiff_t stride_l, int64_t kc, int64_t lanes, float* dst,
                int64_t panel_stride = -1) {
  const DF d;
  if (panel_stride < 0) panel_stride = kc * kPanelWidth;
  const int64_t full_panels = stride_l == 1 ? lanes / kPanelWidth : 0;
  // Row-major source, whole panels: walk each row once, left to right.
  for (int64_t k = 0; k < kc; ++k) {
    const float* from = src + k * stride_k;
    float* to = dst + k * kPanelWidth;
    for (int64_t p = 0; p < full_panels; ++p, from += kPanelWidth, to += panel_stride) {
      for (int64_t v = 0; v < kTileVecs; ++v) hn::Store(hn::LoadU(d, from + v * kLanes), d, to + v * kLanes);
    }
  }
  // The rest: a partial panel, or every panel of a strided source.
  for (int64_t l0 = full_panels * kPanelWidth; l0 < lanes; l0 += kPanelWidth) {
    const int64_t width = std::min<int64_t>(kPanelWidth, lanes - l0);
    const float* from = src + l0 * stride_l;
    float* to = dst + l0 / kPanelWidth * panel_stride;
    for (int64_t k = 0; k < kc; ++k) std::fill_n(to + k * kPanelWidth + width, kPanelWidth - width, 0.0f);
    if (stride_l == 1) {
      for (int64_t k = 0; k < kc; ++k) std::copy_n(from + k * stride_k, width, to + k * kPanelWidth);
    } else {  // walk each lane along k (contiguous when stride_k == 1), 64 rows at a time (in L1)
      for (int64_t k0 = 0; k0 < kc; k0 += 64) {
        const int64_t k1 = std::min<int64_t>(kc, k0 + 64);
        for (int64_t l = 0; l < width; ++l) {
          for (int64_t k = k0; k < k1; ++k) to[k * kPanelWidth + l] = from[l * stride_l + k * stride_k];
        }
      }
    }
  }
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#endif  // include guard per target
