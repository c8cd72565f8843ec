// BERT encoders in GGUF (BGE, all-MiniLM, E5, GTE, ...), as llama.cpp's converter writes them:
// learned absolute positions and token types added to the token embedding, a LayerNorm, then
// post-LayerNorm blocks (attention with Q/K/V/output biases over the whole input in both
// directions; an FFN up -> GELU -> down with biases), each block's output normed after the residual
// add. The pooled state is the embedding.
#include <string>

#include "model/arch/common.h"
#include "model/arch/families.h"
#include "model/encoder_config.h"

namespace bottega::arch {
namespace {

Pooling read_pooling(const Keys& keys) {
  // Converters of BGE/MiniLM always write it; files without the key pool by CLS, as llama.cpp's
  // BERT default does.
  const int64_t type = keys.integer("pooling_type").value_or(2);
  if (type < 0 || type > 3) {
    keys.fail(str("metadata key '", keys.key("pooling_type"), "' is ", type,
                  "; expected 0 (none), 1 (mean), 2 (cls) or 3 (last)"));
  }
  return static_cast<Pooling>(type);
}

EncoderConfig read(const gguf::File& file) {
  const Keys keys(file, "bert");
  EncoderConfig config;
  ModelInfo& info = config.info;
  info.architecture = "bert";
  info.name = file.get_string("general.name").value_or(file.name());
  info.n_embd = keys.positive("embedding_length");
  info.n_layer = static_cast<int>(keys.positive("block_count"));
  info.n_head = keys.positive("attention.head_count");
  info.n_head_kv = info.n_head;
  info.n_ff = keys.positive("feed_forward_length");
  info.n_ctx_train = keys.positive("context_length");
  if (info.n_embd % info.n_head != 0) {
    keys.fail(str("attention.head_count ", info.n_head, " does not divide embedding_length ",
                  info.n_embd));
  }
  info.head_dim = info.n_embd / info.n_head;
  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->shape.size() != 2) {
    keys.fail("tensor 'token_embd.weight' is missing or not a matrix");
  }
  info.n_vocab = embd->shape[1];
  if (const gguf::TensorInfo* types = file.find_tensor("token_types.weight");
      types != nullptr && types->shape.size() == 2) {
    config.n_token_types = types->shape[1];
  }
  const std::optional<double> eps = keys.real("attention.layer_norm_epsilon");
  if (!eps || !(*eps > 0.0)) {
    keys.fail(str("metadata key '", keys.key("attention.layer_norm_epsilon"),
                  "' is missing or not positive"));
  }
  config.norm_eps = static_cast<float>(*eps);
  if (file.get_bool(keys.key("attention.causal")).value_or(false)) {
    keys.fail(str("metadata key '", keys.key("attention.causal"),
                  "' is true; bottega runs BERT encoders with bidirectional attention only"));
  }
  config.pooling = read_pooling(keys);
  return config;
}

EncoderConfig synth(const SynthShape& shape) {
  EncoderConfig config;
  ModelInfo& info = config.info;
  info.architecture = "bert";
  info.name = shape.name;
  info.n_embd = shape.n_embd;
  info.n_layer = shape.n_layer;
  info.n_head = shape.n_head;
  info.n_head_kv = shape.n_head;
  info.head_dim = shape.n_embd / shape.n_head;
  info.n_ff = shape.n_ff;
  info.n_ctx_train = shape.n_ctx;
  info.n_vocab = shape.n_vocab;
  config.pooling = Pooling::kCls;  // BGE's
  return config;
}

}  // namespace

const EncoderArchitecture kBert = {"bert", "BGE, all-MiniLM, E5, GTE (BERT embedding models)", read,
                                   synth};

}  // namespace bottega::arch
