// What the public gemm overloads hand to the per-target GEMM core
// (gemm-inl.h): each operand either as a strided view or as packed panels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/gemm.h"

namespace iskra::cpu {

// An operand seen as a K × D matrix, D being its non-K dimension (M for A,
// N for B). A view holds element (k, d) at data[k * stride_k + d * stride_d];
// a packed operand holds it in PackedMatrix's panel layout.
struct GemmOperand {
  const float* data = nullptr;
  ptrdiff_t stride_k = 0, stride_d = 0;  // views only
  bool packed = false;
};

// C[m, n] (leading dimension ldc) = epilogue(A · B).
struct GemmCall {
  int64_t m = 0, n = 0, k = 0;
  GemmOperand a, b;
  float* c = nullptr;
  ptrdiff_t ldc = 0;
  const GemmEpilogue* epilogue = nullptr;
};

}  // namespace iskra::cpu
