// The CPU's mixture-of-experts FFN: routing, each expert's gated FFN over the tokens routed to
// it, the weighted sum, and the shared expert.
#pragma once

#include <cstdint>

#include "backend/cpu/scratch.h"
#include "backend/op_params.h"
#include "core/thread_pool.h"
#include "tensor/weight_matrix.h"

namespace bottega::backend::cpu {

// Host views of one layer's mixture. Expert tensors are stacked: n_expert matrices of n_ff rows
// (gate, up) or n_embd rows (down) one after another, in the file's row layout. Absent vectors
// are nullptr; absent shared matrices have null data.
struct MoeHostWeights {
  WeightMatrix router, gate_experts, up_experts, down_experts;
  WeightMatrix gate_shared, up_shared, down_shared;
  const float* router_bias = nullptr;
  const float* gate_bias = nullptr;  // n_expert rows of n_ff
  const float* up_bias = nullptr;
  const float* down_bias = nullptr;  // n_expert rows of n_embd
  const float* shared_gate = nullptr;
};

// out[t] = sum over the experts token t's router picks of weight * expert(x[t]), plus the shared
// expert's output. x and out are n_tokens rows of n_embd; out must not alias x.
void mixture_of_experts(const MoeHostWeights& weights, const MoeConfig& moe,
                        const GluParams& activation, const float* x, int64_t n_tokens,
                        int64_t n_embd, float* out, ThreadPool& pool, Scratch& scratch);

// out = act(gate) * up for one row of n values; out may alias gate.
void glu_row(const GluParams& params, const float* gate, const float* up, float* out, int64_t n);

}  // namespace bottega::backend::cpu
