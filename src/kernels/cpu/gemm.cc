// Placeholder until the packed SIMD GEMM lands: scalar products through the reference.
#include "kernels/cpu/gemm.h"

namespace iskra::cpu {

PackedMatrix PackedMatrix::pack_left(MatrixView a, int64_t m, int64_t k) {
  PackedMatrix p;
  p.side_ = Side::kLeft;
  p.rows_ = m;
  p.cols_ = k;
  p.data_.resize(static_cast<size_t>(m * k));
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < k; ++c) p.data_[static_cast<size_t>(r * k + c)] = a.at(r, c);
  return p;
}

PackedMatrix PackedMatrix::pack_right(MatrixView b, int64_t k, int64_t n) {
  PackedMatrix p;
  p.side_ = Side::kRight;
  p.rows_ = k;
  p.cols_ = n;
  p.data_.resize(static_cast<size_t>(k * n));
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c) p.data_[static_cast<size_t>(r * n + c)] = b.at(r, c);
  return p;
}

void gemm(int64_t m, int64_t n, int64_t k, const PackedMatrix& a, MatrixView b, float* c, ptrdiff_t ldc,
          const GemmEpilogue& epilogue, ThreadPool*) {
  gemm_reference(m, n, k, MatrixView{a.data(), k, 1}, b, c, ldc, epilogue);
}
void gemm(int64_t m, int64_t n, int64_t k, MatrixView a, const PackedMatrix& b, float* c, ptrdiff_t ldc,
          const GemmEpilogue& epilogue, ThreadPool*) {
  gemm_reference(m, n, k, a, MatrixView{b.data(), n, 1}, c, ldc, epilogue);
}
void gemm(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, ptrdiff_t ldc,
          const GemmEpilogue& epilogue, ThreadPool*) {
  gemm_reference(m, n, k, a, b, c, ldc, epilogue);
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

const char* gemm_target_name() { return "scalar"; }

}  // namespace iskra::cpu
