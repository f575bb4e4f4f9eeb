// Public GEMM entry points: describe the operands, dispatch once per call to
// the per-target core in gemm-inl.h. Also the scalar reference.

// SVE vectors have a run-time length; the core needs compile-time tile sizes,
// so Arm uses NEON for GEMM.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#include "kernels/cpu/gemm.h"

#include <algorithm>
#include <cstdio>
#include <new>
#include <cstdlib>

#include "kernels/cpu/gemm_internal.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/gemm-inl.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/cpu/gemm-inl.h"

namespace iskra::cpu {

HWY_EXPORT(RunGemm);
HWY_EXPORT(GemmPanelWidth);
HWY_EXPORT(GemmPackOperand);
HWY_EXPORT(GemmTargetName);

struct GemmAccess {
  static PackedMatrix allocate(PackedMatrix::Side side, int64_t k, int64_t d) {
    PackedMatrix p;
    p.side_ = side;
    p.rows_ = side == PackedMatrix::Side::kLeft ? d : k;
    p.cols_ = side == PackedMatrix::Side::kLeft ? k : d;
    p.panel_width_ = HWY_DYNAMIC_DISPATCH(GemmPanelWidth)();
    const int64_t panels = (d + p.panel_width_ - 1) / p.panel_width_;
    p.size_ = static_cast<size_t>(panels * p.panel_width_ * k);
    const size_t bytes = std::max<size_t>(p.size_, 1) * sizeof(float);
    float* data = static_cast<float*>(allocate_buffer(bytes));
    if (!data) throw std::bad_alloc();  // as the std::vector it replaced did
    p.data_ = std::unique_ptr<float[], BufferFree>(data, BufferFree{bytes});
    return p;
  }

  // Packs the K × D view (element (k, d) at data[k·stride_k + d·stride_d]).
  static PackedMatrix pack(PackedMatrix::Side side, const float* data, ptrdiff_t stride_k, ptrdiff_t stride_d,
                           int64_t k, int64_t d) {
    PackedMatrix p = allocate(side, k, d);
    HWY_DYNAMIC_DISPATCH(GemmPackOperand)(data, stride_k, stride_d, k, d, k * p.panel_width_, p.data_.get());
    return p;
  }

