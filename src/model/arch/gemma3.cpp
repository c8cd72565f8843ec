// Gemma 3 (the text model): Gemma 2's block without soft-capping and with a per-head RMS norm of
// queries and keys; five local layers (sliding window, RoPE base 10 000) to one global layer (the
// file's base and linear scaling).
#include <cmath>

#include "core/error.h"
#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

constexpr size_t kPattern = 6;  // layers l with l % 6 < 5 are local
constexpr float kLocalRopeBase = 10000.0f;
// The 27B model scales queries by n_embd / n_head (168) rather than its head size (128).
constexpr int k27bLayers = 62;

void set_quirks(DecoderConfig& config, int32_t window) {
  const ModelInfo& info = config.info;
  config.activation = Activation::kGeluTanh;
  config.rope_style = kernels::RopeStyle::kNeox;
  config.post_norms = true;
  config.qk_norm = true;
  config.embedding_scale = std::sqrt(static_cast<float>(info.n_embd));
  if (info.n_layer == k27bLayers) {
    config.attention_scale = 1.0f / std::sqrt(static_cast<float>(info.n_embd / info.n_head));
  }
  for (size_t l = 0; l < config.layers.size(); ++l) {
    if (l % kPattern == kPattern - 1) continue;
    config.layers[l].window = window;
    config.layers[l].rope_base = kLocalRopeBase;
    config.layers[l].rope_scale = 1.0f;
  }
}

DecoderConfig read(const gguf::File& file) {
  DecoderConfig config = read_standard(file, "gemma3");
  const Keys keys(file, "gemma3");
  const int32_t window = sliding_window(file, "gemma3");
  if (window <= 0)
    keys.fail(str("metadata key '", keys.key("attention.sliding_window"),
                  "' is missing; Gemma 3's local layers need it"));
  set_quirks(config, window);
  config.attn_softcap = static_cast<float>(keys.real("attn_logit_softcapping").value_or(0.0));
  config.final_softcap = static_cast<float>(keys.real("final_logit_softcapping").value_or(0.0));
  return config;
}

DecoderConfig synth(const SynthShape& shape) {
  DecoderConfig config = synth_standard(shape, "gemma3");
  config.norm_eps = 1e-6f;
  config.tied_head = true;
  for (LayerConfig& layer : config.layers) {
    layer.rope_base = 1000000.0f;
    layer.rope_scale = 0.125f;  // the 4B and larger models' linear factor 8
  }
  set_quirks(config, shape.window > 0 ? shape.window : 1024);
  return config;
}

}  // namespace

const Architecture kGemma3 = {"gemma3", "Gemma 3", read, synth};

}  // namespace bottega::arch
