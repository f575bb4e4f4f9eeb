// Reference kernels and shape functions: unary ops.
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

void register_unary_ops(OpTable& table) { (void)table; }

}  // namespace iskra
