// Qwen 1.5 / 2 mixture of experts (Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B): Qwen 2's attention (Q/K/V
// biases, NeoX RoPE) with a router over 60 or 64 experts, 4 or 8 per token with their softmax
// weights as they are, plus a shared expert that serves every token, gated by a sigmoid.
#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

void set_quirks(DecoderConfig& config) {
  config.qkv_bias = true;
  config.rope_style = kernels::RopeStyle::kNeox;
  config.moe.gating = Gating::kSoftmaxThenTopK;
  config.moe.normalize = false;
  config.moe.shared_gate = true;
}

DecoderConfig read(const gguf::File& file) {
  DecoderConfig config = read_standard(file, "qwen2moe");
  const Keys keys(file, "qwen2moe");
  if (config.moe.n_expert == 0) keys.fail("metadata key 'qwen2moe.expert_count' is missing");
  config.moe.n_ff_shared = keys.positive("expert_shared_feed_forward_length");
  set_quirks(config);
  return config;
}

DecoderConfig synth(const SynthShape& shape) {
  DecoderConfig config = synth_standard(with_default_experts(shape, 8, 2), "qwen2moe");
  set_quirks(config);
  config.norm_eps = 1e-6f;
  // Qwen1.5-MoE-A2.7B: experts of 1408, a shared expert of 5632 (4x); the same ratio here.
  config.moe.n_ff_shared = 4 * config.moe.n_ff;
  for (LayerConfig& layer : config.layers) layer.rope_base = 1000000.0f;
  return config;
}

}  // namespace

const Architecture kQwen2Moe = {"qwen2moe", "Qwen 1.5 MoE, Qwen 2 MoE", read, synth, true};

}  // namespace bottega::arch
