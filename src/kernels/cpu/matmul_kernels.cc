// Fast MatMul and Gemm for float32 on the packed GEMM (gemm.h).
//
// MatMul with a constant 2-D right operand (every linear layer) packs it once
// and runs all rows of A, whatever its batch dims, as one product. Other
// MatMuls (attention's Q·Kᵀ, scores·V) run one product per broadcast batch
// entry on strided views. Gemm needs a constant B (weights); alpha is folded
// into the packed B, and beta·C becomes a per-column or per-row bias, or a
// residual when C is a full [M, N] matrix and beta is 1.
#include <memory>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/register.h"

namespace iskra::cpu {

namespace {

bool is_f32(const Tensor& t) { return t.dtype() == DType::kF32; }

// The broadcast batch of a MatMul with a run-time B: the output's batch dims
// and, per dim, the step of A and B (0 along a broadcast dim), in elements.
// Walked at run time: a table of every entry's offsets would grow with the
// batch count, which a hostile model can make huge for a tiny output matrix.
struct BatchWalk {
  Shape dims;
  std::vector<int64_t> a_steps, b_steps;
};

class MatMulKernel final : public PreparedKernel {
 public:
  // Constant B [K, N]: one product over all rows of A.
  MatMulKernel(int64_t m, int64_t n, int64_t k, PackedMatrix b) : m_(m), n_(n), k_(k), packed_b_(std::move(b)) {}
  // Run-time B: one product per batch entry.
  MatMulKernel(int64_t m, int64_t n, int64_t k, BatchWalk batch)
      : m_(m), n_(n), k_(k), batched_(true), batch_(std::move(batch)) {}

  Status run(KernelContext& ctx) override {
    const float* a = ctx.input(0).data<float>();
    float* out = ctx.output(0).data<float>();
    const GemmEpilogue none;
    if (!batched_) {
      gemm(m_, n_, k_, MatrixView{a, k_, 1}, packed_b_, out, n_, none, ctx.pool);
      return Status::ok();
    }
    const float* b = ctx.input(1).data<float>();
    const size_t rank = batch_.dims.size();
    int64_t index[kMaxBatchRank] = {};
    int64_t a_offset = 0, b_offset = 0;
    const int64_t count = shape_element_count(batch_.dims);
    for (int64_t e = 0; e < count; ++e) {
      gemm(m_, n_, k_, MatrixView{a + a_offset, k_, 1}, MatrixView{b + b_offset, n_, 1}, out + e * m_ * n_, n_, none,
           ctx.pool);
      for (size_t d = rank; d-- > 0;) {  // next index, odometer order
        a_offset += batch_.a_steps[d];
        b_offset += batch_.b_steps[d];
        if (++index[d] < batch_.dims[d]) break;
        a_offset -= batch_.a_steps[d] * batch_.dims[d];
        b_offset -= batch_.b_steps[d] * batch_.dims[d];
        index[d] = 0;
      }
    }
    return Status::ok();
  }

  static constexpr size_t kMaxBatchRank = 30;  // kMaxTensorRank less the two matrix dims

 private:
  int64_t m_, n_, k_;
  bool batched_ = false;
  PackedMatrix packed_b_;
  BatchWalk batch_;
};

// Row-major strides of `batch` broadcast to `out` (0 along broadcast dims), in
// units of whole matrices of `matrix_size` elements.
std::vector<int64_t> batch_strides(const Shape& batch, const Shape& out, int64_t matrix_size) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = matrix_size;
  for (size_t i = batch.size(); i-- > 0;) {
    const size_t o = out.size() - batch.size() + i;
    strides[o] = batch[i] == 1 ? 0 : stride;
    stride *= batch[i];
  }
  return strides;
}

Result<std::unique_ptr<PreparedKernel>> prepare_matmul(const PrepareContext& ctx) {
  std::unique_ptr<PreparedKernel> none;
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (!is_f32(a) || !is_f32(b) || a.rank() < 1 || b.rank() < 1) return none;
  // 1-D operands: A [K] is a row, B [K] a column (dropped from the output by InferFn).
  const int64_t k = a.shape().back();
  const int64_t m = a.rank() >= 2 ? a.shape()[a.shape().size() - 2] : 1;
  const int64_t n = b.rank() >= 2 ? b.shape().back() : 1;
  if (m == 0 || n == 0) return none;
  if (ctx.is_constant(1) && b.rank() <= 2) {
    const int64_t rows = a.element_count() / std::max<int64_t>(k, 1);
    MatrixView bv{b.data<float>(), b.rank() == 2 ? n : 1, 1};
    return std::unique_ptr<PreparedKernel>(new MatMulKernel(rows, n, k, PackedMatrix::pack_right(bv, k, n)));
  }
  if (a.rank() < 2 || b.rank() < 2) return none;
  const Shape& out = ctx.outputs[0].shape;
  BatchWalk batch;
  batch.dims.assign(out.begin(), out.end() - 2);
  if (batch.dims.size() > MatMulKernel::kMaxBatchRank || shape_element_count(batch.dims) == 0) return none;
  batch.a_steps = batch_strides(Shape(a.shape().begin(), a.shape().end() - 2), batch.dims, m * k);
  batch.b_steps = batch_strides(Shape(b.shape().begin(), b.shape().end() - 2), batch.dims, k * n);
  return std::unique_ptr<PreparedKernel>(new MatMulKernel(m, n, k, std::move(batch)));
}

class GemmKernel final : public PreparedKernel {
 public:
  GemmKernel(int64_t m, int64_t n, int64_t k, bool trans_a, PackedMatrix b, std::vector<float> col_bias,
             std::vector<float> row_bias, bool residual)
      : m_(m), n_(n), k_(k), trans_a_(trans_a), packed_b_(std::move(b)), col_bias_(std::move(col_bias)),
        row_bias_(std::move(row_bias)), residual_(residual) {}

