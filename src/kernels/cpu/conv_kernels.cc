// Fast Conv / FusedConv for float32 NCHW 2-D convolutions with constant
// weights (src/kernels/ref/nn.cc holds the reference):
//
//   depthwise (group == C_in == C_out)  direct SIMD kernel (depthwise_conv.h)
//   everything else                      per group a GEMM
//       Y_g[M_g, OH*OW] = W_g[M_g, C_g*kh*kw] · col_g[C_g*kh*kw, OH*OW]
//     with the weights packed once at prepare time, and col the input itself
//     for 1x1 / stride 1 / no padding, else an im2col copy in a per-thread
//     scratch buffer that grows once and is then reused.
//
// Bias, the residual Sum of FusedConv and its activation are applied in the
// GEMM's (or depthwise kernel's) epilogue. ConvTranspose (group 1) is a GEMM
// into columns and a scatter-add of the columns into the output.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/conv_common.h"
#include "kernels/cpu/depthwise_conv.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/register.h"
#include "kernels/fused.h"
#include "kernels/window.h"

namespace iskra::cpu {

namespace {

// Columns [p_begin, p_end) of col (output positions, row-major over the
// output plane) for all kernel taps of channels [0, channels):
//   col[(c, ky, kx), p - p_begin] = x[c, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw] or 0
// where p = oy * out_w + ox; `col` rows are p_end - p_begin long.
void im2col(const Conv2dGeometry& g, const float* x, int64_t channels, int64_t p_begin, int64_t p_end, float* col) {
  const int64_t ld = p_end - p_begin;
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x + c * g.in_h * g.in_w;
    for (int64_t ky = 0; ky < g.k_h; ++ky) {
      for (int64_t kx = 0; kx < g.k_w; ++kx) {
        float* row = col + ((c * g.k_h + ky) * g.k_w + kx) * ld - p_begin;
        const int64_t x0 = kx * g.dil_w - g.pad_l;  // input column of ox = 0
        // Output columns whose input column lies inside [0, in_w).
        const int64_t valid_end = x0 >= g.in_w ? 0 : std::min(g.out_w, (g.in_w - 1 - x0) / g.stride_w + 1);
        const int64_t valid_begin = std::min(x0 >= 0 ? 0 : (-x0 + g.stride_w - 1) / g.stride_w, valid_end);
        for (int64_t p = p_begin; p < p_end;) {
          const int64_t oy = p / g.out_w, ox_begin = p % g.out_w;
          const int64_t ox_end = std::min(g.out_w, ox_begin + (p_end - p));
          float* out = row + oy * g.out_w;
          const int64_t iy = oy * g.stride_h - g.pad_t + ky * g.dil_h;
          if (iy < 0 || iy >= g.in_h) {
            std::fill(out + ox_begin, out + ox_end, 0.0f);
          } else {
            const float* in_row = xc + iy * g.in_w + x0;
            const int64_t first = std::clamp(valid_begin, ox_begin, ox_end);
            const int64_t last = std::clamp(valid_end, first, ox_end);
            std::fill(out + ox_begin, out + first, 0.0f);
            if (g.stride_w == 1) {
              std::memcpy(out + first, in_row + first, static_cast<size_t>(last - first) * sizeof(float));
            } else {
              for (int64_t ox = first; ox < last; ++ox) out[ox] = in_row[ox * g.stride_w];
            }
            std::fill(out + last, out + ox_end, 0.0f);
          }
          p += ox_end - ox_begin;
        }
      }
    }
  }
}

// Output positions per im2col block: the block's columns (K × block floats)
// stay in L2 between im2col writing them and the GEMM reading them.
int64_t im2col_block_columns(int64_t k, int64_t n) {
  constexpr int64_t kBlockFloats = 384 * 1024;
  const int64_t columns = std::max<int64_t>(64, kBlockFloats / std::max<int64_t>(k, 1) / 64 * 64);
  return std::min(columns, n);
}

class Conv2dKernel final : public PreparedKernel {
 public:
  Conv2dKernel(const Conv2dGeometry& g, const Tensor& w, const Tensor* bias, Activation act)
      : g_(g), act_(act) {
    if (bias) bias_.assign(bias->data<float>(), bias->data<float>() + g.out_c);
    const int64_t m = g.out_c_per_group(), k = g.gemm_k();
    if (is_depthwise()) {
      depthwise_weights_.assign(w.data<float>(), w.data<float>() + w.element_count());
      return;
    }
    for (int64_t grp = 0; grp < g.group; ++grp)
      packed_.push_back(PackedMatrix::pack_left(MatrixView{w.data<float>() + grp * m * k, k, 1}, m, k));
  }

