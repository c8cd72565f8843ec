// Element-wise and row-wise operations of a transformer forward pass, on float rows.
// Shapes are given per call; every pointer is to contiguous floats.
#pragma once

#include <cstdint>
#include <span>

namespace bottega::kernels {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], for one row of n values. out may alias x.
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// out[i] = silu(gate[i]) * up[i]; out may alias gate.
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// out[i] = gelu(gate[i]) * up[i] with GELU's tanh approximation (Gemma); out may alias gate.
void geglu(const float* gate, const float* up, float* out, int64_t n);

// x[i] = cap * tanh(x[i] / cap): Gemma 2's soft limit on attention scores and logits.
void softcap(float* x, int64_t n, float cap);

// y[i] += x[i]
void add(float* y, const float* x, int64_t n);

float dot(const float* a, const float* b, int64_t n);

// Rotary position embedding. GGUF llama files store Q/K so that rotated pairs are adjacent
// (interleaved: (0,1), (2,3), ...); NeoX-style models pair dimension i with i + n_rot/2.
enum class RopeStyle { kInterleaved, kNeox };

struct RopeParams {
  RopeStyle style = RopeStyle::kInterleaved;
  int n_rot = 0;  // rotated dimensions per head (<= head_dim); the rest pass through
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;  // linear scaling: positions are multiplied by this
  // Per-pair divisors of the frequency (Llama 3.1+ rope_freqs.weight), n_rot/2 values; empty = 1.
  std::span<const float> freq_factors;
  float attn_factor = 1.0f;  // both rotated values are multiplied by it (Phi-3's LongRoPE)
};

// Rotates n_head heads of head_dim values each, laid out head after head, for position pos.
void rope(float* x, int n_head, int head_dim, int pos, const RopeParams& params);

}  // namespace bottega::kernels
