// The packed SIMD GEMM against gemm_reference: every overload, ragged shapes,
// transposed views, K blocks, each epilogue field, thread counts, SIMD targets.
#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "hwy/targets.h"

namespace iskra::cpu {
namespace {

enum class Overload { kPackedLeft, kPackedRight, kViews };
constexpr Overload kOverloads[] = {Overload::kPackedLeft, Overload::kPackedRight, Overload::kViews};
const char* name(Overload o) {
  return o == Overload::kPackedLeft ? "packed-left" : o == Overload::kPackedRight ? "packed-right" : "views";
}

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A rows×cols matrix, stored row-major or transposed; `padding` floats end each stored row.
struct Matrix {
  std::vector<float> data;
  int64_t ld = 0;
  bool transposed = false;
  Matrix(int64_t rows, int64_t cols, bool transposed_, uint32_t seed, int64_t padding)
      : ld((transposed_ ? rows : cols) + padding), transposed(transposed_) {
    data = random_values(static_cast<size_t>(ld * (transposed ? cols : rows)), seed);
  }
  MatrixView view() const { return transposed ? MatrixView{data.data(), 1, ld} : MatrixView{data.data(), ld, 1}; }
  Matrix absolute() const {
    Matrix m = *this;
    for (float& x : m.data) x = std::fabs(x);
    return m;
  }
};

// Operands padded unless `tight` (then every buffer ends at its last element:
// reads past the end show under AddressSanitizer).
struct Problem {
  int64_t m, n, k;
  Matrix a, b;
  bool tight;
  Problem(int64_t m_, int64_t n_, int64_t k_, bool transpose_a = false, bool transpose_b = false, bool tight_ = false)
      : m(m_), n(n_), k(k_), a(m_, k_, transpose_a, 1000 + m_ + 7 * k_, tight_ ? 0 : 3),
        b(k_, n_, transpose_b, 2000 + n_ + 5 * k_, tight_ ? 0 : 3), tight(tight_) {}
  int64_t ldc() const { return tight ? n : n + 2; }
  size_t c_size() const { return static_cast<size_t>(m * ldc()); }
};

constexpr float kPadding = 12345.0f;  // C's columns past n must keep it

// Runs one overload; C starts as `c_init` (matters with accumulate).
std::vector<float> run(Overload o, const Problem& p, const GemmEpilogue& e, const std::vector<float>& c_init,
                       ThreadPool* pool) {
  std::vector<float> c = c_init;
  switch (o) {
    case Overload::kPackedLeft:
      gemm(p.m, p.n, p.k, PackedMatrix::pack_left(p.a.view(), p.m, p.k), p.b.view(), c.data(), p.ldc(), e, pool);
      break;
    case Overload::kPackedRight:
      gemm(p.m, p.n, p.k, p.a.view(), PackedMatrix::pack_right(p.b.view(), p.k, p.n), c.data(), p.ldc(), e, pool);
      break;
    case Overload::kViews:
      gemm(p.m, p.n, p.k, p.a.view(), p.b.view(), c.data(), p.ldc(), e, pool);
      break;
  }
  return c;
}

std::vector<float> initial_c(const Problem& p) {
  std::vector<float> c = random_values(p.c_size(), 77);
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = p.n; j < p.ldc(); ++j) c[static_cast<size_t>(i * p.ldc() + j)] = kPadding;
  }
  return c;
}

// Reference result and, per element, the error bound 1e-5 · slope · (Σ_k |a||b| + |added terms|):
// fp32 sums of products in another order differ by a few ulps of the absolute sum.
struct Expected {
  std::vector<float> values, bounds;
};

Expected expected(const Problem& p, const GemmEpilogue& e, const std::vector<float>& c_init) {
  Expected x;
  x.values = c_init;
  gemm_reference(p.m, p.n, p.k, p.a.view(), p.b.view(), x.values.data(), p.ldc(), e);
  x.bounds.assign(p.c_size(), 0.0f);
  gemm_reference(p.m, p.n, p.k, p.a.absolute().view(), p.b.absolute().view(), x.bounds.data(), p.ldc(), GemmEpilogue{});
  const float slope = e.activation.kind == ActivationKind::kHardSwish ? 1.5f : 1.0f;
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      const size_t at = static_cast<size_t>(i * p.ldc() + j);
      float added = e.accumulate ? std::fabs(c_init[at]) : 0.0f;
      if (e.row_bias) added += std::fabs(e.row_bias[i]);
      if (e.col_bias) added += std::fabs(e.col_bias[j]);
      if (e.residual) added += std::fabs(e.residual[i * e.residual_ld + j]);
      x.bounds[at] = 1e-5f * slope * (x.bounds[at] + added) + 1e-6f;
    }
  }
  return x;
}

