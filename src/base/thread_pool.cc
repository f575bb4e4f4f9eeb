#include "base/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace iskra {

namespace {

// How long a worker keeps polling for the next parallel_for before it sleeps.
// Long enough to bridge the gap between two ops of one run, short enough that
// an idle session costs nothing measurable.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(500);

thread_local bool t_inside_task = false;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls `done` for up to kSpinBeforeSleep; true if it became true.
template <typename Pred>
bool spin_until(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  for (int i = 0;; ++i) {
    if (done()) return true;
    cpu_relax();
    if ((i & 63) != 63) continue;
    // Yield now and then: with more threads than free cores, the thread we
    // wait for may need this core.
    std::this_thread::yield();
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

}  // namespace

struct ThreadPool::Shared {
  // The current job. Written by run() before `generation` is bumped
  // (release), read by workers after they see the new generation (acquire).
  void (*fn)(void*, int64_t) = nullptr;
  void* ctx = nullptr;
  int64_t tasks = 0;
  std::atomic<int64_t> next_task{0};
  std::atomic<uint64_t> generation{0};
  std::atomic<int> workers_busy{0};  // workers that have not finished the current job

  // The first exception a task of the current job threw (a kernel's scratch
  // allocation failing, say). The remaining tasks are skipped and run()
  // rethrows it on the caller once every thread has left the job: a worker
  // must never let it out (std::terminate), nor the caller unwind while
  // workers still use the job's context on its stack.
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;  // guarded by error_mutex

  std::mutex mutex;
  std::condition_variable work_ready;  // generation changed or stopping
  std::condition_variable work_done;   // workers_busy reached 0
  int sleeping_workers = 0;            // guarded by mutex
  bool caller_sleeping = false;        // guarded by mutex
  bool stopping = false;               // guarded by mutex
  std::vector<std::thread> workers;

  void do_tasks() {
    t_inside_task = true;
    try {
      for (int64_t t; (t = next_task.fetch_add(1, std::memory_order_relaxed)) < tasks;) {
        if (failed.load(std::memory_order_relaxed)) break;
        fn(ctx, t);
      }
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
      failed.store(true, std::memory_order_relaxed);
    }
    t_inside_task = false;
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      if (!spin_until([&] { return generation.load(std::memory_order_acquire) != seen; })) {
        std::unique_lock lock(mutex);
        ++sleeping_workers;
        work_ready.wait(lock, [&] { return stopping || generation.load(std::memory_order_acquire) != seen; });
        --sleeping_workers;
        if (stopping) return;
      }
      seen = generation.load(std::memory_order_acquire);
      do_tasks();
      if (workers_busy.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(mutex);
        if (caller_sleeping) work_done.notify_one();
      }
    }
  }
};

ThreadPool::ThreadPool(int threads) : threads_(std::max(threads, 1)), shared_(std::make_unique<Shared>()) {
  for (int i = 1; i < threads_; ++i) shared_->workers.emplace_back([s = shared_.get()] { s->worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
  }
  shared_->work_ready.notify_all();
  for (std::thread& t : shared_->workers) t.join();
}

void ThreadPool::run(int64_t tasks, void (*fn)(void*, int64_t), void* ctx) {
  Shared& s = *shared_;
  if (threads_ == 1 || tasks == 1 || t_inside_task) {
    for (int64_t t = 0; t < tasks; ++t) fn(ctx, t);
    return;
  }
  s.fn = fn;
  s.ctx = ctx;
  s.tasks = tasks;
  s.next_task.store(0, std::memory_order_relaxed);
  s.failed.store(false, std::memory_order_relaxed);
  s.workers_busy.store(threads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard lock(s.mutex);
    s.generation.fetch_add(1, std::memory_order_release);
    if (s.sleeping_workers > 0) s.work_ready.notify_all();
  }
  s.do_tasks();
  if (!spin_until([&] { return s.workers_busy.load(std::memory_order_acquire) == 0; })) {
    std::unique_lock lock(s.mutex);
    s.caller_sleeping = true;
    s.work_done.wait(lock, [&] { return s.workers_busy.load(std::memory_order_acquire) == 0; });
    s.caller_sleeping = false;
  }
  if (s.failed.load(std::memory_order_relaxed)) {
    std::exception_ptr error;
    {
      std::lock_guard lock(s.error_mutex);
      error.swap(s.error);
    }
    std::rethrow_exception(error);
  }
}

Range split_range(int64_t n, int64_t parts, int64_t index, int64_t align) {
  parts = std::max<int64_t>(parts, 1);
  align = std::max<int64_t>(align, 1);
  const int64_t units = (n + align - 1) / align;
  const int64_t per = units / parts, extra = units % parts;
  const int64_t first = index * per + std::min(index, extra);
  const int64_t count = per + (index < extra ? 1 : 0);
  return Range{std::min(first * align, n), std::min((first + count) * align, n)};
}

}  // namespace iskra
