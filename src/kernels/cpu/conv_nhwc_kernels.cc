// Fast channels-last convolutions (the layout pass's FusedConvNhwc and
// ConvTransposeNhwc), float32 with constant weights:
//
//   depthwise (group == C == M)   run_window_nhwc, SIMD over channels
//   up to 4 input channels,       direct_conv_nhwc (the stems of mobile nets: 3
//   kernels up to 3x3             colour channels; a 7x7 stem's weights outgrow L1)
//   3x3, stride 1, group 1        Winograd F(4x4, 3x3) (winograd.h) where its
//                                 cost estimate beats the GEMM's
//   everything else               per group a GEMM, the weights packed once
//                                 as its right operand:
//       Y_g[pixels, M_g] = A[pixels, kh*kw*C_g] · W_g[kh*kw*C_g, M_g]
//     A is X itself for 1x1 stride-1 unpadded convs (rows C apart: all images
//     at once), else an im2col copy of a block of output pixels, each row the
//     taps (ky, kx) × channels, in a per-thread scratch. Bias (per column),
//     the residual Sum and the activation are the GEMM's epilogue.
//   ConvTransposeNhwc (group 1)   col[input pixels, (ky, kx, m)] = X · W as
//     one GEMM, then each output pixel sums the columns of the taps that land
//     on it (a gather, so output rows split over threads without races).
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/conv_common.h"
#include "kernels/cpu/direct_conv_nhwc.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel_chunks.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/window_nhwc.h"
#include "kernels/cpu/winograd.h"
#include "kernels/fused.h"
#include "kernels/layout.h"

namespace iskra::cpu {

namespace {

using Prepared = Result<std::unique_ptr<PreparedKernel>>;

// W_g [M_g, C_g, kh, kw] (group `grp` of W) packed as the K × M_g right
// operand whose row (ky * kw + kx) * C_g + c holds the weights of tap
// (ky, kx), channel c: per tap, a strided view of W.
PackedMatrix pack_weights_by_tap(const Conv2dGeometry& g, const float* w, int64_t grp) {
  const int64_t mg = g.out_c_per_group(), cg = g.in_c_per_group(), taps = g.k_h * g.k_w;
  std::vector<MatrixView> views;
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < taps; ++t) {
    views.push_back(MatrixView{w + grp * mg * cg * taps + t, taps, cg * taps});
    rows.push_back(cg);
  }
  return PackedMatrix::pack_right_blocks(views, rows, mg);
}

// Rows [p0, p1) of the im2col matrix of image `x` ([in_h, in_w, C]) for
// group `grp`: row p - p0 (output pixel p = oy * out_w + ox) holds, for each
// tap (ky, kx), the C_g channels of input pixel (oy*sh - pt + ky*dh,
// ox*sw - pl + kx*dw), or zeros outside the image.
void im2col_nhwc(const Conv2dGeometry& g, const float* x, int64_t grp, int64_t p0, int64_t p1, float* col) {
  const int64_t cg = g.in_c_per_group(), k = g.gemm_k();
  const int64_t run = g.k_w * cg;  // one kernel row of taps
  // A kernel row is one contiguous run of X when groups and dilation do not cut it.
  const bool contiguous_rows = g.group == 1 && g.dil_w == 1;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t oy = p / g.out_w, ox = p % g.out_w;
    float* row = col + (p - p0) * k;
    const int64_t ix0 = ox * g.stride_w - g.pad_l;
    const bool columns_inside = ix0 >= 0 && ix0 + (g.k_w - 1) * g.dil_w < g.in_w;
    for (int64_t ky = 0; ky < g.k_h; ++ky) {
      float* taps = row + ky * run;
      const int64_t iy = oy * g.stride_h - g.pad_t + ky * g.dil_h;
      if (iy < 0 || iy >= g.in_h) {
        std::fill_n(taps, run, 0.0f);
        continue;
      }
      const float* in_row = x + iy * g.in_w * g.in_c + grp * cg;
      if (columns_inside && contiguous_rows) {
        std::memcpy(taps, in_row + ix0 * g.in_c, static_cast<size_t>(run) * sizeof(float));
        continue;
      }
      for (int64_t kx = 0; kx < g.k_w; ++kx) {
        const int64_t ix = ix0 + kx * g.dil_w;
        if (ix < 0 || ix >= g.in_w) std::fill_n(taps + kx * cg, cg, 0.0f);
        else std::memcpy(taps + kx * cg, in_row + ix * g.in_c, static_cast<size_t>(cg) * sizeof(float));
      }
    }
  }
}

