// The table of encoder families, their tensor list and the keys `synth` records.
#include "model/encoder_config.h"

#include <array>
#include <string>

#include "core/error.h"
#include "model/arch/families.h"

namespace bottega {
namespace {

const std::array kEncoders = {arch::kBert, arch::kNomicBert};

}  // namespace

std::span<const EncoderArchitecture> encoder_architectures() {
  return kEncoders;
}

const EncoderArchitecture* find_encoder_architecture(std::string_view name) {
  for (const EncoderArchitecture& a : kEncoders) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

bool is_encoder_file(const gguf::File& file) {
  const std::optional<std::string> name = file.get_string("general.architecture");
  return name && find_encoder_architecture(*name) != nullptr;
}

EncoderConfig read_encoder_config(const gguf::File& file) {
  const std::optional<std::string> name = file.get_string("general.architecture");
  const EncoderArchitecture* architecture = name ? find_encoder_architecture(*name) : nullptr;
  if (architecture == nullptr) {
    std::string supported;
    for (const EncoderArchitecture& a : kEncoders)
      supported += str(supported.empty() ? "" : ", ", a.name);
    throw Error(str(file.name(), ": architecture '", name.value_or("(none)"),
                    "' is not an embedding model bottega runs (supported: ", supported, ")"));
  }
  return architecture->read(file);
}

std::vector<TensorDesc> encoder_tensors(const EncoderConfig& c) {
  const int64_t e = c.info.n_embd;
  const int64_t ff = c.info.n_ff;
  using S = TensorSlot;
  std::vector<TensorDesc> out;
  auto add = [&](std::string name, std::vector<int64_t> shape, S slot, int layer = -1) {
    out.push_back({std::move(name), std::move(shape), slot, layer});
  };
  add("token_embd.weight", {e, c.info.n_vocab}, S::kTokenEmbedding);
  add("token_types.weight", {e, c.n_token_types}, S::kTokenTypes);
  if (c.position_embeddings) {
    add("position_embd.weight", {e, c.info.n_ctx_train}, S::kPositionEmbedding);
  }
  add("token_embd_norm.weight", {e}, S::kTokenEmbdNorm);
  add("token_embd_norm.bias", {e}, S::kTokenEmbdNormBias);
  for (int l = 0; l < c.info.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    if (c.fused_qkv) {
      add(p + "attn_qkv.weight", {e, 3 * e}, S::kAttnQkv, l);
    } else {
      add(p + "attn_q.weight", {e, e}, S::kAttnQ, l);
      add(p + "attn_k.weight", {e, e}, S::kAttnK, l);
      add(p + "attn_v.weight", {e, e}, S::kAttnV, l);
    }
    if (c.biases) {
      add(p + "attn_q.bias", {e}, S::kAttnQBias, l);
      add(p + "attn_k.bias", {e}, S::kAttnKBias, l);
      add(p + "attn_v.bias", {e}, S::kAttnVBias, l);
    }
    add(p + "attn_output.weight", {e, e}, S::kAttnOutput, l);
    if (c.biases) add(p + "attn_output.bias", {e}, S::kAttnOutputBias, l);
    add(p + "attn_output_norm.weight", {e}, S::kAttnOutputNorm, l);
    add(p + "attn_output_norm.bias", {e}, S::kAttnOutputNormBias, l);
    add(p + "ffn_up.weight", {e, ff}, S::kFfnUp, l);
    if (c.gated_ffn) add(p + "ffn_gate.weight", {e, ff}, S::kFfnGate, l);
    if (c.biases) add(p + "ffn_up.bias", {ff}, S::kFfnUpBias, l);
    add(p + "ffn_down.weight", {ff, e}, S::kFfnDown, l);
    if (c.biases) add(p + "ffn_down.bias", {e}, S::kFfnDownBias, l);
    add(p + "layer_output_norm.weight", {e}, S::kLayerOutputNorm, l);
    add(p + "layer_output_norm.bias", {e}, S::kLayerOutputNormBias, l);
  }
  return out;
}

void write_encoder_config(const EncoderConfig& c, gguf::Writer& writer) {
  const ModelInfo& info = c.info;
  const std::string arch = info.architecture;
  auto u32 = [](int64_t v) { return gguf::Value::u32(static_cast<uint32_t>(v)); };
  auto key = [&](const char* suffix) { return arch + "." + suffix; };
  writer.set("general.architecture", gguf::Value::string(arch));
  writer.set("general.name", gguf::Value::string(info.name));
  writer.set(key("context_length"), u32(info.n_ctx_train));
  writer.set(key("embedding_length"), u32(info.n_embd));
  writer.set(key("feed_forward_length"), u32(info.n_ff));
  writer.set(key("block_count"), u32(info.n_layer));
  writer.set(key("attention.head_count"), u32(info.n_head));
  writer.set(key("attention.layer_norm_epsilon"), gguf::Value::f32(c.norm_eps));
  writer.set(key("attention.causal"), gguf::Value::boolean(false));
  writer.set(key("pooling_type"), u32(static_cast<int64_t>(c.pooling)));
  if (!c.position_embeddings) writer.set(key("rope.freq_base"), gguf::Value::f32(c.rope_base));
}

}  // namespace bottega
