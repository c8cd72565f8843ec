// An independent, double-precision forward pass for the decoder-only families the engine runs
// (llama, with or without experts (Mixtral), qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3,
// gpt-oss), read straight from a GGUF file: the ground truth the engine's logits are checked
// against.
//
// It shares nothing with src/model: hyper-parameters come from the GGUF keys, weights are
// dequantized with the reference functions of the type table, and the math runs in double,
// position by position, in the order it is written down. Only two roundings imitate the engine,
// because they change results by more than float32 arithmetic does:
// - every matrix input (the vector a weight matrix multiplies) is rounded to float and, when
//   round_activations, through kernels::activation_type(that matrix's stored type), as matmul
//   quantizes it (Q8_0 / Q8_1 / Q8_K for quantized weights);
// - keys (after RoPE) and values are rounded through the KV cache types.
//
// Conventions are llama.cpp's GGUF ones. Weights are stored GGML-style: shape [n_in, n_out], n_out
// rows of n_in values, y = W x. A 3-D expert tensor [n_in, n_out, n_expert] holds expert e's
// matrix in rows e * n_out .. (e + 1) * n_out - 1, and a 2-D expert bias [n_out, n_expert] expert
// e's bias in values e * n_out .. (e + 1) * n_out - 1.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tensor/types.h"

namespace bottega::testing {

// What distinguishes the families. load_reference switches on every quirk the file's family has;
// a test switches one off (or on) to prove that it matters.
struct ReferenceQuirks {
  bool qkv_bias = false;         // add blk.N.attn_{q,k,v}.bias after the projections (qwen2)
  bool qk_norm = false;          // per-head RMS norm of q and k with attn_q_norm / attn_k_norm
  bool embed_scale = false;      // token embedding multiplied by sqrt(n_embd)
  bool gelu = false;             // gated FFN uses GELU (tanh approximation) instead of SiLU
  bool post_norms = false;       // post_attention_norm / post_ffw_norm before the residual adds
  bool attn_softcap = false;     // scores = c * tanh(scores / c), c = attn_logit_softcap
  bool final_softcap = false;    // logits = c * tanh(logits / c), c = final_logit_softcap
  bool window = false;           // sliding window of sliding_window positions on windowed layers
  bool local_rope_base = false;  // gemma3: layers the family windows (`windowed`, whether or
                                 // not quirks.window) use local_rope_base and no scaling
  bool long_rope = false;        // phi3: rope_factors_long/short and rope_attn_factor
  bool neox = false;             // RoPE pairs (i, i + n_rot/2); off: interleaved (2i, 2i+1)

  // gpt-oss attention.
  bool output_bias = false;  // add blk.N.attn_output.bias after the output projection
  bool attn_sinks = false;   // blk.N.attn_sinks.weight: exp(sink_h) joins head h's softmax
                             // denominator, a score with no value
  // YaRN RoPE (gpt-oss, and any file whose rope.scaling.type is "yarn"): pairs ramp from
  // extrapolation (high frequencies) to interpolation by 1/rope_scaling_factor (low ones), and
  // rotated values are multiplied by 1 + 0.1 ln(rope_scaling_factor). Off: linear scaling of every
  // pair by 1/rope_scaling_factor. Layers that use local_rope_base are never scaled.
  bool yarn = false;

