// SVE vectors are sizeless: they cannot be array elements, which this file's
// kernels use, so Arm uses NEON here (as gemm.cc does).
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif

#include "kernels/cpu/winograd.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include "base/thread_pool.h"
#include "kernels/cpu/parallel_chunks.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/winograd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/cpu/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {
namespace {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
constexpr int64_t P = kWinogradPatch;

// Loads the first n (1..lanes) floats at p, zeros in the other lanes, and
// stores the first n lanes; no access past p + n.
HWY_INLINE VF LoadFirst(DF d, const float* p, int64_t n) {
  if (n == static_cast<int64_t>(hn::Lanes(d))) return hn::LoadU(d, p);
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)] = {};
  std::memcpy(buffer, p, static_cast<size_t>(n) * sizeof(float));
  return hn::Load(d, buffer);
}
HWY_INLINE void StoreFirst(DF d, VF v, float* p, int64_t n) {
  if (n == static_cast<int64_t>(hn::Lanes(d))) return hn::StoreU(v, d, p);
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(v, d, buffer);
  std::memcpy(p, buffer, static_cast<size_t>(n) * sizeof(float));
}

// out = Bᵀ in, for the rows of Bᵀ:
//   [4, 0,-5, 0, 1, 0] [0,-4,-4, 1, 1, 0] [0, 4,-4,-1, 1, 0]
//   [0,-2,-1, 2, 1, 0] [0, 2,-1,-2, 1, 0] [0, 4, 0,-5, 0, 1]
HWY_INLINE void InputTransform(DF d, const VF (&in)[P], VF (&out)[P]) {
  const VF two = hn::Set(d, 2.0f), four = hn::Set(d, 4.0f), five = hn::Set(d, 5.0f);
  out[0] = hn::MulAdd(four, in[0], hn::NegMulAdd(five, in[2], in[4]));
  out[1] = hn::NegMulAdd(four, hn::Add(in[1], in[2]), hn::Add(in[3], in[4]));
  out[2] = hn::MulAdd(four, hn::Sub(in[1], in[2]), hn::Sub(in[4], in[3]));
  out[3] = hn::MulAdd(two, hn::Sub(in[3], in[1]), hn::Sub(in[4], in[2]));
  out[4] = hn::NegMulAdd(two, hn::Sub(in[3], in[1]), hn::Sub(in[4], in[2]));
  out[5] = hn::MulAdd(four, in[1], hn::NegMulAdd(five, in[3], in[5]));
}

// out = Aᵀ in, for the rows of Aᵀ:
//   [1, 1, 1, 1, 1, 0] [0, 1,-1, 2,-2, 0] [0, 1, 1, 4, 4, 0] [0, 1,-1, 8,-8, 1]
HWY_INLINE void OutputTransform(DF d, const VF (&in)[P], VF (&out)[kWinogradTile]) {
  const VF sum12 = hn::Add(in[1], in[2]), diff12 = hn::Sub(in[1], in[2]);
  const VF sum34 = hn::Add(in[3], in[4]), diff34 = hn::Sub(in[3], in[4]);
  out[0] = hn::Add(hn::Add(in[0], sum12), sum34);
  out[1] = hn::MulAdd(hn::Set(d, 2.0f), diff34, diff12);
  out[2] = hn::MulAdd(hn::Set(d, 4.0f), sum34, sum12);
  out[3] = hn::Add(hn::MulAdd(hn::Set(d, 8.0f), diff34, diff12), in[5]);
}

// Tile rows [ty0, ty1) of one image: V[pos][tile][c] = (Bᵀ d B)[pos] of the
// tile's 6x6 input patch (zeros outside the image).
void InputTransformRows(const WinogradShape& s, const float* image, float* v, int64_t ty0, int64_t ty1) {
  const DF d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t tiles = s.tiles(), tiles_w = s.tiles_w(), c_in = s.in_c;
  for (int64_t ty = ty0; ty < ty1; ++ty) {
    const int64_t iy0 = ty * kWinogradTile - s.pad_top;
    for (int64_t tx = 0; tx < tiles_w; ++tx) {
      const int64_t ix0 = tx * kWinogradTile - s.pad_left, tile = ty * tiles_w + tx;
      for (int64_t c = 0; c < c_in; c += lanes) {
        const int64_t n = std::min(lanes, c_in - c);
        VF t[P][P];  // Bᵀ d, by rows of the patch
        for (int64_t j = 0; j < P; ++j) {
          VF column[P];
          const int64_t ix = ix0 + j;
          for (int64_t i = 0; i < P; ++i) {
            const int64_t iy = iy0 + i;
            const bool inside = iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w;
            column[i] = inside ? LoadFirst(d, image + (iy * s.in_w + ix) * c_in + c, n) : hn::Zero(d);
          }
          VF out[P];
          InputTransform(d, column, out);
          for (int64_t i = 0; i < P; ++i) t[i][j] = out[i];
        }
        for (int64_t i = 0; i < P; ++i) {
          VF out[P];
          InputTransform(d, t[i], out);
          for (int64_t j = 0; j < P; ++j) StoreFirst(d, out[j], v + ((i * P + j) * tiles + tile) * c_in + c, n);
        }
      }
    }
  }
}

