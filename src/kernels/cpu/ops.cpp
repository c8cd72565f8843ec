#include "kernels/cpu/ops.h"

#include <algorithm>
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

void swiglu_clamped(const float* gate, const float* up, float* out, int64_t n, float alpha,
                    float limit) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = std::fmin(gate[i], limit);
    const float u = std::clamp(up[i], -limit, limit);
    out[i] = g / (1.0f + std::exp(-alpha * g)) * (u + 1.0f);
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

void yarn_ramp(int n_rot, float freq_base, int64_t original_context, float beta_fast,
               float beta_slow, float& low, float& high) {
  // The pair whose wavelength fits `rotations` times into the original context.
  auto pair_for = [&](float rotations) {
    return static_cast<float>(n_rot) *
           std::log(static_cast<float>(original_context) / (rotations * 2.0f * 3.14159265358979f)) /
           (2.0f * std::log(freq_base));
  };
  low = std::max(0.0f, std::floor(pair_for(beta_fast)));
  high = std::min(static_cast<float>(n_rot - 1), std::ceil(pair_for(beta_slow)));
}

void rope(float* x, int n_head, int head_dim, int pos, const RopeParams& params) {
  const int half = params.n_rot / 2;
  float magnitude = params.attn_factor;
  if (params.yarn) magnitude *= 1.0f + 0.1f * std::log(1.0f / params.freq_scale);
  for (int i = 0; i < half; ++i) {
    // theta_i = pos * base^(-2i / n_rot), divided by the optional per-pair factor.
    float unscaled = static_cast<float>(pos) *
                     std::pow(params.freq_base,
                              -2.0f * static_cast<float>(i) / static_cast<float>(params.n_rot));
    if (!params.freq_factors.empty()) unscaled /= params.freq_factors[static_cast<size_t>(i)];
    float theta = unscaled * params.freq_scale;
    if (params.yarn) {
      const float ramp = std::clamp((static_cast<float>(i) - params.yarn_low) /
                                        std::max(0.001f, params.yarn_high - params.yarn_low),
                                    0.0f, 1.0f);
      // ramp 0: a high-frequency pair, which keeps its own frequency; 1: a scaled one.
      theta = unscaled * (1.0f - ramp) + theta * ramp;
    }
    const float cos_theta = std::cos(theta) * magnitude;
    const float sin_theta = std::sin(theta) * magnitude;
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
