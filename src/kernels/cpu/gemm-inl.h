// Per-target GEMM core (BLIS/GotoBLAS structure), compiled once per SIMD
// target by gemm.cc through Highway's foreach_target.
//
// The core multiplies a "row operand" by a "lane operand": a C tile has
// kTileRows rows, one per row-operand element (broadcast), and up to
// kPanelWidth lanes, loaded as vectors from a panel of the lane operand.
// Normally the row operand is A (tile rows are C rows) and the lane operand
// is B. When N is short and M long (late conv layers: N = 7·7 = 49) the roles
// swap so that no vector lanes are wasted on N's ragged end: B is the row
// operand, A the lane operand, tiles accumulate in a transposed scratch copy
// of the task's C block, transposed into C at the end.
//
// Loops, outermost first (each thread-pool task runs them on its own lane
// range × row range):
//   K block     (k_block: a lane panel's K block, k_block × kPanelWidth, stays in L1)
//   row block   (row_block rows: their K block stays in L2)
//   lane panel  (kPanelWidth)
//   row tile    (kTileRows) -> micro-kernel: kc FMA steps on a register tile
// Lane panels are read in place when the lane operand was packed once
// (pack_left / pack_right); views are packed per lane block and K block.
// Every C element is summed in the same order whatever the thread count (the
// K blocks depend on the shape only), so results are bit-identical across
// thread counts.

#if defined(ISKRA_KERNELS_CPU_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ISKRA_KERNELS_CPU_GEMM_INL_H_
#undef ISKRA_KERNELS_CPU_GEMM_INL_H_
#else
#define ISKRA_KERNELS_CPU_GEMM_INL_H_
#endif

#include <algorithm>
#include <cstring>

