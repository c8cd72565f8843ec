// gpt-oss (20b, 120b): biases on Q, K, V and the output projection, a learned "sink" logit per
// head that joins each attention softmax, a window of 128 positions on the even layers, YaRN RoPE
// (NeoX pairs), and a mixture of experts whose router has a bias, whose top 4 logits are
// softmaxed among themselves, and whose experts (with biases) use a clamped SwiGLU:
// min(gate, 7) * sigmoid(1.702 * that) * (clamp(up, -7, 7) + 1).
#include <algorithm>

#include "core/error.h"
#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

constexpr int32_t kDefaultWindow = 128;

void set_quirks(DecoderConfig& config, int32_t window) {
  config.qkv_bias = true;
  config.output_bias = true;
  config.attn_sinks = true;
  config.rope_style = kernels::RopeStyle::kNeox;
  config.activation = Activation::kSwigluClamped;
  config.ffn_norm_named_post_attention = true;
  config.moe.gating = Gating::kTopKThenSoftmax;
  config.moe.router_bias = true;
  config.moe.expert_biases = true;
  for (size_t l = 0; l < config.layers.size(); ++l) {
    config.layers[l].window = l % 2 == 0 ? window : 0;
  }
}

DecoderConfig read(const gguf::File& file) {
  DecoderConfig config = read_standard(file, "gpt-oss");
  if (config.moe.n_expert == 0) {
    Keys(file, "gpt-oss").fail("metadata key 'gpt-oss.expert_count' is missing");
  }
  const int32_t window = sliding_window(file, "gpt-oss");
  set_quirks(config, window > 0 ? window : kDefaultWindow);
  return config;
}

DecoderConfig synth(const SynthShape& shape) {
  DecoderConfig config = synth_standard(with_default_experts(shape, 8, 4), "gpt-oss");
  set_quirks(config, shape.window > 0 ? shape.window : kDefaultWindow);
  // gpt-oss's proportions: trained at 4096 positions, extended 32 times with YaRN.
  config.yarn = true;
  config.original_context = std::max<int64_t>(2, shape.n_ctx / 32);
  for (LayerConfig& layer : config.layers) {
    layer.rope_base = 150000.0f;
    layer.rope_scale = 1.0f / 32.0f;
  }
  return config;
}

}  // namespace

const Architecture kGptOss = {"gpt-oss", "gpt-oss 20b / 120b", read, synth, true};

}  // namespace bottega::arch
