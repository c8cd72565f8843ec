// Memory read bandwidth: the ceiling for decoding, which streams every weight once per token.
#pragma once

#include <cstddef>

#include "core/thread_pool.h"

namespace bottega::hw {

// A buffer size large enough to defeat every cache level yet small against physical memory:
// 1 GiB, or an eighth of the machine's memory when that is less.
size_t default_bandwidth_bytes();

// Best of `repetitions` passes in which every thread of the pool sums its own slice of a buffer of
// about `bytes` bytes (each slice first written by the thread that reads it, so the pages live on
// that thread's memory node). Returns bytes read per second. Throws Error when the buffer cannot be
// allocated or is too small to give every thread a slice.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes = default_bandwidth_bytes(),
                              int repetitions = 5);

}  // namespace bottega::hw
