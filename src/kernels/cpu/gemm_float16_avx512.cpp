// F16 and BF16 rows interleaved 8 at a time (repack.h) against float activations, in AVX-512.
// Compiled with the AVX-512 flags on x86-64 only and reached through gemm_avx512.cpp's table.
//
// A pair of values of 8 rows widens (exactly, for both types) to one register whose lane 2 r + p
// holds row r's element 2 j + p; a broadcast pair of activation values multiplies it. Each lane
// sums its products in the order of j and a row is the sum of its two lanes, whatever the number
// of tokens or rows a call computes: decode and prompts give a token the same bits
// (batch_invariance_test).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/float16_tiles_inl.h"
#include "kernels/cpu/repack.h"
#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {
namespace {

constexpr size_t kPairHalves = 2 * kRowGroup;

__m256i load_pair(const uint16_t* group, int64_t j) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + kPairHalves * j));
}

// The 16 values of pair j of a group, as floats.
struct WidenF16 {
  static __m512 pair(const uint16_t* group, int64_t j) {
    return _mm512_cvtph_ps(load_pair(group, j));
  }
};
struct WidenBF16 {  // a BF16 value is the top half of its float
  static __m512 pair(const uint16_t* group, int64_t j) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load_pair(group, j)), 16));
  }
};

__m512 broadcast_pair(const float* x, int64_t j) {
  double pair;
  std::memcpy(&pair, x + 2 * j, sizeof(pair));
  return _mm512_castpd_ps(_mm512_set1_pd(pair));
}

// The rows of two groups' lane sums: rows 0..7 of a, then rows 0..7 of b.
__m512 row_sums(__m512 a, __m512 b) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  return _mm512_add_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
}

// G consecutive groups (G even, or 1) against NT activation rows x (x_stride floats apart);
// y[t * y_stride + 8 g + r].
template <class Widen, int G, int NT>
void groups_tokens(int64_t n_in, const uint16_t* w, const float* x, int64_t x_stride, float* y,
                   int64_t y_stride) {
  const size_t group_halves = static_cast<size_t>(n_in) * kRowGroup;
  __m512 acc[G][NT];
  for (int g = 0; g < G; ++g) {
    for (int t = 0; t < NT; ++t) acc[g][t] = _mm512_setzero_ps();
  }
  for (int64_t j = 0; j < n_in / 2; ++j) {
    __m512 wv[G];
    for (int g = 0; g < G; ++g) wv[g] = Widen::pair(w + g * group_halves, j);
    for (int t = 0; t < NT; ++t) {
      const __m512 xv = broadcast_pair(x + t * x_stride, j);
      for (int g = 0; g < G; ++g) acc[g][t] = _mm512_fmadd_ps(wv[g], xv, acc[g][t]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    if constexpr (G == 1) {
      const __m512 rows = row_sums(acc[0][t], acc[0][t]);
      _mm256_storeu_ps(y + t * y_stride, _mm512_castps512_ps256(rows));
    } else {
      for (int g = 0; g < G; g += 2) {
        _mm512_storeu_ps(y + t * y_stride + g * kRowGroup, row_sums(acc[g][t], acc[g + 1][t]));
      }
    }
  }
}

// The kernels the loops of float16_tiles_inl.h run.
template <class Widen>
struct Tiles {
  using Act = float;
  // Tokens per prompt tile: 2 groups x 14 tokens keep 28 accumulators, the 2 widened weight
  // registers and an activation pair in the 32 ZMM registers.
  static constexpr int kTokenTile = 14;
  static constexpr int kTileGroups = 2;
  // Groups one token streams side by side in decode: enough independent sums to cover the FMA's
  // latency, few enough streams for the prefetchers (2 and 4 streamed slower on Zen 5).
  static constexpr int kDecodeGroups = kFloat16DecodeGroupsAvx512;
  template <int G, int NT>
  static void run(int64_t n_in, const uint16_t* w, const float* x, int64_t x_stride, float* y,
                  int64_t y_stride) {
    groups_tokens<Widen, G, NT>(n_in, w, x, x_stride, y, y_stride);
  }
};

}  // namespace

void avx512_f16_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                                 size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  float16_tiles::tile<Tiles<WidenF16>>(n_in, w, n_groups, a, a_stride, n_cols, y, y_stride);
}

void avx512_bf16_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups,
                                  const uint8_t* a, size_t a_stride, int64_t n_cols, float* y,
                                  int64_t y_stride) {
  float16_tiles::tile<Tiles<WidenBF16>>(n_in, w, n_groups, a, a_stride, n_cols, y, y_stride);
}

}  // namespace bottega::kernels
