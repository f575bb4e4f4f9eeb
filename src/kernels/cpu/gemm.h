// Single-precision matrix products for the fast kernels: packed operands,
// register-blocked SIMD micro-kernels (Highway, runtime dispatch), threads,
// and an epilogue that fuses bias, residual and activation into the store.
//
//   C[M, N] = act(A[M, K] · B[K, N] + row_bias[M] + col_bias[N] + residual[M, N])
//
// Operands are described by strides, so transposed operands cost nothing
// extra. A weight operand is packed once (PackedMatrix, at prepare time); an
// activation operand is packed per call into per-thread scratch that grows
// once and is then reused (no heap allocation in steady state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <vector>

#include "base/buffer.h"
#include "kernels/cpu/activation.h"

namespace iskra {
class ThreadPool;
}

namespace iskra::cpu {

// A read-only matrix: element (r, c) is data[r * row_stride + c * col_stride].
struct MatrixView {
  const float* data = nullptr;
  ptrdiff_t row_stride = 0;
  ptrdiff_t col_stride = 1;

  float at(int64_t r, int64_t c) const { return data[r * row_stride + c * col_stride]; }
};

// What happens to C after the product. Every pointer may be null.
struct GemmEpilogue {
  const float* row_bias = nullptr;   // [M]: conv bias per output channel
  const float* col_bias = nullptr;   // [N]: Gemm / FullyConnected bias per output feature
  const float* residual = nullptr;   // [M, N] with leading dimension residual_ld, added before act
  ptrdiff_t residual_ld = 0;
  Activation activation;
  bool accumulate = false;           // C += product (then bias etc.) instead of C = product
};

// Deleter of storage from allocate_buffer (base/buffer.h).
struct BufferFree {
  size_t bytes = 0;
  void operator()(float* p) const { free_buffer(p, bytes); }
};

// An operand packed once into the micro-kernel's panel layout. Which side it
// was packed for is fixed at packing time.
//
// Layout: the non-K dimension (M for a left operand, N for a right one) is cut
// into panels of panel_width() (zero padded); panel p holds, for k = 0..K-1,
// its panel_width() elements contiguously. The width depends on the SIMD
// target chosen at run time, so pack with the gemm of the same process.
class PackedMatrix {
 public:
  enum class Side : uint8_t { kLeft, kRight };
  PackedMatrix() = default;
  // A as the left operand [rows = M, cols = K].
  static PackedMatrix pack_left(MatrixView a, int64_t m, int64_t k);
  // B as the right operand [rows = K, cols = N].
  static PackedMatrix pack_right(MatrixView b, int64_t k, int64_t n);
  // B as the right operand, its K rows given as consecutive blocks of views
  // (block i: rows[i] rows of `views[i]`, N columns each), e.g. the taps of a
  // convolution whose weights are not one strided matrix.
  static PackedMatrix pack_right_blocks(std::span<const MatrixView> views, std::span<const int64_t> rows, int64_t n);

  // A right operand K × N left unfilled: the caller writes every float of
  // mutable_data() in the layout above, the padding lanes' zeros included.
  static PackedMatrix allocate_right(int64_t k, int64_t n);
  float* mutable_data() { return data_.get(); }

  Side side() const { return side_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t panel_width() const { return panel_width_; }
  size_t byte_size() const { return size_ * sizeof(float); }
  const float* data() const { return data_.get(); }

 private:
  Side side_ = Side::kLeft;
  int64_t rows_ = 0, cols_ = 0;
  int64_t panel_width_ = 0;
  // 64-byte aligned (aligned vector loads never straddle cache lines); the
  // packing writes every float, padding included, so nothing is zeroed first.
  std::unique_ptr<float[], BufferFree> data_;
  size_t size_ = 0;
  friend struct GemmAccess;
};

// C (leading dimension ldc, unit column stride) = epilogue(A · B).
// `pool` may be null (single thread). Shapes: A is m×k, B is k×n.
void gemm(int64_t m, int64_t n, int64_t k, const PackedMatrix& a, MatrixView b, float* c, ptrdiff_t ldc,
          const GemmEpilogue& epilogue, ThreadPool* pool);
void gemm(int64_t m, int64_t n, int64_t k, MatrixView a, const PackedMatrix& b, float* c, ptrdiff_t ldc,
          const GemmEpilogue& epilogue, ThreadPool* pool);
void gemm(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, ptrdiff_t ldc,
          const GemmEpilogue& epilogue, ThreadPool* pool);

// The scalar definition (double accumulation): the oracle in tests.
void gemm_reference(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, ptrdiff_t ldc,
                    const GemmEpilogue& epilogue);

// Name of the SIMD target the dispatcher chose on this machine ("AVX3", "AVX2", "NEON", ...).
const char* gemm_target_name();

}  // namespace iskra::cpu