  bool is_depthwise() const { return g_.group == g_.in_c && g_.group == g_.out_c && g_.group > 1; }

  Status run(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    const float* sum = ctx.has_input(3) ? ctx.input(3).data<float>() : nullptr;
    float* y = ctx.output(0).data<float>();
    const float* bias = bias_.empty() ? nullptr : bias_.data();
    if (is_depthwise()) {
      DepthwiseConvShape s{g_.batch, g_.in_c, g_.in_h, g_.in_w, g_.out_h, g_.out_w, g_.k_h, g_.k_w,
                           g_.stride_h, g_.stride_w, g_.dil_h, g_.dil_w, g_.pad_t, g_.pad_l};
      depthwise_conv2d(s, x, depthwise_weights_.data(), bias, sum, act_, y, ctx.pool);
      return Status::ok();
    }
    const int64_t m = g_.out_c_per_group(), k = g_.gemm_k(), n = g_.out_plane();
    const int64_t cg = g_.in_c_per_group();
    const int64_t in_plane = g_.in_h * g_.in_w;
    for (int64_t b = 0; b < g_.batch; ++b) {
      for (int64_t grp = 0; grp < g_.group; ++grp) {
        const float* xg = x + (b * g_.in_c + grp * cg) * in_plane;
        const int64_t out_offset = (b * g_.out_c + grp * m) * n;
        GemmEpilogue e;
        e.row_bias = bias ? bias + grp * m : nullptr;
        e.residual = sum ? sum + out_offset : nullptr;
        e.residual_ld = n;
        e.activation = act_;
        const PackedMatrix& w = packed_[static_cast<size_t>(grp)];
        if (g_.is_pointwise()) {
          gemm(m, n, k, w, MatrixView{xg, n, 1}, y + out_offset, n, e, ctx.pool);
          continue;
        }
        // im2col and GEMM block by block of output positions. With enough
        // blocks each thread takes whole blocks (its own scratch, one-thread
        // GEMM); otherwise the blocks run in turn with a threaded GEMM.
        const int64_t block = im2col_block_columns(k, n), blocks = (n + block - 1) / block;
        const int threads = ctx.pool ? ctx.pool->threads() : 1;
        const bool split_blocks = threads > 1 && blocks >= 2 * threads;
        auto run_block = [&](int64_t index) {
          const int64_t p0 = index * block, p1 = std::min(n, p0 + block);
          float* col = im2col_scratch(static_cast<size_t>(k * (p1 - p0)));
          im2col(g_, xg, cg, p0, p1, col);
          GemmEpilogue eb = e;
          if (eb.residual) eb.residual += p0;
          gemm(m, p1 - p0, k, w, MatrixView{col, p1 - p0, 1}, y + out_offset + p0, n, eb,
               split_blocks ? nullptr : ctx.pool);
        };
        if (split_blocks) {
          ctx.pool->parallel_for(blocks, run_block);
        } else {
          for (int64_t i = 0; i < blocks; ++i) run_block(i);
        }
      }
    }
    return Status::ok();
  }

 private:
  Conv2dGeometry g_;
  Activation act_;
  std::vector<float> bias_;
  std::vector<float> depthwise_weights_;
  std::vector<PackedMatrix> packed_;  // per group
};

Result<std::unique_ptr<PreparedKernel>> prepare_conv(const PrepareContext& ctx) {
  std::unique_ptr<PreparedKernel> none;
  const Node& node = ctx.node;
  if (!ctx.has_input(0) || !ctx.is_constant(1) || ctx.input(0).dtype() != DType::kF32 ||
      ctx.input(1).dtype() != DType::kF32 || ctx.input(0).rank() != 4)
    return none;
  if (ctx.has_input(2) && (!ctx.is_constant(2) || ctx.input(2).dtype() != DType::kF32)) return none;
  const Shape& out_shape = ctx.outputs[0].shape;
  if (ctx.has_input(3) && (ctx.input(3).dtype() != DType::kF32 || ctx.input(3).shape() != out_shape)) return none;
  ISKRA_ASSIGN_OR_RETURN(Activation act, fused_activation(node));
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, conv_layout(node, ctx.input(0).shape(), ctx.input(1).shape()));
  const Conv2dGeometry g = conv2d_geometry(c, false);
  if (g.out_plane() == 0 || g.batch == 0 || g.out_c == 0) return none;
  const Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  return std::unique_ptr<PreparedKernel>(new Conv2dKernel(g, ctx.input(1), bias, act));
}

