#include "kernels/cpu/register.h"

namespace iskra::cpu {

void register_pool_kernels(OpTable& table) { (void)table; }

}  // namespace iskra::cpu
