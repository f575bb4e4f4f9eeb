// Limits an imported model must respect, checked by the importers before they
// build anything from the values concerned: a hostile file is refused with a
// named error instead of driving the engine into huge loops or allocations.
// Each is far past what real models use.
#pragma once

#include <cstddef>

namespace iskra {

// Dims of a tensor or declared shape (real models use at most 8; numpy allows 64).
inline constexpr size_t kMaxTensorRank = 32;
// Bytes of a value, node, input or output name.
inline constexpr size_t kMaxNameBytes = 4096;

}  // namespace iskra
