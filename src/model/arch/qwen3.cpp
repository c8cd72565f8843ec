// Qwen 3 (dense): no biases, a per-head RMS norm of queries and keys before NeoX RoPE, and a head
// size (attention.key_length) that need not be n_embd / n_head.
#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

void set_quirks(DecoderConfig& config) {
  config.qk_norm = true;
  config.rope_style = kernels::RopeStyle::kNeox;
}

DecoderConfig read(const gguf::File& file) {
  DecoderConfig config = read_standard(file, "qwen3");
  set_quirks(config);
  return config;
}

DecoderConfig synth(const SynthShape& shape) {
  DecoderConfig config = synth_standard(shape, "qwen3");
  set_quirks(config);
  config.norm_eps = 1e-6f;
  for (LayerConfig& layer : config.layers) layer.rope_base = 1000000.0f;
  return config;
}

}  // namespace

const Architecture kQwen3 = {"qwen3", "Qwen 3", read, synth};

}  // namespace bottega::arch