// Tile rows [ty0, ty1) of one image: the 4x4 output pixels of each tile from
// M[pos][tile][c], plus bias and residual, then the activation.
void OutputTransformRows(const WinogradJob& job, const float* m, float* out_image, const float* residual_image,
                         int64_t ty0, int64_t ty1) {
  const DF d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const WinogradShape& s = job.shape;
  const int64_t tiles = s.tiles(), tiles_w = s.tiles_w(), c_out = s.out_c;
  for (int64_t ty = ty0; ty < ty1; ++ty) {
    const int64_t oy0 = ty * kWinogradTile, rows = std::min(kWinogradTile, s.out_h - oy0);
    for (int64_t tx = 0; tx < tiles_w; ++tx) {
      const int64_t ox0 = tx * kWinogradTile, cols = std::min(kWinogradTile, s.out_w - ox0);
      const int64_t tile = ty * tiles_w + tx;
      for (int64_t c = 0; c < c_out; c += lanes) {
        const int64_t n = std::min(lanes, c_out - c);
        VF t[kWinogradTile][P];  // Aᵀ M, by rows
        for (int64_t j = 0; j < P; ++j) {
          VF column[P];
          for (int64_t i = 0; i < P; ++i) column[i] = LoadFirst(d, m + ((i * P + j) * tiles + tile) * c_out + c, n);
          VF out[kWinogradTile];
          OutputTransform(d, column, out);
          for (int64_t i = 0; i < kWinogradTile; ++i) t[i][j] = out[i];
        }
        const VF bias = job.bias ? LoadFirst(d, job.bias + c, n) : hn::Zero(d);
        for (int64_t i = 0; i < rows; ++i) {
          VF out[kWinogradTile];
          OutputTransform(d, t[i], out);
          for (int64_t j = 0; j < cols; ++j) {
            const int64_t at = ((oy0 + i) * s.out_w + ox0 + j) * c_out + c;
            VF y = hn::Add(out[j], bias);
            if (residual_image) y = hn::Add(y, LoadFirst(d, residual_image + at, n));
            StoreFirst(d, ActivateVector(job.activation, d, y), out_image + at, n);
          }
        }
      }
    }
  }
}

}  // namespace

void WinogradInputTransform(const WinogradShape& s, const float* image, float* v, int64_t ty0, int64_t ty1) {
  InputTransformRows(s, image, v, ty0, ty1);
}