// Returns the number of mismatches (reports the first few).
int compare(const Problem& p, const std::vector<float>& got, const Expected& want, const std::string& what) {
  int bad = 0;
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.ldc(); ++j) {
      const size_t at = static_cast<size_t>(i * p.ldc() + j);
      const bool ok = j < p.n ? std::fabs(got[at] - want.values[at]) <= want.bounds[at] : got[at] == kPadding;
      if (!ok && ++bad <= 3) {
        ADD_FAILURE() << what << " m=" << p.m << " n=" << p.n << " k=" << p.k << " at (" << i << "," << j
                      << "): got " << got[at] << " want " << (j < p.n ? want.values[at] : kPadding);
      }
    }
  }
  return bad;
}

void check_all_overloads(const Problem& p, const GemmEpilogue& e, ThreadPool* pool = nullptr,
                         const std::string& what = "") {
  const std::vector<float> c_init = initial_c(p);
  const Expected want = expected(p, e, c_init);
  for (Overload o : kOverloads) compare(p, run(o, p, e, c_init, pool), want, what + " " + name(o));
}

const int64_t kSizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 100, 257};

// gemm.cc compiles no SVE targets (their vector length is a run-time value): Arm runs NEON.
constexpr int64_t kTargetsWithoutGemm = HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128;

TEST(Gemm, TargetNameIsTheDispatchedTarget) {
  int64_t best = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    if (best == 0 && !(target & kTargetsWithoutGemm)) best = target;
  }
  EXPECT_STREQ(gemm_target_name(), hwy::TargetName(best));
}

TEST(Gemm, AllShapeCombinations) {
  for (int64_t m : kSizes) {
    for (int64_t n : kSizes) {
      for (int64_t k : kSizes) check_all_overloads(Problem(m, n, k), GemmEpilogue{});
    }
  }
}

TEST(Gemm, KLongerThanOneBlock) {
  for (int64_t k : {385, 800, 1537}) {
    for (auto [m, n] : {std::pair<int64_t, int64_t>{1, 1000}, {5, 50}, {17, 33}, {100, 49}, {64, 130}}) {
      check_all_overloads(Problem(m, n, k), GemmEpilogue{});
    }
  }
}

TEST(Gemm, TightOperands) {
  for (bool transposed : {false, true}) {
    for (int64_t m : {1, 9, 50}) {
      for (int64_t n : {1, 17, 49, 100}) {
        for (int64_t k : {1, 33, 400}) check_all_overloads(Problem(m, n, k, transposed, transposed, true), GemmEpilogue{});
      }
    }
  }
}

TEST(Gemm, TransposedViews) {
  for (auto [ta, tb] : {std::pair{true, false}, {false, true}, {true, true}}) {
    for (int64_t m : {1, 7, 33, 100}) {
      for (int64_t n : {3, 17, 49, 64}) {
        for (int64_t k : {1, 31, 400}) check_all_overloads(Problem(m, n, k, ta, tb), GemmEpilogue{});
      }
    }
  }
}

// Epilogue operands for a problem, every pointer set; tests pick fields.
struct EpilogueData {
  std::vector<float> row_bias, col_bias, residual;
  explicit EpilogueData(const Problem& p)
      : row_bias(random_values(static_cast<size_t>(p.m), 11)),
        col_bias(random_values(static_cast<size_t>(p.n), 12)),
        residual(random_values(static_cast<size_t>(p.m * (p.n + 5)), 13)) {}
  GemmEpilogue make(bool row, bool col, bool res, bool accumulate, Activation act = {}) const {
    GemmEpilogue e;
    e.row_bias = row ? row_bias.data() : nullptr;
    e.col_bias = col ? col_bias.data() : nullptr;
    e.residual = res ? residual.data() : nullptr;
    e.residual_ld = static_cast<ptrdiff_t>(residual.size()) / static_cast<ptrdiff_t>(row_bias.size());
    e.accumulate = accumulate;
    e.activation = act;
    return e;
  }
};

