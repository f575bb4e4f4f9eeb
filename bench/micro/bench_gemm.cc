// GEMM micro-benchmarks: this machine's peak fp32 FLOP/s (independent FMA
// chains on the widest SIMD target), then the packed GEMM on squares (with %
// of that peak), resnet50 conv shapes, FC and transformer shapes.
//
//   ninja -C build -j1 iskra_micro_bench
//   build/bench/micro/iskra_micro_bench --benchmark_filter=Gemm --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true    (one command line)

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench_gemm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Independent FMA chains per step: enough to cover 2 FMA ports × 4-5 cycles
// of latency, few enough to stay in registers (16 vector registers on x86
// before AVX-512: 12 chains plus the two constants; 32 elsewhere).
#if HWY_ARCH_X86 && HWY_TARGET > HWY_AVX3
constexpr size_t kChains = 12;
#else
constexpr size_t kChains = 24;
#endif

// `iterations` steps of kChains independent FMA chains; returns the FLOPs
// done. Values stay normal and finite.
double FmaChains(int64_t iterations, float* sink) {
  const hn::ScalableTag<float> d;
  hn::Vec<decltype(d)> acc[kChains];
  for (size_t i = 0; i < kChains; ++i) acc[i] = hn::Set(d, 1.0f + static_cast<float>(i));
  const auto mul = hn::Set(d, 0.9999999f), add = hn::Set(d, 1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
    HWY_UNROLL(kChains)
    for (size_t i = 0; i < kChains; ++i) acc[i] = hn::MulAdd(acc[i], mul, add);
  }
  for (size_t i = 1; i < kChains; ++i) acc[0] = hn::Add(acc[0], acc[i]);
  *sink = hn::GetLane(acc[0]);
  return 2.0 * static_cast<double>(iterations) * kChains * hn::Lanes(d);
}

}  // namespace HWY_NAMESPACE
}  // namespace iskra::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/gemm.h"

namespace iskra::bench {

HWY_EXPORT(FmaChains);

// The other core may be busy: single-threaded rates use the thread's CPU
// time (time slices lost to other processes do not count), threaded ones the
// wall clock.
class Stopwatch {
 public:
  explicit Stopwatch(bool cpu_time) : clock_(cpu_time ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC) { start_ = now(); }
  double seconds() const { return now() - start_; }

 private:
  double now() const {
    timespec t;
    clock_gettime(clock_, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  }
  clockid_t clock_;
  double start_;
};

// Single-core peak in GFLOP/s: best of a few ~7 ms runs. Measured next to
// each GEMM benchmark, so both see the same clock speed and machine load.
double measure_peak_gflops() {
  double best = 0.0;
  float sink = 0.0f;
  for (int run = 0; run < 3; ++run) {
    const Stopwatch watch(true);
    const double flops = HWY_DYNAMIC_DISPATCH(FmaChains)(2'000'000, &sink);
    best = std::max(best, flops / watch.seconds() * 1e-9);
  }
  benchmark::DoNotOptimize(sink);
  return best;
}

void BM_PeakFma(benchmark::State& state) {
  float sink = 0.0f;
  double flops = 0.0;
  for (auto _ : state) flops += HWY_DYNAMIC_DISPATCH(FmaChains)(1'000'000, &sink);
  benchmark::DoNotOptimize(sink);
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);  // per CPU second
  state.counters["peak_GFLOPS"] = measure_peak_gflops();
  state.SetLabel(cpu::gemm_target_name());
}
BENCHMARK(BM_PeakFma)->Unit(benchmark::kMillisecond);

enum class Operands { kViews, kPackedLeft, kPackedRight };

std::vector<float> random_values(int64_t n) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Args: m, n, k, threads. Reports GFLOP/s and % of (threads × single-core peak).
// Wall-clock columns include time lost to other processes; the counters do not (1 thread).
// kFused: with a conv epilogue (bias per row, ReLU).
template <Operands kOperands, bool kFused = false, bool kColumnBias = false>
void BM_Gemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const std::vector<float> a = random_values(m * k), b = random_values(k * n), bias = random_values(m);
  std::vector<float> c(static_cast<size_t>(m * n));
  const cpu::MatrixView av{a.data(), k, 1}, bv{b.data(), n, 1};
  const cpu::PackedMatrix packed = kOperands == Operands::kPackedLeft    ? cpu::PackedMatrix::pack_left(av, m, k)
                                   : kOperands == Operands::kPackedRight ? cpu::PackedMatrix::pack_right(bv, k, n)
                                                                         : cpu::PackedMatrix();
  auto pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
  cpu::GemmEpilogue epilogue;
  if (kFused && !kColumnBias) {
    epilogue.row_bias = bias.data();
    epilogue.activation.kind = cpu::ActivationKind::kRelu;
  }
  const std::vector<float> col_bias = random_values(n);
  if (kFused && kColumnBias) {  // NHWC conv: bias per output channel, ReLU6
    epilogue.col_bias = col_bias.data();
    epilogue.activation = {cpu::ActivationKind::kClip, 0.0f, 6.0f};
  }
  auto run = [&] {
    switch (kOperands) {
      case Operands::kViews: cpu::gemm(m, n, k, av, bv, c.data(), n, epilogue, pool.get()); break;
      case Operands::kPackedLeft: cpu::gemm(m, n, k, packed, bv, c.data(), n, epilogue, pool.get()); break;
      case Operands::kPackedRight: cpu::gemm(m, n, k, av, packed, c.data(), n, epilogue, pool.get()); break;
    }
  };
  run();  // warm up: scratch buffers, pool threads
  const Stopwatch watch(threads == 1);
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const double gflops = flops * static_cast<double>(state.iterations()) / watch.seconds() * 1e-9;
  state.counters["GFLOPS"] = gflops;
  state.counters["pct_peak"] = 100.0 * gflops / (measure_peak_gflops() * threads);
}

