// Reference kernels and shape functions: linalg ops.
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

void register_linalg_ops(OpTable& table) { (void)table; }

}  // namespace iskra
