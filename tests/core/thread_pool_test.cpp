#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace bottega {
namespace {

TEST(ThreadPool, ParallelForCoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int repeat = 0; repeat < 50; ++repeat) {
        pool.parallel_for(n, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
        });
      }
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 50) << threads << " " << n;
    }
  }
}

TEST(ThreadPool, RunCallsEveryThreadIndexOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> seen(4);
  for (int repeat = 0; repeat < 200; ++repeat) {
    pool.run([&](int index, int n) {
      EXPECT_EQ(n, 4);
      seen[static_cast<size_t>(index)].fetch_add(1);
    });
  }
  for (auto& count : seen) EXPECT_EQ(count.load(), 200);
}

TEST(ThreadPool, DefaultThreadCountIsPositive) {
  EXPECT_GE(default_thread_count(), 1);
}

}  // namespace
}  // namespace bottega
