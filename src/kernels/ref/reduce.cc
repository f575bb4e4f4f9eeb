// Reference kernels and shape functions: reduce ops.
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

void register_reduce_ops(OpTable& table) { (void)table; }

}  // namespace iskra
