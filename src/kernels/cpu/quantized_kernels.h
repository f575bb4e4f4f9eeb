// The integer kernels that other kernel files dispatch to (quantized_kernels.cc).
#pragma once

#include <memory>

#include "kernels/kernel.h"

namespace iskra::cpu {

// MaxPoolNhwc on int8 / uint8: the max of the integers, exact (a quantized
// max pool shares its input's scale and zero point). nullptr when declined.
Result<std::unique_ptr<PreparedKernel>> prepare_max_pool_nhwc_integer(const PrepareContext& ctx);

}  // namespace iskra::cpu
