// Qwen 2 / 2.5, QwQ, DeepSeek-R1-Distill-Qwen: the llama block with biases on the Q, K and V
// projections and NeoX-style RoPE; small sizes tie the head to the embedding.
#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

void set_quirks(DecoderConfig& config) {
  config.qkv_bias = true;
  config.rope_style = kernels::RopeStyle::kNeox;
}

DecoderConfig read(const gguf::File& file) {
  DecoderConfig config = read_standard(file, "qwen2");
  set_quirks(config);
  return config;
}

DecoderConfig synth(const SynthShape& shape) {
  DecoderConfig config = synth_standard(shape, "qwen2");
  set_quirks(config);
  for (LayerConfig& layer : config.layers) layer.rope_base = 1000000.0f;
  return config;
}

}  // namespace

const Architecture kQwen2 = {"qwen2", "Qwen 2, Qwen 2.5, QwQ, DeepSeek-R1-Distill-Qwen", read,
                             synth};

}  // namespace bottega::arch
