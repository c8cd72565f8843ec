// NEON attention row kernels (base AArch64).
#include <arm_neon.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/attention_rows.h"

namespace bottega::kernels {
namespace {

float dot_row(const float* x, const float* row, int64_t dim) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(x + d), vld1q_f32(row + d));
    acc1 = vfmaq_f32(acc1, vld1q_f32(x + d + 4), vld1q_f32(row + d + 4));
  }
  for (; d + 4 <= dim; d += 4) acc0 = vfmaq_f32(acc0, vld1q_f32(x + d), vld1q_f32(row + d));
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; d < dim; ++d) sum += x[d] * row[d];
  return sum;
}

// Four rows at a time, so each 4-value piece of x is loaded once for four multiply-adds.
void dot_rows_neon(const float* x, const float* rows, int64_t n_rows, int64_t dim, float scale,
                   float* out) {
  const int64_t vector_dim = dim / 4 * 4;
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) {
    const float* row[4] = {rows + r * dim, rows + (r + 1) * dim, rows + (r + 2) * dim,
                           rows + (r + 3) * dim};
    float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),
                          vdupq_n_f32(0.0f)};
    for (int64_t d = 0; d < vector_dim; d += 4) {
      const float32x4_t xv = vld1q_f32(x + d);
      for (int k = 0; k < 4; ++k) acc[k] = vfmaq_f32(acc[k], xv, vld1q_f32(row[k] + d));
    }
    for (int k = 0; k < 4; ++k) {
      float sum = vaddvq_f32(acc[k]);
      for (int64_t d = vector_dim; d < dim; ++d) sum += x[d] * row[k][d];
      out[r + k] = scale * sum;
    }
  }
  for (; r < n_rows; ++r) out[r] = scale * dot_row(x, rows + r * dim, dim);
}

// 16 output values stay in four registers while every row streams past them.
void accumulate_rows_neon(const float* weights, const float* rows, int64_t n_rows, int64_t dim,
                          float* out) {
  int64_t d = 0;
  for (; d + 16 <= dim; d += 16) {
    float32x4_t o[4] = {vld1q_f32(out + d), vld1q_f32(out + d + 4), vld1q_f32(out + d + 8),
                        vld1q_f32(out + d + 12)};
    for (int64_t r = 0; r < n_rows; ++r) {
      const float* row = rows + r * dim + d;
      for (int k = 0; k < 4; ++k) o[k] = vfmaq_n_f32(o[k], vld1q_f32(row + 4 * k), weights[r]);
    }
    for (int k = 0; k < 4; ++k) vst1q_f32(out + d + 4 * k, o[k]);
  }
  for (; d + 4 <= dim; d += 4) {
    float32x4_t o = vld1q_f32(out + d);
    for (int64_t r = 0; r < n_rows; ++r)
      o = vfmaq_n_f32(o, vld1q_f32(rows + r * dim + d), weights[r]);
    vst1q_f32(out + d, o);
  }
  for (; d < dim; ++d) {
    float sum = out[d];
    for (int64_t r = 0; r < n_rows; ++r) sum += weights[r] * rows[r * dim + d];
    out[d] = sum;
  }
}

// e^x for x <= 0 (softmax's arguments after subtracting the maximum). x = k ln2 + r with
// |r| <= ln2 / 2; e^r from its Taylor polynomial of degree 7 (the remainder is below 1e-8
// relative), times 2^k assembled in the exponent field. Where e^x is below FLT_MIN (x < -87,
// and -inf) the result is 0.
float32x4_t exp_nonpositive(float32x4_t x) {
  const float32x4_t lowest = vdupq_n_f32(-87.0f);
  const uint32x4_t underflow = vcltq_f32(x, lowest);
  x = vmaxq_f32(x, lowest);
  const float32x4_t k = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
  // ln 2 as a high part with few mantissa bits (k times it is exact) plus the remainder.
  float32x4_t r = vfmsq_f32(x, k, vdupq_n_f32(0.693145751953125f));
  r = vfmsq_f32(r, k, vdupq_n_f32(1.428606765330187e-6f));
  constexpr float kInverseFactorial[8] = {1.0f,      1.0f,       1.0f / 2,   1.0f / 6,
                                          1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};
  float32x4_t p = vdupq_n_f32(kInverseFactorial[7]);
  for (int i = 6; i >= 0; --i) p = vfmaq_f32(vdupq_n_f32(kInverseFactorial[i]), p, r);
  const int32x4_t exponent = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
  const float32x4_t e = vmulq_f32(p, vreinterpretq_f32_s32(exponent));
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(e), underflow));
}

// The normalising sum is kept in double, as the reference's: a float sum of thousands of
// probabilities would lose more than the kernels' stated 1e-6.
void softmax_neon(float* x, int64_t n) {
  const int64_t vector_n = n / 4 * 4;
  float32x4_t max4 = vdupq_n_f32(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < vector_n; i += 4) max4 = vmaxq_f32(max4, vld1q_f32(x + i));
  float max_value = vmaxvq_f32(max4);
  for (int64_t i = vector_n; i < n; ++i) max_value = std::fmax(max_value, x[i]);

  const float32x4_t max_broadcast = vdupq_n_f32(max_value);
  float64x2_t sum2 = vdupq_n_f64(0.0);
  for (int64_t i = 0; i < vector_n; i += 4) {
    const float32x4_t e = exp_nonpositive(vsubq_f32(vld1q_f32(x + i), max_broadcast));
    vst1q_f32(x + i, e);
    sum2 = vaddq_f64(sum2, vaddq_f64(vcvt_f64_f32(vget_low_f32(e)), vcvt_high_f64_f32(e)));
  }
  double sum = vaddvq_f64(sum2);
  for (int64_t i = vector_n; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  const float inverse = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < vector_n; i += 4)
    vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inverse));
  for (int64_t i = vector_n; i < n; ++i) x[i] *= inverse;
}

}  // namespace

AttentionRowKernels neon_attention_row_kernels() {
  return {dot_rows_neon, accumulate_rows_neon, softmax_neon};
}

}  // namespace bottega::kernels
