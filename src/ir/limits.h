// Limits an imported model must respect, checked by the importers before they
// build anything from the values concerned: a hostile file is refused with a
// named error instead of driving the engine into huge loops or allocations.
// Each is far past what real models use.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/status.h"

namespace iskra {

// Dims of a tensor or declared shape (real models use at most 8; numpy allows 64).
inline constexpr size_t kMaxTensorRank = 32;
// Bytes of a value, node, input or output name.
inline constexpr size_t kMaxNameBytes = 4096;

// Names past kMaxNameBytes are refused (shown cut in the message).
inline Status check_name(std::string_view name, std::string_view what) {
  if (name.size() <= kMaxNameBytes) return Status::ok();
  return invalid_model(what, ": name '", name.substr(0, 40), "...' is ", name.size(), " bytes long, over the limit of ",
                       kMaxNameBytes);
}

}  // namespace iskra
