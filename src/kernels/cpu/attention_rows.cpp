#include "kernels/cpu/attention_rows.h"

#include <cmath>
#include <limits>

namespace bottega::kernels {
namespace {

void dot_rows_ref(const float* x, const float* rows, int64_t n_rows, int64_t dim, float scale,
                  float* out) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = rows + r * dim;
    float sum = 0.0f;
    for (int64_t d = 0; d < dim; ++d) sum += x[d] * row[d];
    out[r] = scale * sum;
  }
}

void accumulate_rows_ref(const float* weights, const float* rows, int64_t n_rows, int64_t dim,
                         float* out) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = rows + r * dim;
    for (int64_t d = 0; d < dim; ++d) out[d] += weights[r] * row[d];
  }
}

void softmax_ref(float* x, int64_t n) {
  float max_value = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) max_value = std::fmax(max_value, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  const float inverse = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inverse;
}

void dot_lanes_ref(const float* q_t, const float* rows, int64_t n_rows, int64_t dim, int64_t width,
                   float* scores_t) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = rows + r * dim;
    for (int64_t l = 0; l < width; ++l) {
      float sum = 0.0f;
      for (int64_t d = 0; d < dim; ++d) sum = std::fma(row[d], q_t[d * width + l], sum);
      scores_t[r * width + l] = sum;
    }
  }
}

void softmax_lanes_ref(float* x_t, int64_t n, int64_t width, float* lane_max, float* lane_sum) {
  for (int64_t l = 0; l < width; ++l) {
    float max_value = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) max_value = std::fmax(max_value, x_t[i * width + l]);
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      float& x = x_t[i * width + l];
      x = std::exp(x - max_value);
      sum += x;
    }
    if (lane_max != nullptr) lane_max[l] = max_value;
    if (lane_sum != nullptr) lane_sum[l] = sum;
    const float inverse = 1.0f / sum;
    for (int64_t i = 0; i < n; ++i) x_t[i * width + l] *= inverse;
  }
}

void weighted_sum_lanes_ref(const float* weights_t, const float* rows, int64_t n_rows, int64_t dim,
                            int64_t width, float* out_t) {
  for (int64_t d = 0; d < dim; ++d) {
    for (int64_t l = 0; l < width; ++l) {
      float sum = out_t[d * width + l];
      for (int64_t r = 0; r < n_rows; ++r) {
        sum = std::fma(weights_t[r * width + l], rows[r * dim + d], sum);
      }
      out_t[d * width + l] = sum;
    }
  }
}

}  // namespace

const AttentionRowKernels& best_attention_row_kernels() {
  static const AttentionRowKernels kernels = attention_row_kernels(best_isa());
  return kernels;
}

AttentionRowKernels attention_row_kernels(Isa isa) {
  check_available(isa);
  const AttentionRowKernels simd = simd_attention_row_kernels(isa);
  if (simd.dot_rows != nullptr && simd.accumulate_rows != nullptr && simd.softmax != nullptr) {
    return simd;
  }
  return {dot_rows_ref,  accumulate_rows_ref, softmax_ref,
          dot_lanes_ref, softmax_lanes_ref,   weighted_sum_lanes_ref};
}

void dot_rows(const float* x, const float* rows, int64_t n_rows, int64_t dim, float scale,
              float* out) {
  best_attention_row_kernels().dot_rows(x, rows, n_rows, dim, scale, out);
}

void accumulate_rows(const float* weights, const float* rows, int64_t n_rows, int64_t dim,
                     float* out) {
  best_attention_row_kernels().accumulate_rows(weights, rows, n_rows, dim, out);
}

}  // namespace bottega::kernels

namespace bottega::kernels {

void softmax(float* x, int64_t n) {
  best_attention_row_kernels().softmax(x, n);
}

}  // namespace bottega::kernels
