// Qwen 3 mixture of experts (Qwen3-30B-A3B, Qwen3-235B-A22B, Qwen3-Coder): Qwen 3's attention with
// a router over (typically) 128 experts, of which 8 serve each token, their softmax weights
// renormalised to sum to one.
#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

void set_quirks(DecoderConfig& config) {
  config.qk_norm = true;
  config.rope_style = kernels::RopeStyle::kNeox;
  config.moe.gating = Gating::kSoftmaxThenTopK;
  config.moe.normalize = true;
}

DecoderConfig read(const gguf::File& file) {
  DecoderConfig config = read_standard(file, "qwen3moe");
  if (config.moe.n_expert == 0) {
    Keys(file, "qwen3moe").fail("metadata key 'qwen3moe.expert_count' is missing");
  }
  set_quirks(config);
  return config;
}

DecoderConfig synth(const SynthShape& shape) {
  DecoderConfig config = synth_standard(with_default_experts(shape, 8, 2), "qwen3moe");
  set_quirks(config);
  config.norm_eps = 1e-6f;
  for (LayerConfig& layer : config.layers) layer.rope_base = 1000000.0f;
  return config;
}

}  // namespace

const Architecture kQwen3Moe = {"qwen3moe", "Qwen 3 MoE, Qwen3-Coder", read, synth, true};

}  // namespace bottega::arch