// Output pixels per im2col block: the block (K floats a row) stays in L2
// while the GEMM reads it once per panel of output channels.
int64_t im2col_block_rows(int64_t k, int64_t pixels) {
  constexpr int64_t kBlockFloats = 64 * 1024;
  return std::min(pixels, std::clamp<int64_t>(kBlockFloats / std::max<int64_t>(k, 1), 16, 1024));
}

class ConvNhwcKernel final : public PreparedKernel {
 public:
  ConvNhwcKernel(const Conv2dGeometry& g, const Tensor& w, const Tensor* bias, Activation act) : g_(g), act_(act) {
    if (bias) bias_.assign(bias->data<float>(), bias->data<float>() + g.out_c);
    const int64_t taps = g.k_h * g.k_w;
    if (is_depthwise()) {  // [taps, C]
      depthwise_weights_.resize(static_cast<size_t>(taps * g.out_c));
      for (int64_t c = 0; c < g.out_c; ++c)
        for (int64_t t = 0; t < taps; ++t)
          depthwise_weights_[static_cast<size_t>(t * g.out_c + c)] = w.data<float>()[c * taps + t];
      return;
    }
    if (direct_conv_applies(g.group, g.in_c, g.out_c, g.k_h * g.k_w)) {
      direct_ = direct_conv_weights(direct_shape(), w.data<float>(), bias ? bias->data<float>() : nullptr);
      return;
    }
    if (is_winograd_shape() && winograd_pays_off(winograd_shape())) {
      winograd_ = winograd_weights(w.data<float>(), g.out_c, g.in_c);
      return;
    }
    for (int64_t grp = 0; grp < g.group; ++grp) packed_.push_back(pack_weights_by_tap(g, w.data<float>(), grp));
  }

  bool is_depthwise() const {
    return g_.group == g_.in_c && g_.group == g_.out_c && g_.group > 1 && window_nhwc_supported(depthwise_shape());
  }
  bool is_winograd_shape() const {
    return g_.k_h == 3 && g_.k_w == 3 && g_.stride_h == 1 && g_.stride_w == 1 && g_.dil_h == 1 && g_.dil_w == 1 &&
           g_.group == 1;
  }
  DirectConvShape direct_shape() const {
    return DirectConvShape{g_.batch, g_.in_c, g_.out_c, g_.in_h, g_.in_w, g_.out_h, g_.out_w, g_.k_h, g_.k_w,
                           g_.stride_h, g_.stride_w, g_.dil_h, g_.dil_w, g_.pad_t, g_.pad_l};
  }
  WinogradShape winograd_shape() const {
    return WinogradShape{g_.batch, g_.in_c, g_.out_c, g_.in_h, g_.in_w, g_.out_h, g_.out_w, g_.pad_t, g_.pad_l};
  }
  DepthwiseConvShape depthwise_shape() const {
    return DepthwiseConvShape{g_.batch, g_.in_c, g_.in_h, g_.in_w, g_.out_h, g_.out_w, g_.k_h, g_.k_w,
                              g_.stride_h, g_.stride_w, g_.dil_h, g_.dil_w, g_.pad_t, g_.pad_l};
  }

  Status run(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    const float* sum = ctx.has_input(3) ? ctx.input(3).data<float>() : nullptr;
    float* y = ctx.output(0).data<float>();
    if (is_depthwise()) {
      WindowNhwcJob job;
      job.shape = depthwise_shape();
      job.input = x;
      job.output = y;
      job.weights = depthwise_weights_.data();
      job.bias = bias_.empty() ? nullptr : bias_.data();
      job.residual = sum;
      job.activation = act_;
      run_window_nhwc(job, ctx.pool);
      return Status::ok();
    }
    if (!direct_.weights.empty()) {
      DirectConvJob job;
      job.shape = direct_shape();
      job.weights = &direct_;
      job.input = x;
      job.output = y;
      job.residual = sum;
      job.activation = act_;
      direct_conv_nhwc(job, ctx.pool);
      return Status::ok();
    }
    if (!winograd_.empty()) {
      WinogradJob job;
      job.shape = winograd_shape();
      job.weights = &winograd_;
      job.input = x;
      job.output = y;
      job.bias = bias_.empty() ? nullptr : bias_.data();
      job.residual = sum;
      job.activation = act_;
      winograd_conv(job, im2col_scratch(static_cast<size_t>(winograd_scratch_floats(job.shape))), ctx.pool);
      return Status::ok();
    }
    for (int64_t grp = 0; grp < g_.group; ++grp) run_group(x, sum, y, grp, ctx.pool);
    return Status::ok();
  }

