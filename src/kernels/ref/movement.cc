// Reference kernels and shape functions: movement ops.
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

void register_movement_ops(OpTable& table) { (void)table; }

}  // namespace iskra
