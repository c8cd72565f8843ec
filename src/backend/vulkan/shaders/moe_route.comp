#version 450
// A mixture of experts' routing, one thread per token: the n_used largest router logits (ties to
// the lower expert index, as the CPU's route()), in expert order, and their weights: a softmax
// with the best logit subtracted, over every expert (softmax then top-k, unnormalised) or over the
// chosen ones (top-k then softmax, or normalised).

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 1) writeonly buffer Ids { int ids[]; };
layout(std430, binding = 2) writeonly buffer Weights { float weights[]; };

layout(push_constant) uniform Params {
  uint n_tokens;
  uint n_expert;  // at most 256
  uint n_used;    // at most 16
  uint over_all;  // 1: the softmax's denominator sums every expert
  uint logits_offset;
  uint logits_stride;
} p;

const uint kMaxUsed = 16u;

void main() {
  const uint token = gl_GlobalInvocationID.x;
  if (token >= p.n_tokens) return;
  const uint row = p.logits_offset + token * p.logits_stride;
  uint taken[8] = uint[8](0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);  // one bit per expert
  uint chosen[kMaxUsed];
  for (uint k = 0u; k < p.n_used; ++k) {
    uint best = 0xFFFFFFFFu;
    for (uint e = 0u; e < p.n_expert; ++e) {
      if ((taken[e >> 5u] & (1u << (e & 31u))) != 0u) continue;
      // Strictly greater, scanning upwards: among equal logits the lowest index stays.
      if (best == 0xFFFFFFFFu || logits[row + e] > logits[row + best]) best = e;
    }
    taken[best >> 5u] |= 1u << (best & 31u);
    chosen[k] = best;
  }
  const float top = logits[row + chosen[0]];
  // Expert order, as the CPU adds the experts' outputs.
  for (uint i = 1u; i < p.n_used; ++i) {
    const uint e = chosen[i];
    uint j = i;
    for (; j > 0u && chosen[j - 1u] > e; --j) chosen[j] = chosen[j - 1u];
    chosen[j] = e;
  }
  float total = 0.0;
  if (p.over_all != 0u) {
    for (uint e = 0u; e < p.n_expert; ++e) total += exp(logits[row + e] - top);
  } else {
    for (uint k = 0u; k < p.n_used; ++k) total += exp(logits[row + chosen[k]] - top);
  }
  for (uint k = 0u; k < p.n_used; ++k) {
    ids[token * p.n_used + k] = int(chosen[k]);
    weights[token * p.n_used + k] = exp(logits[row + chosen[k]] - top) / total;
  }
}