 private:
  // The epilogue of group `grp`'s GEMM writing output pixels from `pixel` on.
  GemmEpilogue epilogue(const float* sum, int64_t grp, int64_t pixel) const {
    const int64_t mg = g_.out_c_per_group();
    GemmEpilogue e;
    e.col_bias = bias_.empty() ? nullptr : bias_.data() + grp * mg;
    e.residual = sum ? sum + pixel * g_.out_c + grp * mg : nullptr;
    e.residual_ld = g_.out_c;
    e.activation = act_;
    return e;
  }

  void run_group(const float* x, const float* sum, float* y, int64_t grp, ThreadPool* pool) const {
    const int64_t mg = g_.out_c_per_group(), cg = g_.in_c_per_group(), k = g_.gemm_k();
    const PackedMatrix& w = packed_[static_cast<size_t>(grp)];
    if (g_.is_pointwise()) {  // every image at once: X is the im2col matrix
      const int64_t pixels = g_.batch * g_.out_plane();
      gemm(pixels, mg, cg, MatrixView{x + grp * cg, g_.in_c, 1}, w, y + grp * mg, g_.out_c, epilogue(sum, grp, 0),
           pool);
      return;
    }
    // im2col and GEMM a block of output pixels at a time. With enough blocks
    // each thread takes whole blocks (its own scratch, one-thread GEMMs);
    // otherwise the blocks run in turn with a threaded GEMM.
    const int64_t plane = g_.out_plane();
    const int64_t block = im2col_block_rows(k, plane), per_image = (plane + block - 1) / block;
    const int64_t blocks = g_.batch * per_image;
    const int threads = pool ? pool->threads() : 1;
    const bool split_blocks = threads > 1 && blocks >= 2 * threads;
    auto run_block = [&](int64_t index) {
      const int64_t n = index / per_image;
      const int64_t p0 = index % per_image * block, p1 = std::min(plane, p0 + block);
      float* col = im2col_scratch(static_cast<size_t>(k * (p1 - p0)));
      im2col_nhwc(g_, x + n * g_.in_h * g_.in_w * g_.in_c, grp, p0, p1, col);
      const int64_t pixel = n * plane + p0;
      gemm(p1 - p0, mg, k, MatrixView{col, k, 1}, w, y + pixel * g_.out_c + grp * mg, g_.out_c,
           epilogue(sum, grp, pixel), split_blocks ? nullptr : pool);
    };
    if (split_blocks) {
      pool->parallel_for(blocks, run_block);
    } else {
      for (int64_t i = 0; i < blocks; ++i) run_block(i);
    }
  }

  Conv2dGeometry g_;
  Activation act_;
  std::vector<float> bias_;
  std::vector<float> depthwise_weights_;
  std::vector<PackedMatrix> packed_;    // per group (GEMM path)
  std::vector<PackedMatrix> winograd_;  // per transform position (Winograd path)
  DirectConvWeights direct_;            // few input channels (direct path)
};

// The NCHW layout of a channels-last op's input/weight shapes.
Result<ConvLayout> nhwc_conv_layout(const Node& node, const Shape& x_nhwc, const Shape& w, bool transposed) {
  const Shape x = permute_shape(x_nhwc, kNhwcToNchw);
  return transposed ? conv_transpose_layout(node, x, w) : conv_layout(node, x, w);
}

