// AVX-512 lane kernels of attention (attention_rows.h); compiled with -mavx512f (CMakeLists.txt).
// The rest of the row kernels, and the lanes these do not cover, are AVX2's.
//
// A decoding token's block of queries is one grouped-query group, usually 8 heads: 8 lanes, half
// a 512-bit register. Two cache rows (scores) or two values (weighted sums) then share a register,
// one per half, each half's number placed by one permute from 8 or 16 values loaded together.
// Every lane still fused-multiply-adds in the reference's order, so the bits are the reference's.
#include <immintrin.h>

#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/lane_tiles_inl.h"

namespace bottega::kernels {
namespace {

// [a[0..7] | b[0..7]]
__m512 halves(const float* a, const float* b) {
  const __m512d low = _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(a)));
  return _mm512_castpd_ps(_mm512_insertf64x4(low, _mm256_castps_pd(_mm256_loadu_ps(b)), 1));
}

// [a x 8 | b x 8]
__m512 halves_of(float a, float b) {
  const __m512d low = _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_set1_ps(a)));
  return _mm512_castpd_ps(_mm512_insertf64x4(low, _mm256_castps_pd(_mm256_set1_ps(b)), 1));
}

// [v[0..7] | v[0..7]]
__m512 twice(const float* v) {
  return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(v))));
}

// The permute index that puts element `low` of a register in the low half and `high` in the
// high half.
__m512i select_halves(int low, int high) {
  return _mm512_inserti64x4(_mm512_set1_epi32(low), _mm256_set1_epi32(high), 1);
}

// Width 8: scores of kPairs pairs of rows, rows 2p and 2p + 1 in one register's halves, which is
// where scores_t keeps them (row r + 1's 8 lanes follow row r's).
template <int kPairs>
void dot_pairs_tile(const float* q_t, const float* rows, int64_t dim, float* scores_t) {
  __m512 acc[kPairs];
#pragma GCC unroll 8
  for (int p = 0; p < kPairs; ++p) acc[p] = _mm512_setzero_ps();
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    __m512 keys[kPairs];
#pragma GCC unroll 8
    for (int p = 0; p < kPairs; ++p) {
      const float* row = rows + 2 * p * dim + d;
      keys[p] = halves(row, row + dim);
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const __m512 q = twice(q_t + (d + j) * 8);
      const __m512i select = select_halves(j, 8 + j);
#pragma GCC unroll 8
      for (int p = 0; p < kPairs; ++p) {
        acc[p] = _mm512_fmadd_ps(_mm512_permutexvar_ps(select, keys[p]), q, acc[p]);
      }
    }
  }
  for (; d < dim; ++d) {
    const __m512 q = twice(q_t + d * 8);
#pragma GCC unroll 8
    for (int p = 0; p < kPairs; ++p) {
      const float* row = rows + 2 * p * dim + d;
      acc[p] = _mm512_fmadd_ps(halves_of(row[0], row[dim]), q, acc[p]);
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < kPairs; ++p) _mm512_storeu_ps(scores_t + 16 * p, acc[p]);
}

// kRows rows against one block of up to 16 lanes (`lanes` of them real), one broadcast key
// number per FMA.
template <int kRows>
void dot_wide_tile(const float* q_t, const float* rows, int64_t dim, int64_t width, __mmask16 lanes,
                   float* scores_t) {
  __m512 acc[kRows];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t d = 0; d < dim; ++d) {
    const __m512 q = _mm512_maskz_loadu_ps(lanes, q_t + d * width);
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(rows[r * dim + d]), q, acc[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) _mm512_mask_storeu_ps(scores_t + r * width, lanes, acc[r]);
}

// The lanes of a block that starts at `lane`: 16, or the 8 left at the end.
__mmask16 block_lanes(int64_t lane, int64_t width) {
  return width - lane >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>(0x00FF);
}

void dot_lanes_avx512(const float* q_t, const float* rows, int64_t n_rows, int64_t dim,
                      int64_t width, float* scores_t) {
  if (width == 8) {
    in_tiles<8>(n_rows / 2, [&]<int kPairs>(int64_t p) {
      dot_pairs_tile<kPairs>(q_t, rows + 2 * p * dim, dim, scores_t + 16 * p);
    });
    if (n_rows % 2 != 0) {
      const int64_t last = n_rows - 1;
      dot_wide_tile<1>(q_t, rows + last * dim, dim, 8, block_lanes(0, 8), scores_t + last * 8);
    }
    return;
  }
  for (int64_t lane = 0; lane < width; lane += 16) {
    const __mmask16 lanes = block_lanes(lane, width);
    in_tiles<12>(n_rows, [&]<int kRows>(int64_t r) {
      dot_wide_tile<kRows>(q_t + lane, rows + r * dim, dim, width, lanes,
                           scores_t + r * width + lane);
    });
  }
}