// Shapes that take the normal and the swapped (N short) paths, with and without K blocks.
const std::pair<int64_t, int64_t> kEpilogueShapes[] = {{1, 100}, {33, 100}, {100, 49}, {64, 7}, {257, 17}};

TEST(Gemm, EachEpilogueFieldAloneAndCombined) {
  for (auto [m, n] : kEpilogueShapes) {
    for (int64_t k : {17, 500}) {
      const Problem p(m, n, k);
      const EpilogueData d(p);
      for (int fields = 1; fields < 16; ++fields) {
        const GemmEpilogue e = d.make(fields & 1, fields & 2, fields & 4, fields & 8);
        check_all_overloads(p, e, nullptr, "fields=" + std::to_string(fields));
      }
    }
  }
}

TEST(Gemm, Activations) {
  const Activation acts[] = {{ActivationKind::kRelu, 0, 0},      {ActivationKind::kClip, -0.5f, 0.5f},
                             {ActivationKind::kLeakyRelu, 0.1f, 0}, {ActivationKind::kSigmoid, 0, 0},
                             {ActivationKind::kHardSwish, 0, 0},  {ActivationKind::kTanh, 0, 0}};
  for (auto [m, n] : kEpilogueShapes) {
    const Problem p(m, n, 300);
    const EpilogueData d(p);
    for (const Activation& act : acts) {
      check_all_overloads(p, d.make(false, false, false, false, act), nullptr, activation_name(act.kind));
      check_all_overloads(p, d.make(true, true, true, true, act), nullptr, activation_name(act.kind));
    }
  }
}

// NaN in the products stays NaN through the fused ReLU, Clip and LeakyRelu
// (the reference's compare-and-select semantics), and only where it belongs:
// every output of a row of A holding a NaN, no other output.
TEST(Gemm, NaNSurvivesFusedActivations) {
  const int64_t m = 9, n = 50, k = 40;
  std::vector<float> a = random_values(static_cast<size_t>(m * k), 3), b = random_values(static_cast<size_t>(k * n), 4);
  a[static_cast<size_t>(5 * k + 7)] = std::numeric_limits<float>::quiet_NaN();  // row 5
  const PackedMatrix packed = PackedMatrix::pack_right(MatrixView{b.data(), n, 1}, k, n);
  for (const Activation& act : {Activation{ActivationKind::kRelu, 0, 0}, Activation{ActivationKind::kClip, -0.5f, 0.5f},
                                Activation{ActivationKind::kLeakyRelu, 0.1f, 0}}) {
    GemmEpilogue e;
    e.activation = act;
    std::vector<float> c(static_cast<size_t>(m * n));
    gemm(m, n, k, MatrixView{a.data(), k, 1}, packed, c.data(), n, e, nullptr);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        EXPECT_EQ(std::isnan(c[static_cast<size_t>(i * n + j)]), i == 5) << activation_name(act.kind) << " " << i << "," << j;
  }
}

TEST(Gemm, ZeroK) {
  const Problem p(5, 20, 0);
  const EpilogueData d(p);
  check_all_overloads(p, GemmEpilogue{});
  check_all_overloads(p, d.make(true, true, true, true, {ActivationKind::kRelu, 0, 0}));
}

TEST(Gemm, SkinnyTimesPackedWeights) {
  for (int64_t m : {1, 2, 3, 4}) check_all_overloads(Problem(m, 1000, 2048), GemmEpilogue{});
}

