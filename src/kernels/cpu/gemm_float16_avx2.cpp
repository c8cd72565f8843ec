// F16 and BF16 rows interleaved 8 at a time (repack.h) against float activations, in AVX2.
// Compiled with the AVX2 flags on x86-64 only and reached through gemm_avx2.cpp's table.
//
// A pair of values of 8 rows widens to two registers, rows 0..3 and rows 4..7, whose lane
// 2 r + p holds row r's element 2 j + p; a broadcast pair of activation values multiplies both.
// Each lane sums its products in the order of j and a row is the sum of its two lanes, whatever
// the number of tokens or rows a call computes: decode and prompts give a token the same bits
// (batch_invariance_test). The AVX-512 kernel (gemm_float16_avx512.cpp) has the same order.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/float16_tiles_inl.h"
#include "kernels/cpu/repack.h"
#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {
namespace {

constexpr size_t kPairHalves = 2 * kRowGroup;

__m128i load_half_pair(const uint16_t* group, int64_t j, int h) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(group + kPairHalves * j + 8 * h));
}

// Rows 4 h .. 4 h + 3 of pair j, as floats.
struct WidenF16 {
  static __m256 half_pair(const uint16_t* group, int64_t j, int h) {
    return _mm256_cvtph_ps(load_half_pair(group, j, h));
  }
};
struct WidenBF16 {  // a BF16 value is the top half of its float
  static __m256 half_pair(const uint16_t* group, int64_t j, int h) {
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(load_half_pair(group, j, h)), 16));
  }
};

__m256 broadcast_pair(const float* x, int64_t j) {
  double pair;
  std::memcpy(&pair, x + 2 * j, sizeof(pair));
  return _mm256_castpd_ps(_mm256_set1_pd(pair));
}

// The 8 rows of a group from the lane sums of its rows 0..3 and 4..7.
__m256 row_sums(__m256 low, __m256 high) {
  // hadd gives rows 0 1 4 5 2 3 6 7; the 64-bit permute puts them in order.
  const __m256 sums = _mm256_hadd_ps(low, high);
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(sums), 0xd8));
}

// G consecutive groups against NT activation rows x (x_stride floats apart);
// y[t * y_stride + 8 g + r].
template <class Widen, int G, int NT>
void groups_tokens(int64_t n_in, const uint16_t* w, const float* x, int64_t x_stride, float* y,
                   int64_t y_stride) {
  const size_t group_halves = static_cast<size_t>(n_in) * kRowGroup;
  __m256 acc[G][2][NT];
  for (int g = 0; g < G; ++g) {
    for (int t = 0; t < NT; ++t) acc[g][0][t] = acc[g][1][t] = _mm256_setzero_ps();
  }
  for (int64_t j = 0; j < n_in / 2; ++j) {
    for (int g = 0; g < G; ++g) {
      const __m256 low = Widen::half_pair(w + g * group_halves, j, 0);
      const __m256 high = Widen::half_pair(w + g * group_halves, j, 1);
      for (int t = 0; t < NT; ++t) {
        const __m256 xv = broadcast_pair(x + t * x_stride, j);
        acc[g][0][t] = _mm256_fmadd_ps(low, xv, acc[g][0][t]);
        acc[g][1][t] = _mm256_fmadd_ps(high, xv, acc[g][1][t]);
      }
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int t = 0; t < NT; ++t) {
      _mm256_storeu_ps(y + t * y_stride + g * kRowGroup, row_sums(acc[g][0][t], acc[g][1][t]));
    }
  }
}

// The kernels the loops of float16_tiles_inl.h run.
template <class Widen>
struct Tiles {
  using Act = float;
  // Tokens per prompt tile: 6 tokens x 2 registers of one group keep 12 accumulators, the 2 widened
  // weight registers and an activation pair in the 16 YMM registers.
  static constexpr int kTokenTile = 6;
  static constexpr int kTileGroups = 1;
  // Groups one token streams side by side in decode: 8 independent sums cover the FMA's latency.
  static constexpr int kDecodeGroups = kFloat16DecodeGroupsAvx2;
  template <int G, int NT>
  static void run(int64_t n_in, const uint16_t* w, const float* x, int64_t x_stride, float* y,
                  int64_t y_stride) {
    groups_tokens<Widen, G, NT>(n_in, w, x, x_stride, y, y_stride);
  }
};

}  // namespace

void avx2_f16_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                               size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  float16_tiles::tile<Tiles<WidenF16>>(n_in, w, n_groups, a, a_stride, n_cols, y, y_stride);
}

void avx2_bf16_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                                size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  float16_tiles::tile<Tiles<WidenBF16>>(n_in, w, n_groups, a, a_stride, n_cols, y, y_stride);
}

}  // namespace bottega::kernels
