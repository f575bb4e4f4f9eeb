#include "kernels/cpu/register.h"

namespace iskra {

void register_cpu_kernels(OpTable& table) {
  cpu::register_gemm_kernels(table);
  cpu::register_conv_kernels(table);
  cpu::register_conv_nhwc_kernels(table);
  cpu::register_elementwise_kernels(table);
  cpu::register_normalize_kernels(table);
  cpu::register_pool_kernels(table);
  cpu::register_movement_kernels(table);
  cpu::register_quantized_kernels(table);
}

const OpTable& default_op_table() {
  static const OpTable table = [] {
    OpTable t = reference_op_table();
    register_cpu_kernels(t);
    return t;
  }();
  return table;
}

}  // namespace iskra
