// Placeholder: GEMM benchmarks arrive with the kernel.
#include <benchmark/benchmark.h>
