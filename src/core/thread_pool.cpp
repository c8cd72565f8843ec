#include "core/thread_pool.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#include "core/error.h"

namespace bottega {
namespace {

// Tells the core this is a spin-wait (less power, no memory-order mis-speculation on exit).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    pending_.store(n_threads_ - 1);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  fn(0, n_threads_);
  // Workers finish within microseconds on the hot path; spinning beats a second condition variable.
  // A pause-spin first: a yield is a system call, and in a VM a costly one.
  for (int spin = 0; spin < 4096 && pending_.load(std::memory_order_acquire) != 0; ++spin) {
    cpu_relax();
  }
  while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t threads = std::min<int64_t>(n_threads_, n);
  if (threads == 1) {
    fn(0, n);
    return;
  }
  run([&](int index, int) {
    if (index >= threads) return;
    const int64_t begin = n * index / threads;
    const int64_t end = n * (index + 1) / threads;
    fn(begin, end);
  });
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  while (true) {
    // Spin a little first (about 30 us): between the operations of one token the next job
    // arrives quickly.
    for (int spin = 0; spin < 2000 && generation_.load(std::memory_order_acquire) == seen; ++spin) {
      cpu_relax();
    }
    const std::function<void(int, int)>* job = nullptr;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
      seen = generation_.load();
      if (stopping_) return;
      job = job_;
    }
    (*job)(index, n_threads_);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

int default_thread_count() {
  // Count distinct (physical id, core id) pairs; hyper-threads share one.
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, physical = "0";
  while (std::getline(cpuinfo, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (line.rfind("physical id", 0) == 0) physical = value;
    if (line.rfind("core id", 0) == 0) cores.emplace(physical, value);
  }
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (cores.empty()) return hardware;
  return std::min(hardware, static_cast<int>(cores.size()));
}

}  // namespace bottega
