// Element-wise and row-wise operations of a transformer forward pass, on float rows.
// Shapes are given per call; every pointer is to contiguous floats.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/rope.h"

namespace bottega::kernels {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], for one row of n values. out may alias x.
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// out[i] = silu(gate[i]) * up[i]; out may alias gate.
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// gpt-oss's clamped SwiGLU: g = min(gate, limit), u = clamp(up, -limit, limit),
// out = g * sigmoid(alpha * g) * (u + 1); out may alias gate.
void swiglu_clamped(const float* gate, const float* up, float* out, int64_t n, float alpha,
                    float limit);

// out[i] = gelu(gate[i]) * up[i] with GELU's tanh approximation (Gemma); out may alias gate.
void geglu(const float* gate, const float* up, float* out, int64_t n);

// x[i] = cap * tanh(x[i] / cap): Gemma 2's soft limit on attention scores and logits.
void softcap(float* x, int64_t n, float cap);

// y[i] += x[i]
void add(float* y, const float* x, int64_t n);

float dot(const float* a, const float* b, int64_t n);

// Rotates n_head heads of head_dim values each, laid out head after head, for position pos.
void rope(float* x, int n_head, int head_dim, int pos, const RopeParams& params);

}  // namespace bottega::kernels