  // Mixture of experts (models with n_expert > 0). The k experts with the largest router logits
  // (ties to the lower index) serve a token, each weighted by its softmax probability over all
  // n_expert logits, which normalize_experts divides by their sum over the k (Mixtral, qwen3moe).
  bool normalize_experts = false;
  // Weights = softmax over the k chosen logits only (gpt-oss): the same weights as
  // normalize_experts gives, whatever normalize_experts says.
  bool topk_softmax = false;
  bool router_bias = false;    // add blk.N.ffn_gate_inp.bias to the router logits
  bool expert_biases = false;  // add ffn_{gate,up,down}_exps.bias to each expert's projections
  // gpt-oss's activation: g = min(gate, 7), u = clamp(up, -7, 7), h = g sigmoid(1.702 g) (u + 1).
  // Off: SiLU(gate) * up (GELU with quirks.gelu). Applies to dense FFNs too.
  bool swiglu_clamp = false;
  // qwen2moe: a shared expert (ffn_{gate,up,down}_shexp) adds its SiLU-gated FFN to every token's
  // routed sum, scaled by sigmoid(ffn_gate_inp_shexp . xn).
  bool shared_expert = false;
  // Experts whose router logits are equal: the lower index is chosen (the engine's rule). Off: the
  // higher one, which a test uses to show that it sees ties.
  bool ties_to_lower_expert = true;
};

// One tensor of the file, dequantized.
struct ReferenceTensor {
  TensorType type = TensorType::F32;  // as the file stores it
  std::vector<int64_t> shape;         // GGML order: shape[0] is the row length
  std::vector<float> values;          // dequantized with the type's reference function
};

struct ReferenceModel {
  std::string arch;  // general.architecture
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_ff = 0;  // feed_forward_length; with experts, n_ff_exp when the file has no such key
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // attention.key_length, else n_embd / n_head
  int64_t n_rot = 0;  // rope.dimension_count, else head_dim: the first n_rot dims of a head rotate
  double rms_eps = 1e-5;
  double rope_base = 10000.0;
  double rope_position_scale = 1.0;  // 1 / rope.scaling.factor with linear or YaRN scaling, else 1
  double rope_scaling_factor = 0.0;  // rope.scaling.factor s of a YaRN file (quirks.yarn); else 0
  double yarn_beta_fast = 32.0;      // rope.scaling.yarn_beta_fast
  double yarn_beta_slow = 1.0;       // rope.scaling.yarn_beta_slow
  double local_rope_base = 10000.0;  // gemma3's windowed layers (quirks.local_rope_base)
  double rope_attn_factor = 1.0;     // phi3 rope.scaling.attn_factor (quirks.long_rope)
  // rope.scaling.original_context_length, else context_length; 0 when neither is given. phi3:
  // n_ctx above this picks the long factors; YaRN: the context the model was trained at (L).
  int64_t n_ctx_orig = 0;
  double attn_scale = 0.0;  // multiplies q . k: 1/sqrt(head_dim), gemma 27B 1/sqrt(n_embd/n_head)
  std::optional<double> attn_logit_softcap;   // c, when the file has the key
  std::optional<double> final_logit_softcap;  // c, when the file has the key
  std::optional<int64_t> sliding_window;      // W: position p sees j with p - j < W
  std::vector<bool> windowed;  // per layer: the family windows it (applied with quirks.window)

  // Mixture of experts: every layer's FFN is a router over n_expert experts of width n_ff_exp, of
  // which n_expert_used serve each token. n_expert 0: dense FFNs.
  int64_t n_expert = 0;       // expert_count
  int64_t n_expert_used = 0;  // expert_used_count (k)
  int64_t n_ff_exp = 0;       // expert_feed_forward_length, else feed_forward_length
  int64_t n_ff_shexp = 0;     // expert_shared_feed_forward_length (qwen2moe)
  // The pre-FFN norm of layer N is blk.N.<ffn_norm_weight>; gpt-oss calls it post_attention_norm.
  std::string ffn_norm_weight = "ffn_norm.weight";

  ReferenceQuirks quirks;
  // Keys (after RoPE) and values are rounded through these, as the engine's KV cache stores them.
  TensorType cache_key = TensorType::F32;
  TensorType cache_value = TensorType::F32;
  // Matrix inputs rounded through activation_type(weight type) as the engine's matmul does;
  // false: rounded to float only.
  bool round_activations = true;

  std::map<std::string, ReferenceTensor> tensors;  // every tensor of the file, by name

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  // Throws Error naming the tensor when the file does not have it.
  const ReferenceTensor& tensor(const std::string& name) const;
};

// Reads the file's hyper-parameters, dequantizes every tensor and switches on its family's quirks.
// Throws Error on anything it cannot handle (unknown architecture, missing key or tensor, a shape
// that does not fit, a type without a reference dequantizer, RoPE scaling other than linear or
// YaRN).
ReferenceModel load_reference(const std::filesystem::path& gguf_path);

// Logits (n_vocab values) after every position of `tokens`, one sequence from position 0:
// result[i] predicts token i + 1. n_ctx is the context the engine was configured with (phi3 picks
// its long or short RoPE factors from it); tokens must fit in it.
std::vector<std::vector<double>> reference_logits(const ReferenceModel& m,
                                                  const std::vector<int32_t>& tokens,
                                                  int64_t n_ctx);

}  // namespace bottega::testing