Prepared prepare_conv_nhwc(const PrepareContext& ctx) {
  std::unique_ptr<PreparedKernel> none;
  if (!ctx.has_input(0) || !ctx.is_constant(1) || ctx.input(0).dtype() != DType::kF32 ||
      ctx.input(1).dtype() != DType::kF32 || ctx.input(0).rank() != 4 || ctx.input(1).rank() != 4)
    return none;
  if (ctx.has_input(2) && (!ctx.is_constant(2) || ctx.input(2).dtype() != DType::kF32)) return none;
  if (ctx.has_input(3) && (ctx.input(3).dtype() != DType::kF32 || ctx.input(3).shape() != ctx.outputs[0].shape))
    return none;
  ISKRA_ASSIGN_OR_RETURN(Activation act, fused_activation(ctx.node));
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, nhwc_conv_layout(ctx.node, ctx.input(0).shape(), ctx.input(1).shape(), false));
  const Conv2dGeometry g = conv2d_geometry(c, false);
  if (g.out_plane() == 0 || g.batch == 0 || g.out_c == 0) return none;
  const Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  return std::unique_ptr<PreparedKernel>(new ConvNhwcKernel(g, ctx.input(1), bias, act));
}

class ConvTransposeNhwcKernel final : public PreparedKernel {
 public:
  // Here the geometry's "in" is X's spatial size and "out" is Y's.
  ConvTransposeNhwcKernel(const Conv2dGeometry& g, const Tensor& w, const Tensor* bias) : g_(g) {
    const int64_t taps = g.k_h * g.k_w, columns = taps * g.out_c;
    if (bias) bias_.assign(bias->data<float>(), bias->data<float>() + g.out_c);
    if (is_tiling()) {  // W [C, M, kh, kw] as [tap][C][M]
      tiled_w_.resize(static_cast<size_t>(g.in_c * columns));
      for (int64_t c = 0; c < g.in_c; ++c)
        for (int64_t m = 0; m < g.out_c; ++m)
          for (int64_t t = 0; t < taps; ++t)
            tiled_w_[static_cast<size_t>((t * g.in_c + c) * g.out_c + m)] = w.data<float>()[(c * g.out_c + m) * taps + t];
      if (bias_.empty()) bias_.assign(static_cast<size_t>(g.out_c), 0.0f);
      return;
    }
    // W [C, M, kh, kw] as the C × (taps · M) matrix with columns (ky, kx, m).
    std::vector<float> by_tap(static_cast<size_t>(g.in_c * columns));
    for (int64_t c = 0; c < g.in_c; ++c)
      for (int64_t m = 0; m < g.out_c; ++m)
        for (int64_t t = 0; t < taps; ++t)
          by_tap[static_cast<size_t>(c * columns + t * g.out_c + m)] = w.data<float>()[(c * g.out_c + m) * taps + t];
    packed_w_ = PackedMatrix::pack_right(MatrixView{by_tap.data(), columns, 1}, g.in_c, columns);
  }

  // Stride equal to the kernel, no padding, no dilation, the output exactly the tiles (the 2x2
  // stride-2 upsampling of segmentation heads): every output pixel comes from one input pixel
  // and one tap, so no column matrix is needed.
  bool is_tiling() const {
    return g_.stride_h == g_.k_h && g_.stride_w == g_.k_w && g_.dil_h == 1 && g_.dil_w == 1 && g_.pad_t == 0 &&
           g_.pad_l == 0 && g_.out_h == g_.in_h * g_.stride_h && g_.out_w == g_.in_w * g_.stride_w;
  }

