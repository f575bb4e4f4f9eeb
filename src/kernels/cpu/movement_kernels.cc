#include "kernels/cpu/register.h"

namespace iskra::cpu {

void register_movement_kernels(OpTable& table) { (void)table; }

}  // namespace iskra::cpu