  static PackedMatrix pack_blocks(std::span<const MatrixView> views, std::span<const int64_t> rows, int64_t n) {
    int64_t k = 0;
    for (int64_t r : rows) k += r;
    PackedMatrix p = allocate(PackedMatrix::Side::kRight, k, n);
    const int64_t width = p.panel_width_, panel_stride = k * width;
    const size_t blocks = std::min(views.size(), rows.size());
    std::vector<int64_t> first_row(blocks);  // of each block in K
    int64_t longest = 0;
    for (size_t i = 0, k0 = 0; i < blocks; k0 += static_cast<size_t>(rows[i]), ++i) {
      first_row[i] = static_cast<int64_t>(k0);
      longest = std::max(longest, rows[i]);
    }
    // Panel by panel, and within a panel 64 rows of every block at a time:
    // blocks that are interleaved views of one tensor (the taps of a conv's
    // weights) then read each source cache line while it is still cached.
    constexpr int64_t kRowChunk = 64;
    for (int64_t l0 = 0; l0 < n; l0 += width) {
      float* panel = p.data_.get() + l0 / width * panel_stride;
      for (int64_t r0 = 0; r0 < longest; r0 += kRowChunk) {
        for (size_t i = 0; i < blocks; ++i) {
          if (r0 >= rows[i]) continue;
          const MatrixView& v = views[i];
          HWY_DYNAMIC_DISPATCH(GemmPackOperand)(v.data + l0 * v.col_stride + r0 * v.row_stride, v.row_stride,
                                                v.col_stride, std::min(kRowChunk, rows[i] - r0), std::min(width, n - l0),
                                                panel_stride, panel + (first_row[i] + r0) * width);
        }
      }
    }
    return p;
  }
};

PackedMatrix PackedMatrix::pack_left(MatrixView a, int64_t m, int64_t k) {
  return GemmAccess::pack(Side::kLeft, a.data, a.col_stride, a.row_stride, k, m);
}

PackedMatrix PackedMatrix::pack_right(MatrixView b, int64_t k, int64_t n) {
  return GemmAccess::pack(Side::kRight, b.data, b.row_stride, b.col_stride, k, n);
}

PackedMatrix PackedMatrix::allocate_right(int64_t k, int64_t n) { return GemmAccess::allocate(Side::kRight, k, n); }

PackedMatrix PackedMatrix::pack_right_blocks(std::span<const MatrixView> views, std::span<const int64_t> rows,
                                             int64_t n) {
  return GemmAccess::pack_blocks(views, rows, n);
}

namespace {

GemmOperand left_view(MatrixView a) { return {a.data, a.col_stride, a.row_stride, false}; }
GemmOperand right_view(MatrixView b) { return {b.data, b.row_stride, b.col_stride, false}; }

GemmOperand packed_operand(const PackedMatrix& p, PackedMatrix::Side side, int64_t d, int64_t k) {
  const bool rows_match = side == PackedMatrix::Side::kLeft ? (p.rows() == d && p.cols() == k)
                                                            : (p.rows() == k && p.cols() == d);
  if (p.side() != side || !rows_match || p.panel_width() != HWY_DYNAMIC_DISPATCH(GemmPanelWidth)()) {
    std::fprintf(stderr, "iskra gemm: packed operand does not match the call (side, shape or SIMD target)\n");
    std::abort();
  }
  return {p.data(), 0, 0, true};
}

void run(int64_t m, int64_t n, int64_t k, GemmOperand a, GemmOperand b, float* c, ptrdiff_t ldc,
         const GemmEpilogue& epilogue, ThreadPool* pool) {
  GemmCall call;
  call.m = m;
  call.n = n;
  call.k = k;
  call.a = a;
  call.b = b;
  call.c = c;
  call.ldc = ldc;
  call.epilogue = &epilogue;
  HWY_DYNAMIC_DISPATCH(RunGemm)(call, pool);
}

}  // namespace

void gemm(int64_t m, int64_t n, int64_t k, const PackedMatrix& a, MatrixView b, float* c, ptrdiff_t ldc,
          const GemmEpilogue& epilogue, ThreadPool* pool) {
  run(m, n, k, packed_operand(a, PackedMatrix::Side::kLeft, m, k), right_view(b), c, ldc, epilogue, pool);
}
void gemm(int64_t m, int64_t n, int64_t k, MatrixView a, const PackedMatrix& b, float* c, ptrdiff_t ldc,
          const GemmEpilogue& epilogue, ThreadPool* pool) {
  run(m, n, k, left_view(a), packed_operand(b, PackedMatrix::Side::kRight, n, k), c, ldc, epilogue, pool);
}
void gemm(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, ptrdiff_t ldc,
          const GemmEpilogue& epilogue, ThreadPool* pool) {
  run(m, n, k, left_view(a), right_view(b), c, ldc, epilogue, pool);
}

void gemm_reference(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, ptrdiff_t ldc,
                    const GemmEpilogue& e) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t p = 0; p < k; ++p) sum += double(a.at(i, p)) * double(b.at(p, j));
      float& out = c[i * ldc + j];
      float v = static_cast<float>(sum) + (e.accumulate ? out : 0.0f);
      if (e.row_bias) v += e.row_bias[i];
      if (e.col_bias) v += e.col_bias[j];
      if (e.residual) v += e.residual[i * e.residual_ld + j];
      out = activation_reference(e.activation, v);
    }
  }
}

const char* gemm_target_name() { return HWY_DYNAMIC_DISPATCH(GemmTargetName)(); }

}  // namespace iskra::cpu
