#include "runtime/planner.h"

#include <algorithm>
#include <numeric>

namespace iskra {

namespace {
size_t align_up(size_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }
}  // namespace

ArenaPlan plan_arena(std::span<const BufferRequest> requests) {
  ArenaPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  struct Placed { size_t offset, end; int first, last; };
  std::vector<Placed> placed;
  placed.reserve(requests.size());
  for (size_t idx : order) {
    const BufferRequest& r = requests[idx];
    const size_t size = align_up(std::max<size_t>(r.bytes, 1));
    // Intervals already placed that are alive at the same time, by offset.
    std::vector<Placed> conflicts;
    for (const Placed& p : placed)
      if (p.first <= r.last_use && r.first_use <= p.last) conflicts.push_back(p);
    std::sort(conflicts.begin(), conflicts.end(),
              [](const Placed& a, const Placed& b) { return a.offset < b.offset; });
    size_t offset = 0;
    for (const Placed& p : conflicts) {
      if (offset + size <= p.offset) break;  // fits in the gap before p
      offset = std::max(offset, p.end);
    }
    plan.offsets[idx] = offset;
    placed.push_back(Placed{offset, offset + size, r.first_use, r.last_use});
    plan.total_bytes = std::max(plan.total_bytes, offset + size);
  }
  return plan;
}

}  // namespace iskra
