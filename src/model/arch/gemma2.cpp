// Gemma 2: embeddings scaled by sqrt(n_embd), GELU-tanh gated FFN, norms after attention and after
// the FFN as well as before, soft-capped attention scores and logits, a sliding window on the even
// layers, NeoX RoPE and a head tied to the embedding. (GGUF files store the norm weights with
// Gemma's "1 +" already added.)
#include <cmath>

#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

// Gemma 2's defaults where a file leaves the keys out.
constexpr int32_t kDefaultWindow = 4096;
constexpr float kDefaultAttnSoftcap = 50.0f;
constexpr float kDefaultFinalSoftcap = 30.0f;
// The 27B model scales queries by its n_embd / n_head (144) rather than its head size (128);
// GGUF has no key for it, so it is known by its layer count, as llama.cpp does.
constexpr int k27bLayers = 46;

void set_quirks(DecoderConfig& config, int32_t window) {
  const ModelInfo& info = config.info;
  config.activation = Activation::kGeluTanh;
  config.rope_style = kernels::RopeStyle::kNeox;
  config.post_norms = true;
  config.embedding_scale = std::sqrt(static_cast<float>(info.n_embd));
  if (info.n_layer == k27bLayers) {
    config.attention_scale = 1.0f / std::sqrt(static_cast<float>(info.n_embd / info.n_head));
  }
  for (size_t l = 0; l < config.layers.size(); ++l) {
    config.layers[l].window = l % 2 == 0 ? window : 0;
  }
}

DecoderConfig read(const gguf::File& file) {
  DecoderConfig config = read_standard(file, "gemma2");
  const Keys keys(file, "gemma2");
  const int32_t window = sliding_window(file, "gemma2");
  set_quirks(config, window > 0 ? window : kDefaultWindow);
  config.attn_softcap =
      static_cast<float>(keys.real("attn_logit_softcapping").value_or(kDefaultAttnSoftcap));
  config.final_softcap =
      static_cast<float>(keys.real("final_logit_softcapping").value_or(kDefaultFinalSoftcap));
  return config;
}

DecoderConfig synth(const SynthShape& shape) {
  DecoderConfig config = synth_standard(shape, "gemma2");
  config.norm_eps = 1e-6f;
  config.tied_head = true;
  set_quirks(config, shape.window > 0 ? shape.window : kDefaultWindow);
  config.attn_softcap = kDefaultAttnSoftcap;
  config.final_softcap = kDefaultFinalSoftcap;
  return config;
}

}  // namespace

const Architecture kGemma2 = {"gemma2", "Gemma 2", read, synth};

}  // namespace bottega::arch