// Width 8: kPairs pairs of output values, values 2p and 2p + 1 in one register's halves, which
// is where out_t keeps them (value d + 1's 8 lanes follow value d's). `count` (at most
// 2 * kPairs) values are real: the loads past them are masked, and so is the store.
template <int kPairs>
void weighted_pairs_tile(const float* weights_t, const float* rows, int64_t n_rows, int64_t dim,
                         int count, float* out_t) {
  static_assert(kPairs <= 8, "16 values a load");
  const auto value_mask = static_cast<__mmask16>((1u << count) - 1u);
  // The output lanes of pair p: both values' 8 lanes, the first's only, or none.
  const auto pair_lanes = [count](int p) -> __mmask16 {
    const int real = count - 2 * p;
    return real >= 2 ? 0xFFFF : real == 1 ? 0x00FF : 0;
  };
  __m512 acc[kPairs];
#pragma GCC unroll 8
  for (int p = 0; p < kPairs; ++p) acc[p] = _mm512_maskz_loadu_ps(pair_lanes(p), out_t + 16 * p);
  for (int64_t r = 0; r < n_rows; ++r) {
    const __m512 w = twice(weights_t + r * 8);
    const __m512 values = _mm512_maskz_loadu_ps(value_mask, rows + r * dim);
#pragma GCC unroll 8
    for (int p = 0; p < kPairs; ++p) {
      const __m512 v = _mm512_permutexvar_ps(select_halves(2 * p, 2 * p + 1), values);
      acc[p] = _mm512_fmadd_ps(w, v, acc[p]);
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < kPairs; ++p) _mm512_mask_storeu_ps(out_t + 16 * p, pair_lanes(p), acc[p]);
}

// kValues values against one block of up to 16 lanes of weights (`lanes` of them real).
template <int kValues>
void weighted_wide_tile(const float* weights_t, const float* rows, int64_t n_rows, int64_t dim,
                        int64_t width, __mmask16 lanes, float* out_t) {
  __m512 acc[kValues];
#pragma GCC unroll 16
  for (int v = 0; v < kValues; ++v) acc[v] = _mm512_maskz_loadu_ps(lanes, out_t + v * width);
  for (int64_t r = 0; r < n_rows; ++r) {
    const __m512 w = _mm512_maskz_loadu_ps(lanes, weights_t + r * width);
#pragma GCC unroll 16
    for (int v = 0; v < kValues; ++v) {
      acc[v] = _mm512_fmadd_ps(w, _mm512_set1_ps(rows[r * dim + v]), acc[v]);
    }
  }
#pragma GCC unroll 16
  for (int v = 0; v < kValues; ++v) _mm512_mask_storeu_ps(out_t + v * width, lanes, acc[v]);
}

void weighted_sum_lanes_avx512(const float* weights_t, const float* rows, int64_t n_rows,
                               int64_t dim, int64_t width, float* out_t) {
  if (width == 8) {
    int64_t d = 0;
    for (; d + 16 <= dim; d += 16) {
      weighted_pairs_tile<8>(weights_t, rows + d, n_rows, dim, 16, out_t + d * 8);
    }
    const auto rest = static_cast<int>(dim - d);
    if (rest > 8) {
      weighted_pairs_tile<8>(weights_t, rows + d, n_rows, dim, rest, out_t + d * 8);
    } else if (rest > 0) {
      weighted_pairs_tile<4>(weights_t, rows + d, n_rows, dim, rest, out_t + d * 8);
    }
    return;
  }
  for (int64_t lane = 0; lane < width; lane += 16) {
    const __mmask16 lanes = block_lanes(lane, width);
    in_tiles<12>(dim, [&]<int kValues>(int64_t v) {
      weighted_wide_tile<kValues>(weights_t + lane, rows + v, n_rows, dim, width, lanes,
                                  out_t + v * width + lane);
    });
  }
}

}  // namespace

AttentionRowKernels avx512_attention_row_kernels() {
  AttentionRowKernels k = avx2_attention_row_kernels();
  k.dot_lanes = dot_lanes_avx512;
  k.weighted_sum_lanes = weighted_sum_lanes_avx512;
  return k;
}

}  // namespace bottega::kernels
