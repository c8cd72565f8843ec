// AVX2 attention row kernels; compiled with -mavx2 -mfma (CMakeLists.txt).
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/exp_avx2_inl.h"
#include "kernels/cpu/lane_tiles_inl.h"

namespace bottega::kernels {
namespace {

float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Four rows at a time, so each 8-value piece of x is loaded once for four FMAs, and the four
// sums leave through one horizontal-add tree.
void dot_rows_avx2(const float* x, const float* rows, int64_t n_rows, int64_t dim, float scale,
                   float* out) {
  const int64_t vector_dim = dim / 8 * 8;
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) {
    const float* r0 = rows + r * dim;
    const float* r1 = r0 + dim;
    const float* r2 = r1 + dim;
    const float* r3 = r2 + dim;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t d = 0; d < vector_dim; d += 8) {
      const __m256 xv = _mm256_loadu_ps(x + d);
      a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(r0 + d), a0);
      a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(r1 + d), a1);
      a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(r2 + d), a2);
      a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(r3 + d), a3);
    }
    const __m256 pairs = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m128 sums = _mm_add_ps(_mm256_castps256_ps128(pairs), _mm256_extractf128_ps(pairs, 1));
    alignas(16) float tail[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t d = vector_dim; d < dim; ++d) {
      tail[0] += x[d] * r0[d];
      tail[1] += x[d] * r1[d];
      tail[2] += x[d] * r2[d];
      tail[3] += x[d] * r3[d];
    }
    sums = _mm_mul_ps(_mm_add_ps(sums, _mm_load_ps(tail)), _mm_set1_ps(scale));
    _mm_storeu_ps(out + r, sums);
  }
  for (; r < n_rows; ++r) {
    const float* row = rows + r * dim;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t d = 0; d < vector_dim; d += 8) {
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + d), _mm256_loadu_ps(row + d), acc);
    }
    float sum = horizontal_sum(acc);
    for (int64_t d = vector_dim; d < dim; ++d) sum += x[d] * row[d];
    out[r] = scale * sum;
  }
}

// 32 output values stay in four registers while every row streams past them.
void accumulate_rows_avx2(const float* weights, const float* rows, int64_t n_rows, int64_t dim,
                          float* out) {
  int64_t d = 0;
  for (; d + 32 <= dim; d += 32) {
    __m256 o0 = _mm256_loadu_ps(out + d), o1 = _mm256_loadu_ps(out + d + 8);
    __m256 o2 = _mm256_loadu_ps(out + d + 16), o3 = _mm256_loadu_ps(out + d + 24);
    for (int64_t r = 0; r < n_rows; ++r) {
      const float* row = rows + r * dim + d;
      const __m256 w = _mm256_broadcast_ss(weights + r);
      o0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row), o0);
      o1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 8), o1);
      o2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 16), o2);
      o3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 24), o3);
    }
    _mm256_storeu_ps(out + d, o0);
    _mm256_storeu_ps(out + d + 8, o1);
    _mm256_storeu_ps(out + d + 16, o2);
    _mm256_storeu_ps(out + d + 24, o3);
  }
  for (; d + 8 <= dim; d += 8) {
    __m256 o = _mm256_loadu_ps(out + d);
    for (int64_t r = 0; r < n_rows; ++r) {
      o = _mm256_fmadd_ps(_mm256_broadcast_ss(weights + r), _mm256_loadu_ps(rows + r * dim + d), o);
    }
    _mm256_storeu_ps(out + d, o);
  }
  for (; d < dim; ++d) {
    float sum = out[d];
    for (int64_t r = 0; r < n_rows; ++r) sum += weights[r] * rows[r * dim + d];
    out[d] = sum;
  }
}

float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

void softmax_avx2(float* x, int64_t n) {
  const int64_t vector_n = n / 8 * 8;
  __m256 max8 = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < vector_n; i += 8) max8 = _mm256_max_ps(max8, _mm256_loadu_ps(x + i));
  float max_value = horizontal_max(max8);
  for (int64_t i = vector_n; i < n; ++i) max_value = std::fmax(max_value, x[i]);

  const __m256 max_broadcast = _mm256_set1_ps(max_value);
  __m256 sum8 = _mm256_setzero_ps();
  for (int64_t i = 0; i < vector_n; i += 8) {
    const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(x + i), max_broadcast));
    _mm256_storeu_ps(x + i, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  float sum = horizontal_sum(sum8);
  for (int64_t i = vector_n; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  const __m256 inverse = _mm256_set1_ps(1.0f / sum);
  for (int64_t i = 0; i < vector_n; i += 8) {
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inverse));
  }
  for (int64_t i = vector_n; i < n; ++i) x[i] *= 1.0f / sum;
}

