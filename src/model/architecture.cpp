// The table of families, and what every family shares: its tensor list and its keys.
#include "model/architecture.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"
#include "model/arch/families.h"
#include "model/encoder_config.h"

namespace bottega {
namespace {

const std::array kArchitectures = {arch::kLlama,    arch::kQwen2,    arch::kQwen3,
                                   arch::kGemma2,   arch::kGemma3,   arch::kPhi3,
                                   arch::kQwen2Moe, arch::kQwen3Moe, arch::kGptOss};

}  // namespace

std::span<const Architecture> architectures() {
  return kArchitectures;
}

const Architecture* find_architecture(std::string_view name) {
  for (const Architecture& a : kArchitectures) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

DecoderConfig read_decoder_config(const gguf::File& file) {
  const std::optional<std::string> name = file.get_string("general.architecture");
  if (!name) {
    throw Error(str(file.name(),
                    ": metadata key 'general.architecture' is missing; is this a model "
                    "file (not a vocabulary-only GGUF)?"));
  }
  const Architecture* architecture = find_architecture(*name);
  if (architecture == nullptr && find_encoder_architecture(*name) != nullptr) {
    throw Error(str(file.name(), ": '", *name,
                    "' is an embedding model, which produces embeddings rather than text; use "
                    "`bottega embed`, or `bottega serve` and POST /v1/embeddings"));
  }
  if (architecture == nullptr) {
    std::string supported;
    for (const Architecture& a : kArchitectures)
      supported += str(supported.empty() ? "" : ", ", a.name);
    throw Error(str(file.name(), ": architecture '", *name,
                    "' is not supported (supported: ", supported, ")"));
  }
  return architecture->read(file);
}

float DecoderConfig::query_scale() const {
  if (attention_scale > 0.0f) return attention_scale;
  return 1.0f / std::sqrt(static_cast<float>(info.head_dim));
}

TensorKind TensorDesc::kind() const {
  switch (slot) {
    case TensorSlot::kOutputNorm:
    case TensorSlot::kAttnNorm:
    case TensorSlot::kAttnQNorm:
    case TensorSlot::kAttnKNorm:
    case TensorSlot::kPostAttnNorm:
    case TensorSlot::kFfnNorm:
    case TensorSlot::kPostFfnNorm:
    case TensorSlot::kTokenEmbdNorm:
    case TensorSlot::kAttnOutputNorm:
    case TensorSlot::kLayerOutputNorm:
      return TensorKind::kNorm;
    case TensorSlot::kAttnQBias:
    case TensorSlot::kAttnKBias:
    case TensorSlot::kAttnVBias:
    case TensorSlot::kAttnOutputBias:
    case TensorSlot::kAttnSinks:
    case TensorSlot::kFfnRouterBias:
    case TensorSlot::kFfnGateExpertsBias:
    case TensorSlot::kFfnUpExpertsBias:
    case TensorSlot::kFfnDownExpertsBias:
    case TensorSlot::kTokenEmbdNormBias:
    case TensorSlot::kAttnOutputNormBias:
    case TensorSlot::kFfnUpBias:
    case TensorSlot::kFfnDownBias:
    case TensorSlot::kLayerOutputNormBias:
      return TensorKind::kBias;
    case TensorSlot::kFfnRouter:
    case TensorSlot::kFfnSharedGate:
      return TensorKind::kRouter;
    case TensorSlot::kRopeFreqs:
    case TensorSlot::kRopeFactorsLong:
    case TensorSlot::kRopeFactorsShort:
      return TensorKind::kRopeFactors;
    default:
      return TensorKind::kMatrix;
  }
}

namespace {

template <typename Add>
void add_experts(const DecoderConfig& c, const std::string& p, int l, Add& add) {
  using S = TensorSlot;
  const int64_t e = c.info.n_embd;
  const int64_t ff = c.moe.n_ff;
  const int64_t n = c.moe.n_expert;
  add(p + "ffn_gate_inp.weight", {e, n}, S::kFfnRouter, l);
  if (c.moe.router_bias) add(p + "ffn_gate_inp.bias", {n}, S::kFfnRouterBias, l);
  add(p + "ffn_gate_exps.weight", {e, ff, n}, S::kFfnGateExperts, l);
  add(p + "ffn_up_exps.weight", {e, ff, n}, S::kFfnUpExperts, l);
  add(p + "ffn_down_exps.weight", {ff, e, n}, S::kFfnDownExperts, l);
  if (c.moe.expert_biases) {
    add(p + "ffn_gate_exps.bias", {ff, n}, S::kFfnGateExpertsBias, l);
    add(p + "ffn_up_exps.bias", {ff, n}, S::kFfnUpExpertsBias, l);
    add(p + "ffn_down_exps.bias", {e, n}, S::kFfnDownExpertsBias, l);
  }
  if (const int64_t shared = c.moe.n_ff_shared; shared > 0) {
    if (c.moe.shared_gate) add(p + "ffn_gate_inp_shexp.weight", {e}, S::kFfnSharedGate, l);
    add(p + "ffn_gate_shexp.weight", {e, shared}, S::kFfnGateShared, l);
    add(p + "ffn_up_shexp.weight", {e, shared}, S::kFfnUpShared, l);
    add(p + "ffn_down_shexp.weight", {shared, e}, S::kFfnDownShared, l);
  }
}

}  // namespace

std::vector<TensorDesc> decoder_tensors(const DecoderConfig& c) {
  const int64_t e = c.info.n_embd;
  const int64_t q = c.q_dim();
  const int64_t kv = c.kv_dim();
  const int64_t ff = c.info.n_ff;
  using S = TensorSlot;
  std::vector<TensorDesc> out;
  auto add = [&](std::string name, std::vector<int64_t> shape, S slot, int layer = -1) {
    out.push_back({std::move(name), std::move(shape), slot, layer});
  };
  add("token_embd.weight", {e, c.info.n_vocab}, S::kTokenEmbedding);
  if (c.rope_freqs) add("rope_freqs.weight", {c.n_rot / 2}, S::kRopeFreqs);
  if (c.long_rope) {
    add("rope_factors_long.weight", {c.n_rot / 2}, S::kRopeFactorsLong);
    add("rope_factors_short.weight", {c.n_rot / 2}, S::kRopeFactorsShort);
  }
  for (int l = 0; l < c.info.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {e}, S::kAttnNorm, l);
    if (c.fused_qkv) {
      add(p + "attn_qkv.weight", {e, q + 2 * kv}, S::kAttnQkv, l);
    } else {
      add(p + "attn_q.weight", {e, q}, S::kAttnQ, l);
      add(p + "attn_k.weight", {e, kv}, S::kAttnK, l);
      add(p + "attn_v.weight", {e, kv}, S::kAttnV, l);
    }
    if (c.qkv_bias) {
      add(p + "attn_q.bias", {q}, S::kAttnQBias, l);
      add(p + "attn_k.bias", {kv}, S::kAttnKBias, l);
      add(p + "attn_v.bias", {kv}, S::kAttnVBias, l);
    }
    if (c.qk_norm) {
      add(p + "attn_q_norm.weight", {c.info.head_dim}, S::kAttnQNorm, l);
      add(p + "attn_k_norm.weight", {c.info.head_dim}, S::kAttnKNorm, l);
    }
    add(p + "attn_output.weight", {q, e}, S::kAttnOutput, l);
    if (c.output_bias) add(p + "attn_output.bias", {e}, S::kAttnOutputBias, l);
    if (c.attn_sinks) add(p + "attn_sinks.weight", {c.info.n_head}, S::kAttnSinks, l);
    if (c.post_norms) add(p + "post_attention_norm.weight", {e}, S::kPostAttnNorm, l);
    add(p + (c.ffn_norm_named_post_attention ? "post_attention_norm.weight" : "ffn_norm.weight"),
        {e}, S::kFfnNorm, l);
    if (c.moe.n_expert > 0) {
      add_experts(c, p, l, add);
    } else if (c.fused_gate_up) {
      add(p + "ffn_up.weight", {e, 2 * ff}, S::kFfnUp, l);
      add(p + "ffn_down.weight", {ff, e}, S::kFfnDown, l);
    } else {
      add(p + "ffn_gate.weight", {e, ff}, S::kFfnGate, l);
      add(p + "ffn_up.weight", {e, ff}, S::kFfnUp, l);
      add(p + "ffn_down.weight", {ff, e}, S::kFfnDown, l);
    }
    if (c.post_norms) add(p + "post_ffw_norm.weight", {e}, S::kPostFfnNorm, l);
  }
  add("output_norm.weight", {e}, S::kOutputNorm);
  if (!c.tied_head) add("output.weight", {e, c.info.n_vocab}, S::kOutput);
  return out;
}

int64_t decoder_activation_floats(const DecoderConfig& c) {
  const int64_t e = c.info.n_embd;
  const int64_t q = c.q_dim();
  const int64_t kv = c.kv_dim();
  const int64_t ff = c.info.n_ff;
  // residual, normed and projected rows; q and the attention output; k and v; gate and up (the
  // fused up holds both halves beside the gate's activated copy); the fused QKV output; with
  // experts, the router's logits, each chosen expert's output row, and one expert's input, gate
  // and up rows (per thread when experts run side by side: up to that many times this share), and
  // the shared expert's gate, up and output rows.
  const int64_t shared = c.moe.n_ff_shared > 0 ? 2 * c.moe.n_ff_shared + e + 1 : 0;
  const int64_t ffn = c.moe.n_expert > 0
                          ? c.moe.n_expert + c.moe.n_used * e + e + 2 * c.moe.n_ff + shared
                          : (c.fused_gate_up ? 3 * ff : 2 * ff);
  return 3 * e + 2 * q + 2 * kv + ffn + (c.fused_qkv ? q + 2 * kv : 0);
}

void write_decoder_config(const DecoderConfig& c, gguf::Writer& writer) {
  const ModelInfo& info = c.info;
  const std::string arch = info.architecture;
  auto u32 = [](int64_t v) { return gguf::Value::u32(static_cast<uint32_t>(v)); };
  auto f32 = [](double v) { return gguf::Value::f32(static_cast<float>(v)); };
  auto key = [&](const char* suffix) { return arch + "." + suffix; };
  writer.set("general.architecture", gguf::Value::string(arch));
  writer.set("general.name", gguf::Value::string(info.name));
  writer.set(key("vocab_size"), u32(info.n_vocab));
  writer.set(key("context_length"), u32(info.n_ctx_train));
  writer.set(key("embedding_length"), u32(info.n_embd));
  writer.set(key("block_count"), u32(info.n_layer));
  writer.set(key("feed_forward_length"), u32(info.n_ff));
  writer.set(key("attention.head_count"), u32(info.n_head));
  writer.set(key("attention.head_count_kv"), u32(info.n_head_kv));
  if (info.head_dim * info.n_head != info.n_embd) {
    writer.set(key("attention.key_length"), u32(info.head_dim));
    writer.set(key("attention.value_length"), u32(info.head_dim));
  }
  writer.set(key("attention.layer_norm_rms_epsilon"), f32(c.norm_eps));
  writer.set(key("rope.dimension_count"), u32(c.n_rot));
  // The global layers' RoPE is the file's; families derive their local layers' from it.
  const auto global = std::find_if(c.layers.begin(), c.layers.end(),
                                   [](const LayerConfig& l) { return l.window == 0; });
  const LayerConfig& rope = global != c.layers.end() ? *global : c.layers.front();
  writer.set(key("rope.freq_base"), f32(rope.rope_base));
  if (rope.rope_scale != 1.0f) {
    writer.set(key("rope.scaling.type"), gguf::Value::string("linear"));
    writer.set(key("rope.scaling.factor"), f32(1.0 / static_cast<double>(rope.rope_scale)));
  }
  int32_t window = 0;
  for (const LayerConfig& l : c.layers) window = std::max(window, l.window);
  if (window > 0) writer.set(key("attention.sliding_window"), u32(window));
  if (c.attn_softcap > 0.0f) writer.set(key("attn_logit_softcapping"), f32(c.attn_softcap));
  if (c.final_softcap > 0.0f) writer.set(key("final_logit_softcapping"), f32(c.final_softcap));
  if (c.moe.n_expert > 0) {
    writer.set(key("expert_count"), u32(c.moe.n_expert));
    writer.set(key("expert_used_count"), u32(c.moe.n_used));
    writer.set(key("expert_feed_forward_length"), u32(c.moe.n_ff));
    if (c.moe.n_ff_shared > 0) {
      writer.set(key("expert_shared_feed_forward_length"), u32(c.moe.n_ff_shared));
    }
  }
  if (c.yarn) {
    writer.set(key("rope.scaling.type"), gguf::Value::string("yarn"));
    writer.set(key("rope.scaling.original_context_length"), u32(c.original_context));
  }
  if (c.long_rope) {
    writer.set(key("rope.scaling.original_context_length"), u32(c.original_context));
    writer.set(key("rope.scaling.attn_factor"), f32(c.rope_attn_factor));
  }
}

}  // namespace bottega