  Status run(KernelContext& ctx) override {
    const float* a = ctx.input(0).data<float>();
    GemmEpilogue e;
    e.col_bias = col_bias_.empty() ? nullptr : col_bias_.data();
    e.row_bias = row_bias_.empty() ? nullptr : row_bias_.data();
    if (residual_) {
      e.residual = ctx.input(2).data<float>();
      e.residual_ld = n_;
    }
    const MatrixView av = trans_a_ ? MatrixView{a, 1, m_} : MatrixView{a, k_, 1};
    gemm(m_, n_, k_, av, packed_b_, ctx.output(0).data<float>(), n_, e, ctx.pool);
    return Status::ok();
  }

 private:
  int64_t m_, n_, k_;
  bool trans_a_;
  PackedMatrix packed_b_;
  std::vector<float> col_bias_, row_bias_;
  bool residual_;
};

Result<std::unique_ptr<PreparedKernel>> prepare_gemm(const PrepareContext& ctx) {
  std::unique_ptr<PreparedKernel> none;
  const Node& node = ctx.node;
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (!is_f32(a) || !is_f32(b) || !ctx.is_constant(1) || a.rank() != 2 || b.rank() != 2) return none;
  const bool trans_a = node.attr_int("transA", 0) != 0, trans_b = node.attr_int("transB", 0) != 0;
  const float alpha = node.attr_float("alpha", 1.0f), beta = node.attr_float("beta", 1.0f);
  const int64_t m = trans_a ? a.dim(1) : a.dim(0), k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  if (m == 0 || n == 0) return none;

  std::vector<float> col_bias, row_bias;
  bool residual = false;
  if (ctx.has_input(2)) {
    const Tensor& c = ctx.input(2);
    if (!is_f32(c)) return none;
    const int64_t count = c.element_count();
    const bool column_vector = c.rank() == 2 && c.dim(0) == m && c.dim(1) == 1 && m > 1;
    if (ctx.is_constant(2) && (count == 1 || count == n) && !column_vector) {
      col_bias.resize(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) col_bias[size_t(j)] = beta * c.data<float>()[count == 1 ? 0 : j];
    } else if (ctx.is_constant(2) && column_vector) {
      row_bias.resize(static_cast<size_t>(m));
      for (int64_t i = 0; i < m; ++i) row_bias[size_t(i)] = beta * c.data<float>()[i];
    } else if (c.shape() == Shape{m, n} && beta == 1.0f) {
      residual = true;
    } else {
      return none;
    }
  }
  // alpha·B, packed with B's transposition folded into the view.
  std::vector<float> scaled;
  const float* b_data = b.data<float>();
  if (alpha != 1.0f) {
    scaled.assign(b_data, b_data + b.element_count());
    for (float& v : scaled) v *= alpha;
    b_data = scaled.data();
  }
  const MatrixView bv = trans_b ? MatrixView{b_data, 1, k} : MatrixView{b_data, n, 1};
  return std::unique_ptr<PreparedKernel>(new GemmKernel(m, n, k, trans_a, PackedMatrix::pack_right(bv, k, n),
                                                        std::move(col_bias), std::move(row_bias), residual));
}

}  // namespace

void register_gemm_kernels(OpTable& table) {
  table.set_prepare(OpKind::MatMul, prepare_matmul);
  table.set_prepare(OpKind::Gemm, prepare_gemm);
}

}  // namespace iskra::cpu
