// A fixed set of worker threads that run one parallel loop at a time.
//
// The calling thread takes part in every loop, so a pool of n threads starts n - 1 workers.
// Decode issues hundreds of small loops per token, so workers spin briefly before sleeping.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
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
};

// Physical cores when they can be told apart from hardware threads, else hardware threads.
int default_thread_count();

}  // namespace bottega