#include "base/thread_pool.h"
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/gemm_tile-inl.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {
namespace {
namespace hn = hwy::HWY_NAMESPACE;

// A lane panel's K block (kc × kPanelWidth floats) stays in L1 while every
// row tile of a row block uses it; a row block's K block stays in L2.
constexpr int64_t kL1PanelBytes = 24 << 10;
constexpr int64_t kMaxKBlock = std::max<int64_t>(128, kL1PanelBytes / (sizeof(float) * kPanelWidth));
constexpr int64_t kRowBlockBytes = 192 << 10;
constexpr int64_t kMaxRowBlock = 480;  // rows; a multiple of every kTileRows (4, 6, 8)
constexpr int64_t kLaneBlockBytes = 1 << 20;     // lane operand's K block: half of a 2 MiB L2
constexpr int64_t kMinFlopsPerThread = 1 << 21;  // smaller products run on one thread
constexpr int64_t kTasksPerThread = 4;

int64_t DivCeil(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t RoundUp(int64_t a, int64_t b) { return DivCeil(a, b) * b; }

// Grow-once, 64-byte aligned scratch of the calling thread (one per purpose).
template <int kPurpose>
float* ThreadScratch(size_t floats) {
  thread_local hwy::AlignedFreeUniquePtr<float[]> buffer;
  thread_local size_t capacity = 0;
  if (capacity < floats) {
    buffer = hwy::AllocateAligned<float>(floats);
    capacity = floats;
  }
  return buffer.get();
}
enum ScratchPurpose { kLaneScratch, kRowScratch, kTransposedCScratch };

// ---------------------------------------------------------------------------
// The blocked product.

struct Plan {
  GemmOperand row_op, lane_op;
  int64_t rows = 0, lanes = 0, k = 0;
  bool swapped = false;  // rows are N, lanes are M
  const GemmCall* call = nullptr;
  bool has_epilogue_pass = false;
  int64_t k_block = 0;
  int64_t lane_block = 0, lane_blocks = 0;  // lane_block is a multiple of kPanelWidth
  int64_t row_chunk = 0, row_chunks = 0;    // row_chunk is a multiple of kTileRows
  int64_t row_block = 0;                     // rows per L2 block of a task; a multiple of kTileRows
};

struct Strided {  // element (k, i) at data[i·stride_i + k·stride_k]
  const float* data;
  ptrdiff_t stride_i, stride_k;
};

// The row operand's tile at rows [row0, row0 + kTileRows), K block at k0.
// A tile whose rows are not contiguous along k is copied into `scratch`
// (kc × kTileRows): the kernel then touches half as many cache lines.
Strided RowTile(const Plan& p, int64_t row0, int64_t k0, int64_t kc, float* scratch) {
  const GemmOperand& op = p.row_op;
  Strided tile;
  if (op.packed) {
    tile = {op.data + (row0 / kPanelWidth * p.k + k0) * kPanelWidth + row0 % kPanelWidth, 1, kPanelWidth};
  } else {
    tile = {op.data + k0 * op.stride_k + row0 * op.stride_d, op.stride_d, op.stride_k};
  }
  if (tile.stride_i != 1 || tile.stride_k == kTileRows) return tile;
  const int64_t rows = std::min<int64_t>(kTileRows, p.rows - row0);
  if (rows == kTileRows) {  // constant size: one vector move per k
    for (int64_t k = 0; k < kc; ++k) std::memcpy(scratch + k * kTileRows, tile.data + k * tile.stride_k, sizeof(float) * kTileRows);
  } else {
    for (int64_t k = 0; k < kc; ++k) std::copy_n(tile.data + k * tile.stride_k, rows, scratch + k * kTileRows);
  }
  return {scratch, 1, kTileRows};
}

// The lane operand's panels for one lane block and K block: in place when
// packed once, otherwise packed now into `scratch`. Panel i is at
// base + i·panel_step, its rows kPanelWidth apart.
struct LaneBlock {
  const float* base;
  ptrdiff_t panel_step;
  bool cold;  // packed once (then K blocks are consecutive in each panel): likely not in cache yet
};

LaneBlock PackLaneBlock(const Plan& p, int64_t lane_begin, int64_t lane_end, int64_t k0, int64_t kc, float* scratch) {
  const GemmOperand& op = p.lane_op;
  if (op.packed) return {op.data + (lane_begin / kPanelWidth * p.k + k0) * kPanelWidth, p.k * kPanelWidth, true};
  PackPanels(op.data + k0 * op.stride_k + lane_begin * op.stride_d, op.stride_k, op.stride_d, kc, lane_end - lane_begin,
             scratch);
  return {scratch, kc * kPanelWidth, false};
}

// One C tile (row-major, unit lane stride): straight into C when whole
// vectors wide, otherwise through a local tile (no fused epilogue then).
void RunTile(int64_t rows, int64_t lanes, TileArgs args) {
  const int64_t vecs = DivCeil(lanes, kLanes);
  const TileFn kernel = kTileKernels[rows - 1][vecs - 1];
  if (lanes == vecs * kLanes) {
    kernel(args);
    return;
  }
  float* c = args.c;
  const ptrdiff_t c_stride = args.c_stride;
  HWY_ALIGN float tile[kTileRows * kPanelWidth];
  args.c = tile;
  args.c_stride = kPanelWidth;
  args.epilogue = nullptr;
  for (int64_t r = 0; args.load_c && r < rows; ++r) std::copy_n(c + r * c_stride, lanes, tile + r * kPanelWidth);
  kernel(args);
  for (int64_t r = 0; r < rows; ++r) std::copy_n(tile + r * kPanelWidth, lanes, c + r * c_stride);
}

// The epilogue as a pass over C[m0..m1, n0..n1), once its sums are final:
// the additions (bias, residual) and/or the activation.
void ApplyEpilogue(const GemmEpilogue& e, bool adds, bool activate, float* c, ptrdiff_t ldc, int64_t m0, int64_t m1,
                   int64_t n0, int64_t n1) {
  const DF d;
  const int64_t n = n1 - n0;
  adds = adds && (e.row_bias || e.col_bias || e.residual);
  for (int64_t i = m0; i < m1; ++i) {
    float* row = c + i * ldc + n0;
    if (adds) {
      const float row_bias = e.row_bias ? e.row_bias[i] : 0.0f;
      const float* col_bias = e.col_bias ? e.col_bias + n0 : nullptr;
      const float* residual = e.residual ? e.residual + i * e.residual_ld + n0 : nullptr;
      int64_t j = 0;
      for (; j + kLanes <= n; j += kLanes) {
        VF x = hn::Add(hn::LoadU(d, row + j), hn::Set(d, row_bias));
        if (col_bias) x = hn::Add(x, hn::LoadU(d, col_bias + j));
        if (residual) x = hn::Add(x, hn::LoadU(d, residual + j));
        hn::StoreU(x, d, row + j);
      }
      for (; j < n; ++j) {
        float x = row[j] + row_bias;
        if (col_bias) x += col_bias[j];
        if (residual) x += residual[j];
        row[j] = x;
      }
    }
    if (activate) apply_activation(e.activation, row, static_cast<size_t>(n));
  }
}

// The part of the epilogue the micro-kernel applies to the C tile at (m0, n0).
TileEpilogue FusedEpilogueAt(const GemmEpilogue& e, int64_t m0, int64_t n0) {
  TileEpilogue t;
  t.row_bias = e.row_bias ? e.row_bias + m0 : nullptr;
  t.col_bias = e.col_bias ? e.col_bias + n0 : nullptr;
  t.residual = e.residual ? e.residual + m0 * e.residual_ld + n0 : nullptr;
  t.residual_stride = e.residual_ld;
  if (Fusable(e.activation.kind)) t.activation = e.activation;
  return t;
}

// Copies C[m0..m1, n0..n1) to or from its transpose t (row n - n0 at
// t + (n - n0)·t_stride), 16 rows of C at a time so that both sides are
// read and written in whole cache lines.
void TransposeC(bool to_c, float* c, ptrdiff_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float* t,
                ptrdiff_t t_stride) {
  constexpr int64_t kBlock = 16;
  for (int64_t mb = m0; mb < m1; mb += kBlock) {
    const int64_t mb_end = std::min(m1, mb + kBlock);
    for (int64_t n = n0; n < n1; ++n) {
      float* t_row = t + (n - n0) * t_stride - m0;
      for (int64_t m = mb; m < mb_end; ++m) {
        if (to_c) {
          c[m * ldc + n] = t_row[m];
        } else {
          t_row[m] = c[m * ldc + n];
        }
      }
    }
  }
}

// What the micro-kernel on row tile `tile_index` of panel `index` prefetches
// when the lane panels were packed once (so are streamed from memory): a
// share of the next panel, so that the row tiles of this panel together
// fetch all of it.
Fetch FetchAhead(const LaneBlock& panels, int64_t index, int64_t last_panel, int64_t kc, int64_t tile_index,
                 int64_t row_tiles) {
  if (!panels.cold || index == last_panel) return {};
  const float* next = panels.base + (index + 1) * panels.panel_step;
  const int64_t lines = kc * kPanelWidth / kFloatsPerLine;
  const int64_t begin = tile_index * lines / row_tiles, end = (tile_index + 1) * lines / row_tiles;
  return {next + begin * kFloatsPerLine, static_cast<size_t>(end - begin)};
}

// One task: C for lanes [lane_begin, lane_end) × rows [row_begin, row_end).
// Per K block, the rows go in sub-blocks of p.row_block rows (their K block
// stays in L2); per sub-block each lane panel (kc × kPanelWidth, in L1) is
// multiplied by every row tile before the next panel.
void RunTask(const Plan& p, int64_t task) {
  const int64_t lane_begin = task / p.row_chunks * p.lane_block;
  const int64_t lane_end = std::min(p.lanes, lane_begin + p.lane_block);
  const int64_t row_begin = task % p.row_chunks * p.row_chunk;
  const int64_t row_end = std::min(p.rows, row_begin + p.row_chunk);
  if (lane_begin >= lane_end || row_begin >= row_end) return;
  const GemmCall& call = *p.call;
  const GemmEpilogue& e = *call.epilogue;
  const int64_t last_panel = (lane_end - lane_begin - 1) / kPanelWidth;
  float* lane_scratch = p.lane_op.packed ? nullptr : ThreadScratch<kLaneScratch>(p.k_block * p.lane_block);
  float* row_scratch = ThreadScratch<kRowScratch>(p.k_block * p.row_block);

  // Tiles go to C, or (swapped) to C's transpose in scratch, whose rows are
  // padded to whole panels.
  float* tiles = call.c + row_begin * call.ldc + lane_begin;
  ptrdiff_t tiles_stride = call.ldc;
  if (p.swapped) {
    tiles_stride = p.lane_block;
    tiles = ThreadScratch<kTransposedCScratch>((row_end - row_begin) * tiles_stride);
    if (e.accumulate) {  // start from C (zeros in the padding lanes)
      std::fill_n(tiles, (row_end - row_begin) * tiles_stride, 0.0f);
      TransposeC(false, call.c, call.ldc, lane_begin, lane_end, row_begin, row_end, tiles, tiles_stride);
    }
  }

  Strided row_tiles[kMaxRowBlock / kTileRows];
  for (int64_t k0 = 0;; k0 += p.k_block) {
    const int64_t kc = std::min(p.k_block, p.k - k0);
    const bool last_k_block = k0 + kc == p.k;
    const bool load_c = k0 > 0 || e.accumulate;
    const LaneBlock panels = PackLaneBlock(p, lane_begin, lane_end, k0, kc, lane_scratch);
    // Normal roles, last K block: the kernels apply the epilogue to whole-vector tiles.
    const bool finish = last_k_block && p.has_epilogue_pass && !p.swapped;
    const int64_t fused_end = (lane_end - lane_begin) % kLanes ? lane_begin + last_panel * kPanelWidth : lane_end;
    for (int64_t b0 = row_begin; b0 < row_end; b0 += p.row_block) {
      const int64_t b1 = std::min(row_end, b0 + p.row_block);
      const int64_t tile_count = DivCeil(b1 - b0, kTileRows);
      for (int64_t t = 0; t < tile_count; ++t)
        row_tiles[t] = RowTile(p, b0 + t * kTileRows, k0, kc, row_scratch + t * kc * kTileRows);
      TileArgs args;
      args.kc = static_cast<size_t>(kc);
      args.c_stride = tiles_stride;
      args.load_c = load_c;
      for (int64_t index = 0; index <= last_panel; ++index) {
        const int64_t l0 = lane_begin + index * kPanelWidth;
        const int64_t lanes = std::min<int64_t>(kPanelWidth, lane_end - l0);
        args.panel = panels.base + index * panels.panel_step;
        for (int64_t t = 0; t < tile_count; ++t) {
          const int64_t r0 = b0 + t * kTileRows;
          const TileEpilogue fused = finish ? FusedEpilogueAt(e, r0, l0) : TileEpilogue{};
          args.rows = row_tiles[t].data;
          args.row_stride = row_tiles[t].stride_i;
          args.k_stride = row_tiles[t].stride_k;
          args.fetch = FetchAhead(panels, index, last_panel, kc, t, tile_count);
          args.c = tiles + (r0 - row_begin) * tiles_stride + (l0 - lane_begin);
          args.epilogue = finish ? &fused : nullptr;
          RunTile(std::min<int64_t>(kTileRows, b1 - r0), p.swapped ? RoundUp(lanes, kLanes) : lanes, args);
        }
      }
      if (finish) {  // what the kernels could not apply: a ragged end, a complex activation
        ApplyEpilogue(e, true, true, call.c, call.ldc, b0, b1, fused_end, lane_end);
        ApplyEpilogue(e, false, !Fusable(e.activation.kind), call.c, call.ldc, b0, b1, lane_begin, fused_end);
      }
    }
    if (last_k_block) break;
  }
  if (p.swapped) {
    TransposeC(true, call.c, call.ldc, lane_begin, lane_end, row_begin, row_end, tiles, tiles_stride);
    if (p.has_epilogue_pass) ApplyEpilogue(e, true, true, call.c, call.ldc, lane_begin, lane_end, row_begin, row_end);
  }
}

// Fraction of vector lanes doing useful work when `n` is laid along lanes.
double LaneEfficiency(int64_t n) { return static_cast<double>(n) / static_cast<double>(RoundUp(n, kLanes)); }

Plan MakePlan(const GemmCall& call, int threads) {
  Plan p;
  p.call = &call;
  // Swap roles when M fills vectors clearly better than N (B packed for the
  // right side can only be a lane operand).
  p.swapped = !call.b.packed && LaneEfficiency(call.n) + 0.05 < LaneEfficiency(call.m);
  p.row_op = p.swapped ? call.b : call.a;
  p.lane_op = p.swapped ? call.a : call.b;
  p.rows = p.swapped ? call.n : call.m;
  p.lanes = p.swapped ? call.m : call.n;
  p.k = call.k;
  const GemmEpilogue& e = *call.epilogue;
  p.has_epilogue_pass = e.row_bias || e.col_bias || e.residual || !e.activation.is_none();

  // A single row tile over packed lanes (GEMV-like): stream the panels once,
  // no K blocks.
  const bool stream_lanes = p.rows <= kTileRows && p.lane_op.packed;
  const int64_t k_blocks = stream_lanes ? 1 : std::max<int64_t>(1, DivCeil(p.k, kMaxKBlock));
  p.k_block = std::max<int64_t>(1, DivCeil(p.k, k_blocks));

  // Threads take tasks from a shared counter: a few tasks per thread even out
  // a thread that starts late or is descheduled. Lanes are split first (each
  // task packs only its own lane block), then rows.
  const int64_t want_tasks = threads > 1 ? threads * kTasksPerThread : 1;
  const int64_t lane_panels = DivCeil(p.lanes, kPanelWidth);
  const int64_t max_block_panels =
      std::max<int64_t>(1, kLaneBlockBytes / (p.k_block * static_cast<int64_t>(sizeof(float) * kPanelWidth)));
  const int64_t blocks = std::min(lane_panels, std::max(DivCeil(lane_panels, max_block_panels), want_tasks));
  const int64_t block_panels = DivCeil(lane_panels, blocks);
  p.lane_block = block_panels * kPanelWidth;
  p.lane_blocks = DivCeil(lane_panels, block_panels);
  const int64_t row_tiles = DivCeil(p.rows, kTileRows);
  p.row_chunk = DivCeil(row_tiles, std::min(row_tiles, DivCeil(want_tasks, p.lane_blocks))) * kTileRows;
  p.row_chunks = DivCeil(p.rows, p.row_chunk);
  const int64_t block_rows = kRowBlockBytes / (p.k_block * static_cast<int64_t>(sizeof(float)));
  p.row_block = std::clamp<int64_t>(block_rows, kTileRows, kMaxRowBlock) / kTileRows * kTileRows;
  return p;
}

}  // namespace

void RunGemm(const GemmCall& call, ThreadPool* pool) {
  if (call.m <= 0 || call.n <= 0) return;
  const double flops = 2.0 * static_cast<double>(call.m) * static_cast<double>(call.n) * static_cast<double>(call.k);
  int threads = pool ? pool->threads() : 1;
  threads = static_cast<int>(std::clamp<double>(flops / kMinFlopsPerThread, 1.0, threads));
  const Plan plan = MakePlan(call, threads);
  const int64_t tasks = plan.lane_blocks * plan.row_chunks;
  if (threads == 1 || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t) RunTask(plan, t);
  } else {
    pool->parallel_for(tasks, [&plan](int64_t t) { RunTask(plan, t); });
  }
}

int64_t GemmPanelWidth() { return kPanelWidth; }

// Packs a K × D operand view (see GemmOperand) into panels `panel_stride`
// floats apart (k · panel width for a whole operand; more when these are
// some of the rows).
void GemmPackOperand(const float* src, ptrdiff_t stride_k, ptrdiff_t stride_d, int64_t k, int64_t d,
                     int64_t panel_stride, float* dst) {
  PackPanels(src, stride_k, stride_d, k, d, dst, panel_stride);
}

const char* GemmTargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#endif  // include guard per target
