// A fixed set of worker threads that run one parallel loop at a time.
//
// The calling thread takes part in every loop, so a pool of n threads starts n - 1 workers.
// Decode issues hundreds of small loops per token, so workers spin briefly before sleeping.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace bottega {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread_index, n_threads) once on each thread and waits for all of them.
  void run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into contiguous chunks, at most one per thread: fn(begin, end).
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

  // Like parallel_for, but a thread that finishes its share early takes items from the back of
  // the shares still in progress, `grain` at a time (shares, pieces and what is taken are whole
  // multiples of grain but for the last items of [0, n)). Each thread walks its own share front to
  // back in pieces, so the share stays one memory stream; only the last items of a thread that fell
  // behind (preempted, or on a slower path to memory) move to another. fn(begin, end) may be called
  // several times per thread, always on disjoint ranges.
  void parallel_for_balanced(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stopping_ = false;

  // One thread's share of a balanced loop: the items not yet claimed, [front, back), packed in
  // one word so that the owner (from the front) and the others (from the back) claim by one
  // compare-and-swap each. On its own cache line: the owner updates it every piece.
  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};
  };
  std::unique_ptr<Share[]> shares_;
};

// Physical cores when they can be told apart from hardware threads, else hardware threads.
int default_thread_count();

}  // namespace bottega
