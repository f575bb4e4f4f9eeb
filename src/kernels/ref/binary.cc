// Reference kernels and shape functions: binary ops.
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

void register_binary_ops(OpTable& table) { (void)table; }

}  // namespace iskra
