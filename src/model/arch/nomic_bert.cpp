// nomic-bert (nomic-embed-text v1 / v1.5): BERT's post-LayerNorm blocks with rotary positions
// (NeoX pairs over whole heads) instead of a position table, one fused attn_qkv matrix, no biases
// on the projections, and a SwiGLU feed-forward (ffn_gate, ffn_up, ffn_down). Mean pooling.
#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

void set_quirks(EncoderConfig& config) {
  config.position_embeddings = false;
  config.fused_qkv = true;
  config.biases = false;
  config.gated_ffn = true;
}

EncoderConfig read(const gguf::File& file) {
  EncoderConfig config = read_encoder_standard(file, "nomic-bert");
  set_quirks(config);
  const Keys keys(file, "nomic-bert");
  const double base = keys.real("rope.freq_base").value_or(10000.0);  // llama.cpp's default
  if (!(base > 0.0)) keys.fail("metadata key 'nomic-bert.rope.freq_base' is not positive");
  config.rope_base = static_cast<float>(base);
  if (config.info.head_dim % 2 != 0) {
    keys.fail(str("heads of ", config.info.head_dim, " values cannot be rotated in pairs"));
  }
  return config;
}

EncoderConfig synth(const SynthShape& shape) {
  EncoderConfig config = synth_encoder_standard(shape, "nomic-bert");
  set_quirks(config);
  config.rope_base = 1000.0f;  // nomic-embed-text's
  config.pooling = Pooling::kMean;
  return config;
}

}  // namespace

const EncoderArchitecture kNomicBert = {"nomic-bert", "nomic-embed-text (rotary BERT)", read,
                                        synth};

}  // namespace bottega::arch
