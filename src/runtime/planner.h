// Memory planning: assigns each intermediate tensor an offset in one arena so
// that tensors whose lifetimes overlap never share bytes.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace iskra {

struct BufferRequest {
  size_t bytes = 0;
  int first_use = 0;  // index of the producing step
  int last_use = 0;   // index of the last consuming step (inclusive)
};

struct ArenaPlan {
  std::vector<size_t> offsets;  // one per request, aligned to kArenaAlignment
  size_t total_bytes = 0;
};

inline constexpr size_t kArenaAlignment = 64;

// Greedy by size (as TFLite's arena planner): largest buffers are placed
// first, each at the lowest aligned offset that does not overlap a placed
// buffer whose lifetime intersects its own.
ArenaPlan plan_arena(std::span<const BufferRequest> requests);

}  // namespace iskra
