#include "runtime/planner.h"

#include <gtest/gtest.h>

#include <random>

namespace iskra {
namespace {

bool overlaps_in_time(const BufferRequest& a, const BufferRequest& b) {
  return a.first_use <= b.last_use && b.first_use <= a.last_use;
}

TEST(Planner, ReusesMemoryOfDeadBuffers) {
  // Chain a -> b -> c: a dies when c is made, so c can take a's place.
  std::vector<BufferRequest> r = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}};
  ArenaPlan plan = plan_arena(r);
  EXPECT_EQ(plan.offsets[0], plan.offsets[2]);
  EXPECT_NE(plan.offsets[0], plan.offsets[1]);
  EXPECT_EQ(plan.total_bytes, 2 * 1024u);  // 1000 rounded up to the 64-byte alignment
}

TEST(Planner, LiveBuffersNeverOverlapOnRandomGraphs) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<BufferRequest> r;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      int first = static_cast<int>(rng() % 50);
      r.push_back({1 + rng() % 5000, first, first + static_cast<int>(rng() % 10)});
    }
    ArenaPlan plan = plan_arena(r);
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(plan.offsets[static_cast<size_t>(i)] % kArenaAlignment, 0u);
      EXPECT_LE(plan.offsets[static_cast<size_t>(i)] + r[static_cast<size_t>(i)].bytes, plan.total_bytes);
      for (int j = i + 1; j < n; ++j) {
        const auto& a = r[static_cast<size_t>(i)];
        const auto& b = r[static_cast<size_t>(j)];
        if (!overlaps_in_time(a, b)) continue;
        size_t ao = plan.offsets[static_cast<size_t>(i)], bo = plan.offsets[static_cast<size_t>(j)];
        ASSERT_TRUE(ao + a.bytes <= bo || bo + b.bytes <= ao) << "trial " << trial << " buffers " << i << "," << j;
      }
    }
  }
}

}  // namespace
}  // namespace iskra