  Status run(KernelContext& ctx) override {
    if (!tiled_w_.empty()) return run_tiled(ctx);
    const int64_t taps = g_.k_h * g_.k_w, columns = taps * g_.out_c, in_plane = g_.in_h * g_.in_w;
    float* col = im2col_scratch(static_cast<size_t>(in_plane * columns));
    for (int64_t n = 0; n < g_.batch; ++n) {
      const float* x = ctx.input(0).data<float>() + n * in_plane * g_.in_c;
      float* y = ctx.output(0).data<float>() + n * g_.out_h * g_.out_w * g_.out_c;
      gemm(in_plane, columns, g_.in_c, MatrixView{x, g_.in_c, 1}, packed_w_, col, columns, GemmEpilogue{}, ctx.pool);
      const int64_t work_per_row = g_.out_w * g_.out_c * taps;
      for_each_chunk(ctx.pool, g_.out_h, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(work_per_row, 1)), 1,
                     [&](int64_t begin, int64_t end) { gather_rows(col, y, begin, end); });
    }
    return Status::ok();
  }

 private:
  // Output rows [oy0, oy1): each pixel sums the columns of the (input pixel,
  // tap) pairs with iy*sh - pt + ky*dh = oy and ix*sw - pl + kx*dw = ox.
  void gather_rows(const float* col, float* y, int64_t oy0, int64_t oy1) const {
    const int64_t m = g_.out_c, taps = g_.k_h * g_.k_w;
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      for (int64_t ox = 0; ox < g_.out_w; ++ox) {
        float* out = y + (oy * g_.out_w + ox) * m;
        if (bias_.empty()) std::fill_n(out, m, 0.0f);
        else std::copy(bias_.begin(), bias_.end(), out);
        for (int64_t ky = 0; ky < g_.k_h; ++ky) {
          const int64_t ty = oy + g_.pad_t - ky * g_.dil_h;
          if (ty < 0 || ty % g_.stride_h != 0 || ty / g_.stride_h >= g_.in_h) continue;
          const int64_t iy = ty / g_.stride_h;
          for (int64_t kx = 0; kx < g_.k_w; ++kx) {
            const int64_t tx = ox + g_.pad_l - kx * g_.dil_w;
            if (tx < 0 || tx % g_.stride_w != 0 || tx / g_.stride_w >= g_.in_w) continue;
            const float* src = col + ((iy * g_.in_w + tx / g_.stride_w) * taps + ky * g_.k_w + kx) * m;
            for (int64_t i = 0; i < m; ++i) out[i] += src[i];
          }
        }
      }
    }
  }

  Status run_tiled(KernelContext& ctx) const {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    const int64_t c = g_.in_c, m = g_.out_c;
    for_each_chunk(ctx.pool, g_.batch * g_.in_h, std::max<int64_t>(1, 4096 / std::max<int64_t>(g_.in_w * c * m, 1)), 1,
                   [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / g_.in_h, iy = r % g_.in_h;
        for (int64_t ix = 0; ix < g_.in_w; ++ix) {
          const float* in = x + (r * g_.in_w + ix) * c;
          for (int64_t ky = 0; ky < g_.k_h; ++ky)
            for (int64_t kx = 0; kx < g_.k_w; ++kx) {
              const int64_t oy = iy * g_.stride_h + ky, ox = ix * g_.stride_w + kx;
              float* out = y + ((n * g_.out_h + oy) * g_.out_w + ox) * m;
              const float* w = tiled_w_.data() + (ky * g_.k_w + kx) * c * m;
              if (m == 1) {
                out[0] = bias_[0] + dot(in, w, c);
                continue;
              }
              std::copy(bias_.begin(), bias_.end(), out);
              for (int64_t ci = 0; ci < c; ++ci)
                for (int64_t mo = 0; mo < m; ++mo) out[mo] += in[ci] * w[ci * m + mo];
            }
        }
      }
    });
    return Status::ok();
  }

  // sum a[i] * b[i] in eight partial sums (a fixed-width loop the compiler vectorizes), then the rest.
  static float dot(const float* a, const float* b, int64_t n) {
    float part[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int j = 0; j < 8; ++j) part[j] += a[i + j] * b[i + j];
    float sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
  }

  Conv2dGeometry g_;
  PackedMatrix packed_w_;
  std::vector<float> bias_;
  std::vector<float> tiled_w_;  // the tiling case's weights, [tap][C][M]
};

Prepared prepare_conv_transpose_nhwc(const PrepareContext& ctx) {
  std::unique_ptr<PreparedKernel> none;
  if (!ctx.has_input(0) || !ctx.is_constant(1) || ctx.input(0).dtype() != DType::kF32 ||
      ctx.input(1).dtype() != DType::kF32 || ctx.input(0).rank() != 4 || ctx.input(1).rank() != 4)
    return none;
  if (ctx.has_input(2) && (!ctx.is_constant(2) || ctx.input(2).dtype() != DType::kF32)) return none;
  ISKRA_ASSIGN_OR_RETURN(ConvLayout c, nhwc_conv_layout(ctx.node, ctx.input(0).shape(), ctx.input(1).shape(), true));
  if (c.group != 1 || c.batch == 0) return none;
  const Conv2dGeometry g = conv2d_geometry(c, true);
  const Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  return std::unique_ptr<PreparedKernel>(new ConvTransposeNhwcKernel(g, ctx.input(1), bias));
}

}  // namespace

void register_conv_nhwc_kernels(OpTable& table) {
  table.set_prepare(OpKind::FusedConvNhwc, prepare_conv_nhwc);
  table.set_prepare(OpKind::ConvTransposeNhwc, prepare_conv_transpose_nhwc);
}

}  // namespace iskra::cpu