void WinogradOutputTransform(const WinogradJob& job, const float* m, float* out_image, const float* residual_image,
                             int64_t ty0, int64_t ty1) {
  OutputTransformRows(job, m, out_image, residual_image, ty0, ty1);
}

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace iskra::cpu {

HWY_EXPORT(WinogradInputTransform);
HWY_EXPORT(WinogradOutputTransform);

std::vector<PackedMatrix> winograd_weights(const float* w, int64_t out_c, int64_t in_c) {
  // G, the filter transform: U = G g Gᵀ for each 3x3 filter g.
  static constexpr float kG[kWinogradPatch][3] = {{1.0f / 4, 0, 0},
                                                  {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                                  {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                                  {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                                  {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                                  {0, 0, 1}};
  // U_pos is written straight into its packed layout (panels of `width`
  // output channels, each holding, for every input channel c, `width`
  // consecutive floats), row by row: input channel c, all m. The loops over
  // m are contiguous there and in the transposed filters g_t[tap][m].
  std::vector<PackedMatrix> packed;
  packed.reserve(kWinogradPositions);
  for (int64_t pos = 0; pos < kWinogradPositions; ++pos) packed.push_back(PackedMatrix::allocate_right(in_c, out_c));
  const int64_t width = packed[0].panel_width(), panels = (out_c + width - 1) / width;
  const auto m_count = static_cast<size_t>(out_c);
  const auto padded = static_cast<size_t>(panels * width);
  std::vector<float> g_t(9 * m_count), gg(kWinogradPatch * 3 * padded, 0.0f), row(padded, 0.0f);
  for (int64_t c = 0; c < in_c; ++c) {
    for (int64_t m = 0; m < out_c; ++m)
      for (size_t tap = 0; tap < 9; ++tap) g_t[tap * m_count + static_cast<size_t>(m)] = w[(m * in_c + c) * 9 + static_cast<int64_t>(tap)];
    for (size_t i = 0; i < kWinogradPatch; ++i) {  // (G g)[i][k] = Σ_a G[i][a] g[a][k]; zero past out_c
      for (size_t k = 0; k < 3; ++k) {
        float* out = gg.data() + (i * 3 + k) * padded;
        const float* g0 = g_t.data() + k * m_count;
        for (size_t m = 0; m < m_count; ++m)
          out[m] = kG[i][0] * g0[m] + kG[i][1] * g0[3 * m_count + m] + kG[i][2] * g0[6 * m_count + m];
      }
    }
    for (size_t i = 0; i < kWinogradPatch; ++i) {  // U[i][j] = Σ_k (G g)[i][k] G[j][k]
      const float* r = gg.data() + i * 3 * padded;
      for (size_t j = 0; j < kWinogradPatch; ++j) {
        for (size_t m = 0; m < padded; ++m) row[m] = r[m] * kG[j][0] + r[padded + m] * kG[j][1] + r[2 * padded + m] * kG[j][2];
        float* dst = packed[i * kWinogradPatch + j].mutable_data() + c * width;
        for (int64_t p = 0; p < panels; ++p)
          std::copy_n(row.data() + p * width, width, dst + p * in_c * width);
      }
    }
  }
  return packed;
}

int64_t winograd_scratch_floats(const WinogradShape& s) {
  return kWinogradPositions * s.tiles() * (s.in_c + s.out_c);
}

void winograd_conv(const WinogradJob& job, float* scratch, ThreadPool* pool) {
  const WinogradShape& s = job.shape;
  const int64_t tiles = s.tiles();
  float* v = scratch;
  float* m = scratch + kWinogradPositions * tiles * s.in_c;
  const int64_t in_image = s.in_h * s.in_w * s.in_c, out_image = s.out_h * s.out_w * s.out_c;
  // Rows of tiles per task: at least ~64K floats of transform work each.
  const int64_t min_rows = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(s.tiles_w() * kWinogradPositions *
                                                                                 std::max(s.in_c, s.out_c), 1));
  const int threads = pool ? pool->threads() : 1;
  for (int64_t n = 0; n < s.batch; ++n) {
    const float* x = job.input + n * in_image;
    for_each_chunk(pool, s.tiles_h(), min_rows, 1, [&](int64_t begin, int64_t end) {
      HWY_DYNAMIC_DISPATCH(WinogradInputTransform)(s, x, v, begin, end);
    });
    auto position = [&](int64_t pos) {
      gemm(tiles, s.out_c, s.in_c, MatrixView{v + pos * tiles * s.in_c, s.in_c, 1}, (*job.weights)[static_cast<size_t>(pos)],
           m + pos * tiles * s.out_c, s.out_c, GemmEpilogue{}, nullptr);
    };
    if (threads > 1) {
      pool->parallel_for(kWinogradPositions, position);
    } else {
      for (int64_t pos = 0; pos < kWinogradPositions; ++pos) position(pos);
    }
    float* y = job.output + n * out_image;
    const float* residual = job.residual ? job.residual + n * out_image : nullptr;
    for_each_chunk(pool, s.tiles_h(), min_rows, 1, [&](int64_t begin, int64_t end) {
      HWY_DYNAMIC_DISPATCH(WinogradOutputTransform)(job, m, y, residual, begin, end);
    });
  }
}

bool winograd_pays_off(const WinogradShape& s) {
  if (s.in_c < 8 || s.out_c < 8 || s.out_h < 2 || s.out_w < 2) return false;
  // Seconds on a core doing ~60 GFLOP/s of GEMM and streaming ~15 GB/s from
  // memory (U, read once per run), ~20 GB/s from cache (V and M, written and
  // read once each, while they fit in a few MiB): only the ratio matters.
  constexpr double kFlopsPerSecond = 60e9, kMemoryBytesPerSecond = 15e9;
  constexpr double kCacheBytesPerSecond = 20e9, kCachedBytes = 8 << 20;
  const double c_in = static_cast<double>(s.in_c), c_out = static_cast<double>(s.out_c);
  const double pixels = static_cast<double>(s.out_h * s.out_w), tiles = static_cast<double>(s.tiles());
  const double direct = 2.0 * 9.0 * pixels * c_in * c_out / kFlopsPerSecond;
  const double gemm = 2.0 * 36.0 * tiles * c_in * c_out / kFlopsPerSecond;
  const double u_bytes = 4.0 * 36.0 * c_in * c_out;
  const double vm_bytes = 4.0 * 36.0 * 2.0 * tiles * (c_in + c_out);
  const double moves = u_bytes / kMemoryBytesPerSecond +
                       vm_bytes / (vm_bytes <= kCachedBytes ? kCacheBytesPerSecond : kMemoryBytesPerSecond / 1.5);
  // The transforms: about 4 vector operations per transformed value.
  const double transforms = 4.0 * 36.0 * tiles * (c_in + c_out) / kFlopsPerSecond;
  return gemm + moves + transforms < 0.8 * direct;
}

}  // namespace iskra::cpu
#endif  // HWY_ONCE
