// How the attention lane kernels (attention_rows_avx2.cpp, attention_rows_avx512.cpp) cut a run
// of rows or values into register tiles. Included by ISA files only; no instructions of its own.
#pragma once

#include <cstdint>

namespace bottega::kernels {

// tile.template operator()<n>(i) over [0, count): kWide items a call, then the rest in calls of
// 4, 2 and 1, so that a remainder takes as few passes over the shared operand as it can (64-wide
// heads leave 4 values past the last 6).
template <int kWide, class Tile>
inline void in_tiles(int64_t count, Tile tile) {
  int64_t i = 0;
  for (; i + kWide <= count; i += kWide) tile.template operator()<kWide>(i);
  for (; i + 4 <= count; i += 4) tile.template operator()<4>(i);
  if (i + 2 <= count) {
    tile.template operator()<2>(i);
    i += 2;
  }
  if (i < count) tile.template operator()<1>(i);
}

}  // namespace bottega::kernels
