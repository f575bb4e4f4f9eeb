// Activations applied in place (the pass a fused epilogue runs after its
// tile): billions of elements per second for each kind, 1M floats (L2/L3).
//
//   build/bench/micro/iskra_micro_bench --benchmark_filter=Activation
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/cpu/activation.h"

namespace iskra::bench {
namespace {

void BM_Activation(benchmark::State& state) {
  const auto kind = static_cast<cpu::ActivationKind>(state.range(0));
  cpu::Activation act{kind, kind == cpu::ActivationKind::kClip ? 0.0f : 0.2f, kind == cpu::ActivationKind::kClip ? 6.0f : 0.5f};
  std::vector<float> x(1 << 20);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  for (float& v : x) v = dist(rng);
  const std::vector<float> original = x;
  for (auto _ : state) {
    cpu::apply_activation(act, x.data(), x.size());
    benchmark::ClobberMemory();
    state.PauseTiming();
    x = original;  // keep the values in range
    state.ResumeTiming();
  }
  state.SetLabel(cpu::activation_name(kind));
  state.counters["Gelem_per_s"] =
      benchmark::Counter(static_cast<double>(x.size()) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Activation)->DenseRange(1, 8)->UseRealTime();

}  // namespace
}  // namespace iskra::bench