// ConvTranspose (group 1, 2-D) as a GEMM and a scatter:
//   col[(co, ky, kx), (iy, ix)] = sum_ci W[ci, co, ky, kx] · X[ci, iy, ix]
//   Y[co, iy*sh - pt + ky*dh, ix*sw - pl + kx*dw] += col[...]   (+ bias)
class ConvTransposeKernel final : public PreparedKernel {
 public:
  ConvTransposeKernel(const Conv2dGeometry& g, const Tensor& w, const Tensor* bias) : g_(g) {
    // Here the geometry's "in" is X's spatial size and "out" is Y's.
    const int64_t rows = g.out_c * g.k_h * g.k_w;
    packed_w_ = PackedMatrix::pack_left(MatrixView{w.data<float>(), 1, rows}, rows, g.in_c);
    if (bias) bias_.assign(bias->data<float>(), bias->data<float>() + g.out_c);
  }

  Status run(KernelContext& ctx) override {
    const int64_t rows = g_.out_c * g_.k_h * g_.k_w, in_plane = g_.in_h * g_.in_w;
    const int64_t out_plane = g_.out_h * g_.out_w;
    float* col = im2col_scratch(static_cast<size_t>(rows * in_plane));
    for (int64_t b = 0; b < g_.batch; ++b) {
      const float* x = ctx.input(0).data<float>() + b * g_.in_c * in_plane;
      float* y = ctx.output(0).data<float>() + b * g_.out_c * out_plane;
      gemm(rows, in_plane, g_.in_c, packed_w_, MatrixView{x, in_plane, 1}, col, in_plane, GemmEpilogue{}, ctx.pool);
      auto scatter = [&](int64_t co) {
        float* yc = y + co * out_plane;
        std::fill(yc, yc + out_plane, bias_.empty() ? 0.0f : bias_[static_cast<size_t>(co)]);
        for (int64_t ky = 0; ky < g_.k_h; ++ky) {
          for (int64_t kx = 0; kx < g_.k_w; ++kx) {
            const float* src = col + ((co * g_.k_h + ky) * g_.k_w + kx) * in_plane;
            for (int64_t iy = 0; iy < g_.in_h; ++iy) {
              const int64_t oy = iy * g_.stride_h - g_.pad_t + ky * g_.dil_h;
              if (oy < 0 || oy >= g_.out_h) continue;
              for (int64_t ix = 0; ix < g_.in_w; ++ix) {
                const int64_t ox = ix * g_.stride_w - g_.pad_l + kx * g_.dil_w;
                if (ox >= 0 && ox < g_.out_w) yc[oy * g_.out_w + ox] += src[iy * g_.in_w + ix];
              }
            }
          }
        }
      };
      if (ctx.pool) ctx.pool->parallel_for(g_.out_c, scatter);
      else for (int64_t co = 0; co < g_.out_c; ++co) scatter(co);
    }
    return Status::ok();
  }

 private:
  Conv2dGeometry g_;
  PackedMatrix packed_w_;
  std::vector<float> bias_;
};

Result<std::unique_ptr<PreparedKernel>> prepare_conv_transpose(const PrepareContext& ctx) {
  std::unique_ptr<PreparedKernel> none;
  if (!ctx.is_constant(1) || ctx.input(0).dtype() != DType::kF32 || ctx.input(1).dtype() != DType::kF32 ||
      ctx.input(0).rank() != 4)
    return none;
  if (ctx.has_input(2) && (!ctx.is_constant(2) || ctx.input(2).dtype() != DType::kF32)) return none;
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, conv_transpose_layout(ctx.node, ctx.input(0).shape(), ctx.input(1).shape()));
  if (c.group != 1 || c.batch == 0) return none;
  const Conv2dGeometry g = conv2d_geometry(c, true);  // in = X's spatial dims, out = Y's
  const Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  return std::unique_ptr<PreparedKernel>(new ConvTransposeKernel(g, ctx.input(1), bias));
}

}  // namespace

void register_conv_kernels(OpTable& table) {
  table.set_prepare(OpKind::Conv, prepare_conv);
  table.set_prepare(OpKind::FusedConv, prepare_conv);
  table.set_prepare(OpKind::ConvTranspose, prepare_conv_transpose);
}

}  // namespace iskra::cpu
