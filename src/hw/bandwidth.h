// Memory read bandwidth: the ceiling for decoding, which streams every weight once per token.
#pragma once

#include <cstddef>

#include "core/thread_pool.h"

namespace bottega::hw {

// A buffer size large enough to defeat every cache level yet small against physical memory:
// 1 GiB, or an eighth of the machine's memory when that is less.
size_t default_bandwidth_bytes();

// Enough 64 MiB windows over the default buffer (about a second of reading) that their median
// holds still from one measurement to the next on a shared host.
constexpr int kDefaultBandwidthSweeps = 12;

// Sustained read bandwidth: `sweeps` passes over a buffer of about `bytes` bytes, timed in windows
// of 64 MiB (or the whole buffer when smaller), in each of which every thread of the pool sums its
// own slice (first written by the thread that reads it, so the pages live on that thread's memory
// node). Returns the median window's bytes read per second. Throws Error when the buffer cannot be
// allocated or is too small to give every thread a slice.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes = default_bandwidth_bytes(),
                              int sweeps = kDefaultBandwidthSweeps);

}  // namespace bottega::hw