// B given as blocks of rows from interleaved strided views (a conv's taps:
// row (t, c) of B is W[m][c][t]) packs to the same operand as B written out
// row-major: the products are bit-identical, for K longer and shorter than
// the packing's row chunks, and N not a multiple of the panel width.
TEST(Gemm, PackedFromRowBlocksEqualsPackedFromRows) {
  for (auto [channels, taps, n] : {std::tuple<int64_t, int64_t, int64_t>{5, 9, 7}, {130, 9, 50}, {64, 1, 100},
                                   {200, 4, 33}}) {
    const int64_t k = channels * taps, m = 37;
    const std::vector<float> w = random_values(static_cast<size_t>(n * channels * taps), 31);  // [n][channels][taps]
    std::vector<float> rows(static_cast<size_t>(k * n));  // row t * channels + c, column j
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t t = 0; t < taps; ++t)
          rows[static_cast<size_t>((t * channels + c) * n + j)] = w[static_cast<size_t>((j * channels + c) * taps + t)];
    std::vector<MatrixView> views;
    std::vector<int64_t> counts;
    for (int64_t t = 0; t < taps; ++t) {
      views.push_back(MatrixView{w.data() + t, taps, channels * taps});
      counts.push_back(channels);
    }
    const PackedMatrix from_blocks = PackedMatrix::pack_right_blocks(views, counts, n);
    const PackedMatrix from_rows = PackedMatrix::pack_right(MatrixView{rows.data(), n, 1}, k, n);
    ASSERT_EQ(from_blocks.byte_size(), from_rows.byte_size());
    EXPECT_EQ(std::memcmp(from_blocks.data(), from_rows.data(), from_rows.byte_size()), 0)
        << "channels " << channels << " taps " << taps << " n " << n;
    const std::vector<float> a = random_values(static_cast<size_t>(m * k), 32);
    std::vector<float> c1(static_cast<size_t>(m * n)), c2(c1.size());
    gemm(m, n, k, MatrixView{a.data(), k, 1}, from_blocks, c1.data(), n, GemmEpilogue{}, nullptr);
    gemm_reference(m, n, k, MatrixView{a.data(), k, 1}, MatrixView{rows.data(), n, 1}, c2.data(), n, GemmEpilogue{});
    for (size_t i = 0; i < c1.size(); ++i) ASSERT_NEAR(c1[i], c2[i], 1e-4f * (1 + std::fabs(c2[i]))) << i;
  }
}

// Each C element is summed in the same order whatever the thread count, so
// results must be bit-identical (and correct).
TEST(Gemm, ThreadsGiveBitIdenticalResults) {
  ThreadPool pool2(2), pool3(3);
  const std::tuple<int64_t, int64_t, int64_t> shapes[] = {
      {256, 300, 200}, {64, 3136, 100}, {512, 49, 600}, {1, 1000, 2048}, {40, 64, 480}, {17, 2000, 129}, {300, 48, 300}};
  for (auto [m, n, k] : shapes) {
    const Problem p(m, n, k);
    const EpilogueData d(p);
    const GemmEpilogue e = d.make(true, true, true, false, {ActivationKind::kRelu, 0, 0});
    const std::vector<float> c_init = initial_c(p);
    const Expected want = expected(p, e, c_init);
    for (Overload o : kOverloads) {
      const std::vector<float> one = run(o, p, e, c_init, nullptr);
      compare(p, one, want, name(o));
      for (ThreadPool* pool : {&pool2, &pool3}) {
        const std::vector<float> many = run(o, p, e, c_init, pool);
        EXPECT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)), 0)
            << name(o) << " m=" << m << " n=" << n << " k=" << k << " threads=" << pool->threads();
      }
    }
  }
}

// Every SIMD target this machine supports (AVX-512, AVX2, SSE4, ..., scalar).
TEST(Gemm, EverySupportedTarget) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  EXPECT_GE(targets.size(), 2u);
  ThreadPool pool(2);
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    if (!(target & kTargetsWithoutGemm)) {
      EXPECT_STREQ(gemm_target_name(), hwy::TargetName(target));
    }
    for (int64_t m : {1, 3, 17, 100}) {
      for (int64_t n : {2, 16, 33, 49}) {
        for (int64_t k : {1, 17, 400}) {
          const Problem p(m, n, k, m == 17, n == 33);
          const EpilogueData d(p);
          check_all_overloads(p, d.make(true, true, true, k == 17, {ActivationKind::kRelu, 0, 0}), &pool,
                              hwy::TargetName(target));
        }
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(Gemm, EmptyProductsTouchNothing) {
  std::vector<float> c(4, 1.0f);
  const float a[4] = {1, 2, 3, 4};
  gemm(0, 2, 2, MatrixView{a, 2, 1}, MatrixView{a, 2, 1}, c.data(), 2, GemmEpilogue{}, nullptr);
  gemm(2, 0, 2, MatrixView{a, 2, 1}, MatrixView{a, 2, 1}, c.data(), 2, GemmEpilogue{}, nullptr);
  EXPECT_EQ(c, std::vector<float>(4, 1.0f));
}

}  // namespace
}  // namespace iskra::cpu
