// ThreadPool: the one pool a session's kernels share.
//
// `threads` counts the calling thread: a pool of 1 has no workers and runs
// everything inline; a pool of N starts N-1 workers. parallel_for hands out
// task indices; the caller works too and returns when every task is done.
//
// Idle behaviour: after finishing work, a worker spins only briefly (so the
// next op of the same run starts without a wake-up delay), then sleeps on a
// condition variable. A pool between runs uses no CPU.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>

namespace iskra {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // values < 1 mean 1
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }

  // Calls fn(task) for every task in [0, tasks), spread over the pool's
  // threads, and returns when all calls have returned. Tasks are taken in
  // increasing order from a shared counter, so uneven tasks balance. A call
  // from inside a task (nesting) runs its tasks inline on that thread.
  // If a task throws, the tasks not yet started are skipped and the first
  // exception is rethrown here, after every thread has left the job.
  // Not safe to call from two outside threads at once on one pool.
  template <typename Fn>
  void parallel_for(int64_t tasks, Fn&& fn) {
    if (tasks <= 0) return;
    auto trampoline = [](void* ctx, int64_t task) { (*static_cast<std::remove_reference_t<Fn>*>(ctx))(task); };
    run(tasks, trampoline, const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  struct Shared;
  void run(int64_t tasks, void (*fn)(void*, int64_t), void* ctx);

  int threads_ = 1;
  std::unique_ptr<Shared> shared_;
};

// Splits [0, n) into about `parts` contiguous ranges, each (but the last) a
// multiple of `align`; returns the range of part `index` as [begin, end).
struct Range {
  int64_t begin = 0, end = 0;
};
Range split_range(int64_t n, int64_t parts, int64_t index, int64_t align = 1);

}  // namespace iskra
