// Reference kernels and shape functions: rnn ops.
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

void register_rnn_ops(OpTable& table) { (void)table; }

}  // namespace iskra