// Rows x lanes of scores in registers: kRows rows of keys against kBlocks 8-lane blocks of
// queries, one broadcast key number and kBlocks query loads per step of d.
template <int kRows, int kBlocks>
void dot_lanes_tile(const float* q_t, const float* rows, int64_t dim, int64_t width,
                    float* scores_t) {
  __m256 acc[kRows * kBlocks];
  // Unrolled so that the zeroing stays in registers (a loop becomes a memset of a stack copy).
#pragma GCC unroll 16
  for (int i = 0; i < kRows * kBlocks; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t d = 0; d < dim; ++d) {
    const __m256 q0 = _mm256_loadu_ps(q_t + d * width);
    const __m256 q1 = kBlocks > 1 ? _mm256_loadu_ps(q_t + d * width + 8) : q0;
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const __m256 k = _mm256_broadcast_ss(rows + r * dim + d);
      acc[r * kBlocks] = _mm256_fmadd_ps(k, q0, acc[r * kBlocks]);
      if (kBlocks > 1) acc[r * kBlocks + 1] = _mm256_fmadd_ps(k, q1, acc[r * kBlocks + 1]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
    for (int b = 0; b < kBlocks; ++b) {
      _mm256_storeu_ps(scores_t + r * width + 8 * b, acc[r * kBlocks + b]);
    }
  }
}

template <int kRows, int kBlocks>
void dot_lanes_blocks(const float* q_t, const float* rows, int64_t n_rows, int64_t dim,
                      int64_t width, float* scores_t) {
  in_tiles<kRows>(n_rows, [&]<int kTileRows>(int64_t r) {
    dot_lanes_tile<kTileRows, kBlocks>(q_t, rows + r * dim, dim, width, scores_t + r * width);
  });
}

void dot_lanes_avx2(const float* q_t, const float* rows, int64_t n_rows, int64_t dim, int64_t width,
                    float* scores_t) {
  int64_t lane = 0;
  for (; lane + 16 <= width; lane += 16) {
    dot_lanes_blocks<6, 2>(q_t + lane, rows, n_rows, dim, width, scores_t + lane);
  }
  if (lane < width) dot_lanes_blocks<12, 1>(q_t + lane, rows, n_rows, dim, width, scores_t + lane);
}

void softmax_lanes_avx2(float* x_t, int64_t n, int64_t width, float* lane_max, float* lane_sum) {
  for (int64_t lane = 0; lane < width; lane += 8) {
    float* x = x_t + lane;
    __m256 max8 = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    for (int64_t i = 0; i < n; ++i) max8 = _mm256_max_ps(max8, _mm256_loadu_ps(x + i * width));
    __m256 sum8 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; ++i) {
      const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(x + i * width), max8));
      _mm256_storeu_ps(x + i * width, e);
      sum8 = _mm256_add_ps(sum8, e);
    }
    if (lane_max != nullptr) _mm256_storeu_ps(lane_max + lane, max8);
    if (lane_sum != nullptr) _mm256_storeu_ps(lane_sum + lane, sum8);
    const __m256 inverse = _mm256_div_ps(_mm256_set1_ps(1.0f), sum8);
    for (int64_t i = 0; i < n; ++i) {
      _mm256_storeu_ps(x + i * width, _mm256_mul_ps(_mm256_loadu_ps(x + i * width), inverse));
    }
  }
}

// Values x lanes of outputs in registers: kValues values of every row against kBlocks 8-lane
// blocks of weights, one broadcast value and kBlocks weight loads per row.
template <int kValues, int kBlocks>
void weighted_sum_lanes_tile(const float* weights_t, const float* rows, int64_t n_rows, int64_t dim,
                             int64_t width, float* out_t) {
  __m256 acc[kValues * kBlocks];
  // Unrolled so that the accumulators stay in registers (a loop becomes a stack copy).
#pragma GCC unroll 16
  for (int v = 0; v < kValues; ++v) {
    for (int b = 0; b < kBlocks; ++b)
      acc[v * kBlocks + b] = _mm256_loadu_ps(out_t + v * width + 8 * b);
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const __m256 w0 = _mm256_loadu_ps(weights_t + r * width);
    const __m256 w1 = kBlocks > 1 ? _mm256_loadu_ps(weights_t + r * width + 8) : w0;
#pragma GCC unroll 16
    for (int v = 0; v < kValues; ++v) {
      const __m256 x = _mm256_broadcast_ss(rows + r * dim + v);
      acc[v * kBlocks] = _mm256_fmadd_ps(w0, x, acc[v * kBlocks]);
      if (kBlocks > 1) acc[v * kBlocks + 1] = _mm256_fmadd_ps(w1, x, acc[v * kBlocks + 1]);
    }
  }
#pragma GCC unroll 16
  for (int v = 0; v < kValues; ++v) {
    for (int b = 0; b < kBlocks; ++b) {
      _mm256_storeu_ps(out_t + v * width + 8 * b, acc[v * kBlocks + b]);
    }
  }
}

template <int kValues, int kBlocks>
void weighted_sum_lanes_blocks(const float* weights_t, const float* rows, int64_t n_rows,
                               int64_t dim, int64_t width, float* out_t) {
  in_tiles<kValues>(dim, [&]<int kTileValues>(int64_t d) {
    weighted_sum_lanes_tile<kTileValues, kBlocks>(weights_t, rows + d, n_rows, dim, width,
                                                  out_t + d * width);
  });
}

void weighted_sum_lanes_avx2(const float* weights_t, const float* rows, int64_t n_rows, int64_t dim,
                             int64_t width, float* out_t) {
  int64_t lane = 0;
  for (; lane + 16 <= width; lane += 16) {
    weighted_sum_lanes_blocks<6, 2>(weights_t + lane, rows, n_rows, dim, width, out_t + lane);
  }
  if (lane < width) {
    weighted_sum_lanes_blocks<12, 1>(weights_t + lane, rows, n_rows, dim, width, out_t + lane);
  }
}

}  // namespace

AttentionRowKernels avx2_attention_row_kernels() {
  return {dot_rows_avx2,  accumulate_rows_avx2, softmax_avx2,
          dot_lanes_avx2, softmax_lanes_avx2,   weighted_sum_lanes_avx2};
}

}  // namespace bottega::kernels
