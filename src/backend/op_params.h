// Parameters of the ops a decoder asks a backend for (backend.h), as data every backend reads
// the same way.
#pragma once

#include <cstdint>

#include "kernels/rope.h"

namespace bottega {

// kSwigluClamped is gpt-oss's: min(gate, limit) * sigmoid(alpha * that) * (clamp(up, +-limit) + 1).
enum class Activation { kSilu, kGeluTanh, kSwigluClamped };

// How a mixture-of-experts router turns its logits into expert weights.
enum class Gating {
  kSoftmaxThenTopK,  // Mixtral, Qwen 3 MoE: softmax over all experts, keep the k largest
  kTopKThenSoftmax,  // gpt-oss: keep the k largest logits, softmax over those
};

// Mixture of experts: each token's FFN is the weighted sum of n_used of n_expert expert FFNs
// (stored as 3-D *_exps tensors), chosen by a router. n_expert == 0: a dense FFN.
struct MoeConfig {
  int n_expert = 0;
  int n_used = 0;
  int64_t n_ff = 0;  // width of one expert
  Gating gating = Gating::kSoftmaxThenTopK;
  bool normalize = false;      // rescale the chosen softmax weights to sum to 1
  bool router_bias = false;    // ffn_gate_inp.bias (gpt-oss)
  bool expert_biases = false;  // ffn_{gate,up,down}_exps.bias (gpt-oss)
  // > 0: a shared expert of this width (ffn_*_shexp) serves every token beside the routed ones
  // (Qwen 1.5/2 MoE), its output scaled by sigmoid(ffn_gate_inp_shexp . x) when shared_gate.
  int64_t n_ff_shared = 0;
  bool shared_gate = false;
};

// The gated activation of a feed-forward block: out = act(gate) * up. alpha and limit are
// kSwigluClamped's.
struct GluParams {
  Activation activation = Activation::kSilu;
  float alpha = 1.702f;
  float limit = 7.0f;
};

namespace backend {
using kernels::RopeParams;
using kernels::RopeStyle;
}  // namespace backend

}  // namespace bottega
