#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
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

TEST(ThreadPool, BalancedParallelForCoversEveryIndexExactlyOnceInWholeGrains) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t grain : {1, 4, 8}) {
      for (int64_t n : {0, 1, 2, 7, 33, 1000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        for (int repeat = 0; repeat < 50; ++repeat) {
          pool.parallel_for_balanced(n, grain, [&](int64_t begin, int64_t end) {
            ASSERT_LT(begin, end);
            // Ranges start on a grain and end on one, or at n.
            EXPECT_EQ(begin % grain, 0);
            EXPECT_TRUE(end % grain == 0 || end == n) << end;
            for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
          });
        }
        for (int64_t i = 0; i < n; ++i)
          EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 50) << threads << " " << grain << " " << n;
      }
    }
  }
}

// The point of the balanced loop: a thread held up on its first item does not hold up its
// share; the other thread takes the rest of it from the back.
TEST(ThreadPool, BalancedParallelForMovesAStalledThreadsItemsToAnother) {
  ThreadPool pool(2);
  constexpr int64_t kItems = 64;  // shares [0, 32) for the caller, [32, 64) for the worker
  std::vector<std::atomic<int>> hits(kItems);
  std::atomic<int64_t> done_elsewhere{0};
  const auto caller = std::this_thread::get_id();
  bool waited_out = false;
  pool.parallel_for_balanced(kItems, 1, [&](int64_t begin, int64_t end) {
    if (std::this_thread::get_id() == caller && begin == 0) {
      // Stall until the worker has done its own share and all of this one but the first piece.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (done_elsewhere.load() < kItems - (end - begin) &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      waited_out = done_elsewhere.load() < kItems - (end - begin);
    } else if (std::this_thread::get_id() != caller) {
      done_elsewhere.fetch_add(end - begin);
    }
    for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
  });
  EXPECT_FALSE(waited_out) << "the worker did not take over the stalled thread's items";
  for (int64_t i = 0; i < kItems; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 1) << i;
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
