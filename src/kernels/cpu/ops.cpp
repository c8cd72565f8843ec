#include "kernels/cpu/ops.h"

#include <cmath>
#include <limits>

namespace bottega::kernels {

float dot(const float* a, const float* b, int64_t n) {
  // Eight independent partial sums let the compiler keep a vector register busy without
  // reassociating a single accumulator (which it may not do without -ffast-math).
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) partial[j] += a[i + j] * b[i + j];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (float p : partial) sum += p;
  return sum;
}

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double sum_squares = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_squares += static_cast<double>(x[i]) * x[i];
  const float scale =
      1.0f / std::sqrt(static_cast<float>(sum_squares / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void geglu(const float* gate, const float* up, float* out, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * (g + 0.044715f * g * g * g))) * up[i];
  }
}

void softcap(float* x, int64_t n, float cap) {
  const float inverse = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] * inverse);
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void rope(float* x, int n_head, int head_dim, int pos, const RopeParams& params) {
  const int half = params.n_rot / 2;
  const float position = static_cast<float>(pos) * params.freq_scale;
  for (int i = 0; i < half; ++i) {
    // theta_i = pos * base^(-2i / n_rot), divided by the optional per-pair factor.
    float theta = position * std::pow(params.freq_base, -2.0f * static_cast<float>(i) /
                                                            static_cast<float>(params.n_rot));
    if (!params.freq_factors.empty()) theta /= params.freq_factors[static_cast<size_t>(i)];
    const float cos_theta = std::cos(theta) * params.attn_factor;
    const float sin_theta = std::sin(theta) * params.attn_factor;
    const int first = params.style == RopeStyle::kInterleaved ? 2 * i : i;
    const int second = params.style == RopeStyle::kInterleaved ? 2 * i + 1 : i + half;
    for (int h = 0; h < n_head; ++h) {
      float* head = x + static_cast<int64_t>(h) * head_dim;
      const float a = head[first];
      const float b = head[second];
      head[first] = a * cos_theta - b * sin_theta;
      head[second] = a * sin_theta + b * cos_theta;
    }
  }
}

}  // namespace bottega::kernels
