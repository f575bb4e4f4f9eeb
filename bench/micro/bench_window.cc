// Depthwise convolution micro-benchmarks (NHWC window engine): MobileNet's
// 3x3 layers, GFLOP/s counting 2 FLOPs per tap, and GB/s of the input and
// output moved.
//
//   build/bench/micro/iskra_micro_bench --benchmark_filter=Depthwise
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/window_nhwc.h"

namespace iskra::bench {
namespace {

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Args: channels, input size (square), stride, threads.
void BM_DepthwiseNhwc(benchmark::State& state) {
  const int64_t c = state.range(0), size = state.range(1), stride = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  cpu::WindowNhwcJob job;
  const int64_t out = (size + 2 - 3) / stride + 1;
  job.shape = cpu::DepthwiseConvShape{1, c, size, size, out, out, 3, 3, stride, stride, 1, 1, 1, 1};
  const std::vector<float> x = random_floats(size * size * c, 1), w = random_floats(9 * c, 2), b = random_floats(c, 3);
  std::vector<float> y(static_cast<size_t>(out * out * c));
  job.input = x.data();
  job.output = y.data();
  job.weights = w.data();
  job.bias = b.data();
  job.activation.kind = cpu::ActivationKind::kClip;
  job.activation.alpha = 0.0f;
  job.activation.beta = 6.0f;
  auto pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
  for (auto _ : state) {
    cpu::run_window_nhwc(job, pool.get());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * 9 * static_cast<double>(out * out * c);
  const double bytes = 4.0 * static_cast<double>(x.size() + y.size());
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GBps"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DepthwiseNhwc)
    ->ArgNames({"c", "size", "stride", "thr"})
    ->Args({32, 112, 1, 1})
    ->Args({96, 112, 2, 1})
    ->Args({144, 56, 1, 1})
    ->Args({144, 56, 2, 1})
    ->Args({192, 28, 1, 1})
    ->Args({576, 14, 1, 1})
    ->Args({960, 7, 1, 1})
    ->Args({144, 56, 1, 2})
    ->UseRealTime();

}  // namespace
}  // namespace iskra::bench

#include "kernels/cpu/winograd.h"

namespace iskra::bench {
namespace {

// Winograd F(4x4, 3x3) on ResNet's 3x3 layers (channels, size); GFLOP/s of
// the direct convolution's FLOPs, so the numbers compare with the GEMM path.
void BM_WinogradNhwc(benchmark::State& state) {
  const int64_t c = state.range(0), size = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  cpu::WinogradShape s{1, c, c, size, size, size, size, 1, 1};
  const std::vector<float> x = random_floats(size * size * c, 1), w = random_floats(9 * c * c, 2);
  std::vector<float> y(static_cast<size_t>(size * size * c));
  std::vector<float> scratch(static_cast<size_t>(cpu::winograd_scratch_floats(s)));
  const std::vector<cpu::PackedMatrix> u = cpu::winograd_weights(w.data(), c, c);
  cpu::WinogradJob job;
  job.shape = s;
  job.weights = &u;
  job.input = x.data();
  job.output = y.data();
  if (state.range(3)) {  // as in ResNet: bias, the residual in place, ReLU
    job.bias = w.data();
    job.residual = y.data();
    job.activation.kind = cpu::ActivationKind::kRelu;
  }
  auto pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
  for (auto _ : state) {
    cpu::winograd_conv(job, scratch.data(), pool.get());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * 9 * static_cast<double>(size * size * c * c);
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_WinogradNhwc)
    ->ArgNames({"c", "size", "thr", "fused"})
    ->Args({64, 56, 1, 0})
    ->Args({64, 56, 1, 1})
    ->Args({128, 28, 1, 0})
    ->Args({256, 14, 1, 0})
    ->Args({512, 7, 1, 0})
    ->Args({64, 56, 2, 0})
    ->UseRealTime();

}  // namespace
}  // namespace iskra::bench
