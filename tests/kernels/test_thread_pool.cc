#include "base/thread_pool.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace iskra {
namespace {

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t tasks : {1, 2, 3, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(tasks));
      pool.parallel_for(tasks, [&](int64_t t) { hits[static_cast<size_t>(t)]++; });
      for (int64_t t = 0; t < tasks; ++t) EXPECT_EQ(hits[static_cast<size_t>(t)].load(), 1) << threads << " " << t;
    }
  }
}

TEST(ThreadPool, UsesMoreThanOneThread) {
  ThreadPool pool(2);
  std::atomic<int> inside{0}, max_inside{0};
  pool.parallel_for(64, [&](int64_t) {
    int now = ++inside;
    for (int seen = max_inside.load(); now > seen && !max_inside.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    --inside;
  });
  EXPECT_EQ(max_inside.load(), 2);
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadPool pool(2);
  std::atomic<int> total{0};
  pool.parallel_for(4, [&](int64_t) { pool.parallel_for(5, [&](int64_t) { total++; }); });
  EXPECT_EQ(total.load(), 20);
}

TEST(ThreadPool, ManyBackToBackCalls) {
  ThreadPool pool(3);  // more threads than this machine's cores: waiting must yield
  int64_t sum = 0;
  for (int round = 0; round < 2000; ++round) {
    std::atomic<int64_t> s{0};
    pool.parallel_for(8, [&](int64_t t) { s += t; });
    sum += s.load();
  }
  EXPECT_EQ(sum, 2000 * 28);
}

// A task that throws on a worker thread (a kernel whose scratch allocation
// fails) must not terminate the process: the exception reaches the caller of
// parallel_for, and the pool keeps working.
TEST(ThreadPool, AnExceptionInAWorkerReachesTheCaller) {
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> thrown{0};
    try {
      pool.parallel_for(64, [&](int64_t) {
        if (std::this_thread::get_id() != caller) {
          ++thrown;
          throw std::runtime_error("worker task failed");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // leaves tasks for the worker
      });
      ADD_FAILURE() << "round " << round << ": no exception, though the worker threw " << thrown.load();
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "worker task failed");
      EXPECT_EQ(thrown.load(), 1) << "tasks after the failing one must be skipped";
    }
    std::vector<std::atomic<int>> hits(100);
    pool.parallel_for(100, [&](int64_t t) { hits[static_cast<size_t>(t)]++; });
    for (int64_t t = 0; t < 100; ++t) ASSERT_EQ(hits[static_cast<size_t>(t)].load(), 1) << round << " " << t;
  }
}

TEST(ThreadPool, AnExceptionInTheCallerWaitsForTheWorkers) {
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> running{0};
  EXPECT_THROW(pool.parallel_for(64,
                                 [&](int64_t) {
                                   ++running;
                                   std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                   --running;
                                   if (std::this_thread::get_id() == caller) throw std::runtime_error("caller");
                                 }),
               std::runtime_error);
  EXPECT_EQ(running.load(), 0) << "parallel_for returned while a worker was still in a task";
}

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

// Idle workers sleep: after work, a pool that waits 300 ms costs (almost) no
// CPU. A spinning worker would cost ~300 ms here.
TEST(ThreadPool, IdleWorkersDoNotSpin) {
  ThreadPool pool(2);
  std::atomic<int> sink{0};
  pool.parallel_for(100, [&](int64_t t) { sink += static_cast<int>(t); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the spin window
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double idle_cpu = process_cpu_seconds() - before;
  EXPECT_LT(idle_cpu, 0.03) << "CPU seconds used by an idle pool in 300 ms";
}

TEST(SplitRange, CoversEverythingOnceWithAlignment) {
  for (int64_t n : {0, 1, 5, 16, 17, 100}) {
    for (int64_t parts : {1, 2, 3, 8}) {
      for (int64_t align : {1, 4, 16}) {
        int64_t expected_begin = 0;
        for (int64_t p = 0; p < parts; ++p) {
          Range r = split_range(n, parts, p, align);
          EXPECT_EQ(r.begin, expected_begin);
          EXPECT_LE(r.begin, r.end);
          if (r.end < n) {
            EXPECT_EQ(r.end % align, 0);
          }
          expected_begin = r.end;
        }
        EXPECT_EQ(expected_begin, n) << n << " " << parts << " " << align;
      }
    }
  }
}

}  // namespace
}  // namespace iskra
