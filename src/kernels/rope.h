// What a rotary position embedding computes, shared by every backend's kernels.
#pragma once

#include <cstdint>
#include <span>

namespace bottega::kernels {

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
  // YaRN (gpt-oss): pairs below yarn_low keep the unscaled frequency, pairs above yarn_high take
  // the scaled one (freq_scale), a linear ramp between; the rotated values are multiplied by
  // 1 + 0.1 ln(1 / freq_scale) as well. Off when yarn is false.
  bool yarn = false;
  float yarn_low = 0.0f;
  float yarn_high = 0.0f;
};

// The pair indices where YaRN's ramp starts and ends, for n_rot rotated dimensions trained at
// original_context positions: the pairs that turn beta_fast and beta_slow times over it, floored
// and ceiled as llama.cpp does.
void yarn_ramp(int n_rot, float freq_base, int64_t original_context, float beta_fast,
               float beta_slow, float& low, float& high);

}  // namespace bottega::kernels
