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

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(std::max(1, n_threads)),
      shares_(std::make_unique<Share[]>(static_cast<size_t>(n_threads_))) {
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

namespace {

constexpr uint64_t pack_range(uint64_t front, uint64_t back) {
  return front | (back << 32);
}
constexpr int64_t range_front(uint64_t range) {
  return static_cast<int64_t>(range & 0xffffffffu);
}
constexpr int64_t range_back(uint64_t range) {
  return static_cast<int64_t>(range >> 32);
}

// Claims up to `count` items of a share, from its front or its back; false when it is empty.
bool claim(std::atomic<uint64_t>& share, int64_t count, bool from_front, int64_t& begin,
           int64_t& end) {
  uint64_t range = share.load(std::memory_order_relaxed);
  while (true) {
    const int64_t front = range_front(range);
    const int64_t back = range_back(range);
    if (front >= back) return false;
    const int64_t take = std::min(count, back - front);
    begin = from_front ? front : back - take;
    end = begin + take;
    const uint64_t rest =
        from_front ? pack_range(static_cast<uint64_t>(end), static_cast<uint64_t>(back))
                   : pack_range(static_cast<uint64_t>(front), static_cast<uint64_t>(begin));
    if (share.compare_exchange_weak(range, rest, std::memory_order_relaxed)) return true;
  }
}

// A thread claims its own share in about this many pieces: fewer pieces, fewer claims; more,
// a finer last piece that no other thread can take over.
constexpr int64_t kPiecesPerShare = 16;

}  // namespace

void ThreadPool::parallel_for_balanced(int64_t n, int64_t grain,
                                       const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t units = (n + grain - 1) / grain;
  const int64_t threads = std::min<int64_t>(n_threads_, units);
  const auto items = [&](int64_t begin, int64_t end) {
    fn(begin * grain, std::min(n, end * grain));
  };
  if (threads == 1 || units > 0xffffffffLL) {
    parallel_for(units, items);
    return;
  }
  for (int64_t i = 0; i < threads; ++i) {
    shares_[static_cast<size_t>(i)].range.store(
        pack_range(static_cast<uint64_t>(units * i / threads),
                   static_cast<uint64_t>(units * (i + 1) / threads)),
        std::memory_order_relaxed);
  }
  // The stores reach the workers through run()'s hand-off, which publishes the job.
  const int64_t piece = std::max<int64_t>(1, units / threads / kPiecesPerShare);
  run([&](int index, int) {
    if (index >= threads) return;
    int64_t begin = 0, end = 0;
    while (claim(shares_[static_cast<size_t>(index)].range, piece, true, begin, end)) {
      items(begin, end);
    }
    for (int64_t k = 1; k < threads; ++k) {
      auto& other = shares_[static_cast<size_t>((index + k) % threads)].range;
      while (claim(other, 1, false, begin, end)) items(begin, end);
    }
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
