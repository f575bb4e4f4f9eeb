// Registration of the fast CPU kernels, one function per file group.
#pragma once

#include "kernels/kernel.h"

namespace iskra::cpu {

void register_gemm_kernels(OpTable& table);         // MatMul, Gemm (matmul_kernels.cc)
void register_conv_kernels(OpTable& table);         // Conv, ConvTranspose (conv_kernels.cc)
void register_conv_nhwc_kernels(OpTable& table);    // FusedConvNhwc, ConvTransposeNhwc (conv_nhwc_kernels.cc)
void register_elementwise_kernels(OpTable& table);  // unary and binary ops (elementwise_kernels.cc)
void register_normalize_kernels(OpTable& table);    // Softmax, BatchNorm, LayerNorm, ReduceMean (normalize_kernels.cc)
void register_pool_kernels(OpTable& table);         // MaxPool, AveragePool, their NHWC forms, global pools (pool_kernels.cc)
void register_movement_kernels(OpTable& table);     // Transpose, Concat, Resize (movement_kernels.cc)
void register_quantized_kernels(OpTable& table);    // QLinearConvNhwc, QuantizeLinear, DequantizeLinear (quantized_kernels.cc)

}  // namespace iskra::cpu
