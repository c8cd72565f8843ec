// BERT encoders in GGUF (BGE, all-MiniLM, E5, GTE, ...), as llama.cpp's converter writes them:
// learned absolute positions and token types added to the token embedding, a LayerNorm, then
// post-LayerNorm blocks (attention with Q/K/V/output biases over the whole input in both
// directions; an FFN up -> GELU -> down with biases), each block's output normed after the residual
// add. The pooled state is the embedding.
#include "model/arch/common.h"
#include "model/arch/families.h"

namespace bottega::arch {
namespace {

EncoderConfig read(const gguf::File& file) {
  return read_encoder_standard(file, "bert");
}

EncoderConfig synth(const SynthShape& shape) {
  EncoderConfig config = synth_encoder_standard(shape, "bert");
  config.pooling = Pooling::kCls;  // BGE's
  return config;
}

}  // namespace

const EncoderArchitecture kBert = {"bert", "BGE, all-MiniLM, E5, GTE (BERT embedding models)", read,
                                   synth};

}  // namespace bottega::arch
