#include "kernels/kernel.h"

namespace iskra {

const OpTable& reference_op_table() {
  static const OpTable table = [] {
    OpTable t;
    register_unary_ops(t);
    register_binary_ops(t);
    register_movement_ops(t);
    register_indexing_ops(t);
    register_reduce_ops(t);
    register_nn_ops(t);
    register_linalg_ops(t);
    register_quant_ops(t);
    register_rnn_ops(t);
    register_vision_ops(t);
    register_loss_ops(t);
    register_fused_ops(t);
    register_channels_last_ops(t);
    return t;
  }();
  return table;
}

}  // namespace iskra
