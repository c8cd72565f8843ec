// Phi-3 / 3.5 mini and medium, Phi-4-mini: one fused QKV matrix, a fused gate+up matrix (gate rows
// first), NeoX RoPE (possibly over part of the head), a sliding window on every layer when the file
// sets one, and LongRoPE: per-pair frequency divisors, a long set for contexts beyond the original
// one and a short set otherwise, with both rotated halves scaled by rope.scaling.attn_factor.
#include <algorithm>
#include <cmath>

#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

void set_quirks(DecoderConfig& config, int32_t window) {
  config.fused_qkv = true;
  config.fused_gate_up = true;
  config.rope_style = kernels::RopeStyle::kNeox;
  for (LayerConfig& layer : config.layers) layer.window = window;
}

DecoderConfig read(const gguf::File& file) {
  DecoderConfig config = read_standard(file, "phi3");
  const Keys keys(file, "phi3");
  set_quirks(config, sliding_window(file, "phi3"));
  config.long_rope = file.find_tensor("rope_factors_long.weight") != nullptr;
  config.original_context =
      keys.integer("rope.scaling.original_context_length").value_or(config.info.n_ctx_train);
  if (config.long_rope) {
    config.rope_attn_factor =
        static_cast<float>(keys.real("rope.scaling.attn_factor").value_or(1.0));
  }
  return config;
}

DecoderConfig synth(const SynthShape& shape) {
  DecoderConfig config = synth_standard(shape, "phi3");
  set_quirks(config, shape.window);
  // Phi-3.5-mini's proportions: trained at 4096, extended 32 times.
  config.long_rope = true;
  config.original_context = std::max<int64_t>(2, shape.n_ctx / 32);
  const double scale =
      static_cast<double>(shape.n_ctx) / static_cast<double>(config.original_context);
  if (scale > 1.0) {
    config.rope_attn_factor = static_cast<float>(
        std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(config.original_context))));
  }
  return config;
}

}  // namespace

const Architecture kPhi3 = {"phi3", "Phi-3, Phi-3.5, Phi-4-mini", read, synth};

}  // namespace bottega::arch
