// What one configurable decoder needs to know to run a model family: the shape, the quirks that
// distinguish families (as data, not code), and the list of tensors a file of that family holds.
//
// An architecture file (model/arch/<name>.cpp) turns a GGUF file's keys into a DecoderConfig; the
// loader, `fit`, `synth`, `quantize` and the tests all read the tensor list from decoder_tensors()
// of that config, so the names and shapes of a family's tensors are written down once.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend/op_params.h"
#include "model/model.h"

namespace bottega {

// Per-layer attention settings: the families differ in which layers see a window and in the RoPE
// frequencies of local and global layers.
struct LayerConfig {
  int32_t window = 0;  // > 0: a token sees only the last `window` positions (itself included)
  float rope_base = 10000.0f;
  float rope_scale = 1.0f;  // linear scaling: positions are multiplied by this
};

struct DecoderConfig {
  ModelInfo info;
  float norm_eps = 1e-5f;
  Activation activation = Activation::kSilu;
  kernels::RopeStyle rope_style = kernels::RopeStyle::kInterleaved;
  int n_rot = 0;             // rotated dimensions of each head (<= head_dim)
  bool qkv_bias = false;     // attn_q/k/v.bias (Qwen 2, gpt-oss)
  bool output_bias = false;  // attn_output.bias (gpt-oss)
  bool attn_sinks = false;   // a learned logit per head joins each softmax's denominator (gpt-oss)
  bool qk_norm = false;      // per-head RMS norm of q and k before RoPE (Qwen 3, Gemma 3)
  bool post_norms = false;   // norms of the attention and FFN outputs before the residual (Gemma)
  bool fused_qkv = false;    // one attn_qkv matrix: q rows, then k, then v (Phi-3)
  bool fused_gate_up = false;    // ffn_up holds the gate rows first, then the up rows (Phi-3)
  float embedding_scale = 1.0f;  // token embeddings are multiplied by this (Gemma: sqrt(n_embd))
  float attention_scale = 0.0f;  // query-key scale; 0 means 1/sqrt(head_dim)
  float attn_softcap = 0.0f;     // > 0: scores become c * tanh(scores / c) (Gemma 2)
  float final_softcap = 0.0f;    // the same for the logits
  float swiglu_alpha = 1.702f;   // kSwigluClamped's constants
  float swiglu_limit = 7.0f;
  // gpt-oss calls its pre-FFN norm post_attention_norm (which is a post-norm in Gemma).
  bool ffn_norm_named_post_attention = false;
  MoeConfig moe;
  bool tied_head = false;   // no output.weight: the embedding table is the head
  bool rope_freqs = false;  // rope_freqs.weight: per-pair frequency divisors (Llama 3.1)
  // LongRoPE (Phi-3): per-pair frequency divisors, the long set for contexts beyond
  // original_context; both rotated halves are multiplied by rope_attn_factor.
  bool long_rope = false;
  int64_t original_context = 0;
  float rope_attn_factor = 1.0f;
  // YaRN (gpt-oss): the global layers' rope_scale applies fully to the low-frequency pairs only,
  // ramping between the pairs that turn yarn_beta_fast and yarn_beta_slow times over
  // original_context.
  bool yarn = false;
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
  std::vector<LayerConfig> layers;  // n_layer entries

  int64_t q_dim() const { return info.n_head * info.head_dim; }
  int64_t kv_dim() const { return info.n_kv_dim(); }
  float query_scale() const;
};

// Where a tensor goes. The decoder binds by slot; `quantize` and `synth` choose a tensor's type
// by it (llama.cpp's per-tensor policy names the same roles).
enum class TensorSlot {
  kTokenEmbedding,
  kOutputNorm,
  kOutput,
  kRopeFreqs,        // Llama 3.1: per-pair frequency divisors
  kRopeFactorsLong,  // Phi-3 LongRoPE
  kRopeFactorsShort,
  kAttnNorm,
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnQkv,
  kAttnQBias,
  kAttnKBias,
  kAttnVBias,
  kAttnQNorm,
  kAttnKNorm,
  kAttnOutput,
  kPostAttnNorm,
  kFfnNorm,
  kFfnGate,
  kFfnUp,  // [n_embd, 2 n_ff] when fused with the gate
  kFfnDown,
  kPostFfnNorm,
  kAttnOutputBias,
  kAttnSinks,
  kFfnRouter,  // ffn_gate_inp: [n_embd, n_expert]
  kFfnRouterBias,
  kFfnGateExperts,  // [n_embd, n_ff_expert, n_expert]
  kFfnUpExperts,
  kFfnDownExperts,  // [n_ff_expert, n_embd, n_expert]
  kFfnGateExpertsBias,
  kFfnUpExpertsBias,
  kFfnDownExpertsBias,
  kFfnGateShared,  // the shared expert: [n_embd, n_ff_shared]
  kFfnUpShared,
  kFfnDownShared,
  kFfnSharedGate,  // ffn_gate_inp_shexp: [n_embd], the shared expert's sigmoid gate
  // Encoders (encoder_config.h): learned token-type and position rows, LayerNorms with biases.
  kTokenTypes,         // [n_embd, n_token_types]
  kPositionEmbedding,  // [n_embd, n_ctx_train]
  kTokenEmbdNorm,
  kTokenEmbdNormBias,
  kAttnOutputNorm,  // BERT's post-norm of the attention residual sum
  kAttnOutputNormBias,
  kFfnUpBias,
  kFfnDownBias,
  kLayerOutputNorm,  // BERT's post-norm of the FFN residual sum
  kLayerOutputNormBias,
  kCount
};

// kRouter is a matrix that stays as stored (llama.cpp's quantizer leaves it alone).
enum class TensorKind { kMatrix, kRouter, kNorm, kBias, kRopeFactors };

struct TensorDesc {
  std::string name;            // GGUF tensor name
  std::vector<int64_t> shape;  // GGML order: shape[0] is a row
  TensorSlot slot;
  int layer = -1;  // -1 for the tensors outside the blocks
  TensorKind kind() const;
};

// The tensors a file of this configuration holds (all of them required), in the order llama.cpp's
// converters write them: the embedding and RoPE tables, the blocks, then the output norm and head.
std::vector<TensorDesc> decoder_tensors(const DecoderConfig& config);

// Floats of activations the decoder keeps per batch token (fit sizes the compute buffers by it).
int64_t decoder_activation_floats(const DecoderConfig& config);

}  // namespace bottega
