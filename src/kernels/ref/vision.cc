// Reference kernels and shape functions: vision ops.
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

void register_vision_ops(OpTable& table) { (void)table; }

}  // namespace iskra
