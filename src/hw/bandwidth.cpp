#include "hw/bandwidth.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/host_memory.h"
#include "hw/rates.h"

namespace bottega::hw {
namespace {

constexpr size_t kWordsPerLine = 64 / sizeof(uint64_t);
// Larger than any last-level cache of one core complex, small enough for dozens of timed windows
// per second.
constexpr size_t kWindowBytes = size_t{64} << 20;

// Eight independent accumulators: consecutive adds never wait on each other, so the loop is bound
// by how fast memory delivers the words, not by the latency of one long add chain. The compiler
// turns the inner loop into vector adds.
uint64_t sum_words(const uint64_t* words, size_t n) {
  uint64_t acc[kWordsPerLine] = {};
  size_t i = 0;
  for (; i + kWordsPerLine <= n; i += kWordsPerLine) {
    for (size_t k = 0; k < kWordsPerLine; ++k) acc[k] += words[i + k];
  }
  for (; i < n; ++i) acc[0] += words[i];
  uint64_t total = 0;
  for (uint64_t a : acc) total += a;
  return total;
}

// Thread t's slice [begin, end) in words, cut at cache-line boundaries so that no two threads
// share a line.
struct Slice {
  size_t begin;
  size_t end;
};
Slice slice_of(size_t n_lines, int index, int n_threads) {
  const size_t threads = static_cast<size_t>(n_threads);
  const size_t t = static_cast<size_t>(index);
  return {n_lines * t / threads * kWordsPerLine, n_lines * (t + 1) / threads * kWordsPerLine};
}

}  // namespace

size_t default_bandwidth_bytes() {
  constexpr size_t kGiB = size_t{1} << 30;
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return kGiB / 4;
  const size_t memory = static_cast<size_t>(pages) * static_cast<size_t>(page_size);
  return std::min(kGiB, memory / 8);
}

double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int sweeps) {
  BOTTEGA_CHECK(sweeps > 0, "sweeps ", sweeps);
  const size_t n_lines = bytes / 64;
  if (n_lines < static_cast<size_t>(pool.size())) {
    throw Error(str("bandwidth buffer of ", bytes, " bytes is too small for ", pool.size(),
                    " threads; give at least 64 bytes per thread"));
  }
  // Each window is timed on its own and the windows cycle through the buffer, so a window is
  // never still cached from its last read. The windows are equal, at most kWindowBytes, and cover
  // the whole buffer but for a few lines, so a buffer of any size is read as asked.
  const size_t max_window_lines = kWindowBytes / 64;
  const size_t windows_per_sweep = (n_lines + max_window_lines - 1) / max_window_lines;
  const size_t window_lines = n_lines / windows_per_sweep;
  const size_t window_words = window_lines * kWordsPerLine;
  const size_t n_words = windows_per_sweep * window_words;
  // Left uninitialised here: each thread writes the slices it will read first, so the operating
  // system places those pages near that thread.
  // On huge pages like the weights the model streams (core/host_memory.h).
  HostMemory buffer;
  try {
    buffer = HostMemory(n_words * sizeof(uint64_t));
  } catch (const std::bad_alloc&) {
    throw Error(str("cannot allocate ", n_words * sizeof(uint64_t) >> 20,
                    " MiB for the bandwidth measurement; ask for a smaller buffer"));
  }
  auto* words = reinterpret_cast<uint64_t*>(buffer.data());
  pool.run([&](int index, int n_threads) {
    const Slice s = slice_of(window_lines, index, n_threads);
    for (size_t w = 0; w < windows_per_sweep; ++w) {
      std::fill(words + w * window_words + s.begin, words + w * window_words + s.end, uint64_t{1});
    }
  });

  std::vector<uint64_t> sums(static_cast<size_t>(pool.size()));
  std::vector<double> rates;
  for (size_t w = 0; w < windows_per_sweep * static_cast<size_t>(sweeps); ++w) {
    const uint64_t* window = words + (w % windows_per_sweep) * window_words;
    const auto start = std::chrono::steady_clock::now();
    pool.run([&](int index, int n_threads) {
      const Slice s = slice_of(window_lines, index, n_threads);
      sums[static_cast<size_t>(index)] = sum_words(window + s.begin, s.end - s.begin);
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Checking the sum makes it observable, so the compiler cannot drop the reads.
    uint64_t total = 0;
    for (uint64_t s : sums) total += s;
    BOTTEGA_CHECK(total == window_words, "bandwidth window summed to ", total, ", expected ",
                  window_words);
    if (seconds > 0.0) {
      rates.push_back(static_cast<double>(window_words * sizeof(uint64_t)) / seconds);
    }
  }
  // The median, not the best: on a host whose memory is shared with other machines the best
  // window catches a moment nobody else was reading, which decoding, lasting seconds, never gets.
  return rate_at(std::move(rates), 0.5);
}

}  // namespace bottega::hw
