// Splitting a kernel's work over the session's thread pool.
#pragma once

#include <algorithm>
#include <cstdint>

#include "base/thread_pool.h"

namespace iskra::cpu {

// Calls fn(begin, end) on ranges covering [0, n): once, inline, when there is
// no pool or fewer than 2 * min_chunk items; otherwise one contiguous range
// per pool thread (each at least min_chunk items, boundaries multiples of
// `align`). Every item is computed by exactly one call, so results do not
// depend on the thread count as long as fn treats items independently.
template <typename Fn>
void for_each_chunk(ThreadPool* pool, int64_t n, int64_t min_chunk, int64_t align, Fn&& fn) {
  const int64_t threads = pool ? pool->threads() : 1;
  const int64_t tasks = std::min<int64_t>(threads, n / std::max<int64_t>(min_chunk, 1));
  if (tasks <= 1) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
  pool->parallel_for(tasks, [&](int64_t task) {
    const Range r = split_range(n, tasks, task, align);
    if (r.begin < r.end) fn(r.begin, r.end);
  });
}

}  // namespace iskra::cpu
