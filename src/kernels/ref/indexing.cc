// Reference kernels and shape functions: indexing ops.
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

void register_indexing_ops(OpTable& table) { (void)table; }

}  // namespace iskra
