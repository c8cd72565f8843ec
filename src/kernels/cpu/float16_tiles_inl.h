// The loops of the F16/BF16 interleaved kernels (gemm_float16_avx2.cpp, gemm_float16_avx512.cpp,
// gemm_bf16_avx512bf16.cpp) around an ISA's kernel of G groups x NT tokens. Everything here has
// internal linkage on purpose: each file compiles it with its own ISA's flags, and inline functions
// shared across them could let the linker hand one ISA's code to the other's callers.
//
// Kernel provides Act (the activation element: float, or uint32_t for a pair of BF16 values),
// kTokenTile (tokens a prompt tile takes), kTileGroups (groups a prompt tile takes; the groups
// past the last whole tile go one at a time), kDecodeGroups (groups one token streams side by side)
// and
//   template <int G, int NT> static void run(int64_t n_in, const uint16_t* w, const Act* x,
//                                            int64_t x_stride, float* y, int64_t y_stride);
// computing y[t * y_stride + 8 g + r] for G consecutive groups at w and NT activation rows
// (x_stride Acts apart).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/cpu/repack.h"

namespace bottega::kernels {
namespace {

namespace float16_tiles {

template <class Act>
using TokensFn = void (*)(int64_t, const uint16_t*, const Act*, int64_t, float*, int64_t);

// Kernel::run<G, NT> for NT = 1 .. kTokenTile.
template <class Kernel, int G>
constexpr std::array<TokensFn<typename Kernel::Act>, Kernel::kTokenTile> by_tokens() {
  return []<size_t... I>(std::index_sequence<I...>) {
    return std::array<TokensFn<typename Kernel::Act>, Kernel::kTokenTile>{
        &Kernel::template run<G, static_cast<int>(I) + 1>...};
  }
  (std::make_index_sequence<Kernel::kTokenTile>{});
}

template <class Kernel>
void decode(int64_t n_in, const uint16_t* w, int64_t n_groups, const typename Kernel::Act* x,
            float* y) {
  const size_t group_halves = static_cast<size_t>(n_in) * kRowGroup;
  int64_t g = 0;
  for (; g + Kernel::kDecodeGroups <= n_groups; g += Kernel::kDecodeGroups) {
    Kernel::template run<Kernel::kDecodeGroups, 1>(n_in, w + g * group_halves, x, 0,
                                                   y + g * kRowGroup, 0);
  }
  for (; g < n_groups; ++g) {
    Kernel::template run<1, 1>(n_in, w + g * group_halves, x, 0, y + g * kRowGroup, 0);
  }
}

// Every group against n_cols activation rows: the tile groups (a few tens of KB of 2048-wide rows)
// stay in L2 while the token tiles pass over them.
template <class Kernel>
void groups_rows(int64_t n_in, const uint16_t* w, int64_t n_groups, const typename Kernel::Act* x,
                 int64_t x_stride, int64_t n_cols, float* y, int64_t y_stride) {
  if (n_cols == 1) {
    decode<Kernel>(n_in, w, n_groups, x, y);
    return;
  }
  static constexpr auto kWhole = by_tokens<Kernel, Kernel::kTileGroups>();
  static constexpr auto kSingle = by_tokens<Kernel, 1>();
  const size_t group_halves = static_cast<size_t>(n_in) * kRowGroup;
  for (int64_t g = 0; g < n_groups;) {
    const bool whole = g + Kernel::kTileGroups <= n_groups;
    for (int64_t c = 0; c < n_cols; c += Kernel::kTokenTile) {
      const auto cols = static_cast<size_t>(std::min<int64_t>(Kernel::kTokenTile, n_cols - c));
      (whole ? kWhole : kSingle)[cols - 1](n_in, w + g * group_halves, x + c * x_stride, x_stride,
                                           y + c * y_stride + g * kRowGroup, y_stride);
    }
    g += whole ? Kernel::kTileGroups : 1;
  }
}

// An InterleavedTileFn over float activation rows.
template <class Kernel>
void tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a, size_t a_stride,
          int64_t n_cols, float* y, int64_t y_stride) {
  groups_rows<Kernel>(n_in, reinterpret_cast<const uint16_t*>(w), n_groups,
                      reinterpret_cast<const float*>(a),
                      static_cast<int64_t>(a_stride / sizeof(float)), n_cols, y, y_stride);
}

}  // namespace float16_tiles

}  // namespace
}  // namespace bottega::kernels
