#include "kernels/cpu/register.h"

namespace iskra::cpu {

void register_normalize_kernels(OpTable& table) { (void)table; }

}  // namespace iskra::cpu
