// Registration of the fast CPU kernels, one function per file group.
#pragma once

#include "kernels/kernel.h"

namespace iskra::cpu {

void register_gemm_kernels(OpTable& table);         // MatMul, Gemm (matmul_kernels.cc)
void register_conv_kernels(OpTable& table);         // Conv, pooling (conv_kernels.cc)
void register_elementwise_kernels(OpTable& table);  // unary, binary, Softmax, ... (elementwise_kernels.cc)

}  // namespace iskra::cpu
