// Kernels that read several stored rows side by side read as many memory streams, more than the
// hardware prefetchers follow. While they work through the blocks of those rows, this fetches the
// rows that come next (one contiguous region, so one stream) a proportional share at a time.
// Addresses are integers: the region may lie past the matrix, which a prefetch may name (it never
// faults) but pointer arithmetic may not.
#pragma once

#include <xmmintrin.h>

#include <cstddef>
#include <cstdint>

namespace bottega::kernels {

class RowStreamPrefetch {
 public:
  // The n_rows rows after the n_rows at `rows`, spread over n_blocks steps.
  RowStreamPrefetch(const uint8_t* rows, size_t row_stride, int64_t n_rows, int64_t n_blocks)
      : next_(reinterpret_cast<uintptr_t>(rows) + static_cast<size_t>(n_rows) * row_stride),
        lines_((static_cast<size_t>(n_rows) * row_stride + 63) / 64),
        n_blocks_(static_cast<size_t>(n_blocks)) {}

  // Called at block b of n_blocks: fetches the lines due by the end of that block.
  void at_block(int64_t b) {
    const size_t target = (static_cast<size_t>(b) + 1) * lines_ / n_blocks_;
    for (; done_ < target; ++done_) {
      _mm_prefetch(reinterpret_cast<const char*>(next_ + 64 * done_), _MM_HINT_T0);
    }
  }

 private:
  uintptr_t next_;
  size_t lines_;
  size_t n_blocks_;
  size_t done_ = 0;
};

}  // namespace bottega::kernels
