// The decode ceiling as the kernels meet it: how fast the matrix-vector kernel streams weights
// that no cache holds. The plain read bandwidth (bandwidth.h) is the hardware's roofline; on a
// shared host it moves from one minute to the next more than decoding does, because decode is
// limited by the loads a core keeps in flight while it also unpacks and multiplies, so the
// planner predicts decode from this probe instead.
#pragma once

#include <cstddef>

#include "core/thread_pool.h"

namespace bottega::hw {

// Passes over the buffer: a few hundred timed matrices with the default size, about half a second.
constexpr int kDefaultDecodeSweeps = 4;

// Copies of one Q4_0 matrix of a 1B model's feed-forward shape (2048 x 5632, 6.5 MB, larger than
// any core's private caches) filling about `bytes` bytes (at least two copies), in the layout the
// kernels prefer on this CPU; each copy is multiplied by one activation vector with matmul() on the
// pool's threads, as decoding does layer after layer, cycling through the copies `sweeps` times.
// Returns the median matrix's stored weight bytes per second. Throws Error when the buffer cannot
// be allocated; a kernel whose results differ between identical copies is a programmer error.
double measure_decode_stream(ThreadPool& pool, size_t bytes, int sweeps = kDefaultDecodeSweeps);

}  // namespace bottega::hw
