// Llama 2/3/3.1, TinyLlama, llama2.c models, and Mistral 7B / Nemo / Small, which GGUF stores as
// llama: RMSNorm, interleaved RoPE, grouped-query attention, SwiGLU. Mistral files may declare a
// head size other than n_embd / n_head (Nemo) and a sliding window, which then covers every layer.
// With expert_count it is Mixtral: a softmax router picks experts whose weights are renormalised.
#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

DecoderConfig read(const gguf::File& file) {
  DecoderConfig config = read_standard(file, "llama");
  const int32_t window = sliding_window(file, "llama");
  for (LayerConfig& layer : config.layers) layer.window = window;
  config.moe.normalize = true;
  return config;
}

DecoderConfig synth(const SynthShape& shape) {
  DecoderConfig config = synth_standard(shape, "llama");
  for (LayerConfig& layer : config.layers) layer.window = shape.window;
  config.moe.normalize = true;
  return config;
}

}  // namespace

const Architecture kLlama = {"llama", "Llama 2/3, Mistral, Mixtral, TinyLlama", read, synth, true};

}  // namespace bottega::arch
