// Reference kernels and shape functions: quant ops.
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

void register_quant_ops(OpTable& table) { (void)table; }

}  // namespace iskra
