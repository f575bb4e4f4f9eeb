// Reference kernels and shape functions: nn ops.
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

void register_nn_ops(OpTable& table) { (void)table; }

}  // namespace iskra