void squares(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) {
    for (int64_t s : {256, 512, 1024}) b->Args({s, s, s, threads});
  }
}

// resnet50 convolutions as C[Cout, H·W] = W[Cout, Cin·kh·kw] · im2col.
void conv_shapes(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) {
    b->Args({64, 3136, 576, threads});   // 3x3, 56x56
    b->Args({256, 3136, 64, threads});   // 1x1 expand, 56x56
    b->Args({128, 784, 1152, threads});  // 3x3, 28x28
    b->Args({256, 196, 2304, threads});  // 3x3, 14x14
    b->Args({1024, 196, 256, threads});  // 1x1 expand, 14x14
    b->Args({512, 49, 4608, threads});   // 3x3, 7x7
    b->Args({2048, 49, 512, threads});   // 1x1 expand, 7x7
  }
}

// The same convolutions in NHWC: C[H·W, Cout] = im2col[H·W, Cin·kh·kw] · W.
void conv_shapes_nhwc(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) {
    b->Args({3136, 64, 576, threads});
    b->Args({3136, 256, 64, threads});
    b->Args({784, 128, 1152, threads});
    b->Args({196, 256, 2304, threads});
    b->Args({196, 1024, 256, threads});
    b->Args({49, 512, 4608, threads});
    b->Args({49, 2048, 512, threads});
  }
}

// MobileNetV2's 1x1 convolutions in NHWC: C[H·W, Cout] = X[H·W, Cin] · W,
// with the bias and ReLU6 epilogue they run with.
void mobilenet_pointwise_shapes(benchmark::internal::Benchmark* b) {
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{12544, 16, 32}, {12544, 96, 16}, {3136, 24, 96},
                         {3136, 144, 24}, {3136, 24, 144}, {784, 192, 32}, {784, 32, 192}, {196, 384, 64},
                         {196, 64, 384}, {196, 576, 96}, {49, 960, 160}, {49, 160, 960}, {49, 1280, 320}})
    b->Args({m, n, k, 1});
}

// Activations × packed weights: FC heads and transformer MatMuls.
void right_packed_shapes(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) {
    b->Args({1, 1000, 2048, threads});
    b->Args({4, 1000, 2048, threads});
    b->Args({64, 1000, 2048, threads});
    b->Args({80, 384, 384, threads});
    b->Args({80, 1536, 384, threads});
    b->Args({40, 64, 64, threads});
  }
}

constexpr auto kViews = Operands::kViews;
constexpr auto kPackedLeft = Operands::kPackedLeft;
constexpr auto kPackedRight = Operands::kPackedRight;
BENCHMARK_TEMPLATE(BM_Gemm, kViews)->Apply(squares)->ArgNames({"m", "n", "k", "thr"})->UseRealTime();
BENCHMARK_TEMPLATE(BM_Gemm, kPackedLeft)->Apply(squares)->ArgNames({"m", "n", "k", "thr"})->UseRealTime();
BENCHMARK_TEMPLATE(BM_Gemm, kPackedLeft)->Apply(conv_shapes)->ArgNames({"m", "n", "k", "thr"})->UseRealTime();
BENCHMARK_TEMPLATE(BM_Gemm, kPackedLeft, true)
    ->Args({256, 3136, 64, 1})
    ->Args({64, 3136, 576, 1})
    ->ArgNames({"m", "n", "k", "thr"})
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_Gemm, kPackedRight)
    ->Apply(mobilenet_pointwise_shapes)
    ->ArgNames({"m", "n", "k", "thr"})
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_Gemm, kPackedRight, true, true)
    ->Apply(mobilenet_pointwise_shapes)
    ->ArgNames({"m", "n", "k", "thr"})
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_Gemm, kPackedRight)->Apply(conv_shapes_nhwc)->ArgNames({"m", "n", "k", "thr"})->UseRealTime();
BENCHMARK_TEMPLATE(BM_Gemm, kPackedRight)
    ->Apply(right_packed_shapes)
    ->ArgNames({"m", "n", "k", "thr"})
    ->UseRealTime();

}  // namespace iskra::bench

#endif  // HWY_ONCE
