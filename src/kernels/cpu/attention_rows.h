// The inner loops of attention over one head, on float rows laid out one after another: a
// query's scores against the cached key rows, their softmax, and the probability-weighted sum of
// the value rows. They run once per (query, head) over every cached position, so they have SIMD
// paths.
#pragma once

#include <cstdint>

#include "kernels/cpu/vec_dot.h"

namespace bottega::kernels {

// out[r] = scale * dot(x, rows + r * dim) for r < n_rows.
using DotRowsFn = void (*)(const float* x, const float* rows, int64_t n_rows, int64_t dim,
                           float scale, float* out);
// out[d] += sum over r < n_rows of weights[r] * rows[r * dim + d], for d < dim.
using AccumulateRowsFn = void (*)(const float* weights, const float* rows, int64_t n_rows,
                                  int64_t dim, float* out);
// Softmax in place over n values; -inf entries get probability 0.
using SoftmaxFn = void (*)(float* x, int64_t n);

struct AttentionRowKernels {
  DotRowsFn dot_rows = nullptr;
  AccumulateRowsFn accumulate_rows = nullptr;
  SoftmaxFn softmax = nullptr;
};

// The kernels of `isa` (one of available_isas(), checked); kRef's are plain loops that define
// the results up to float rounding order.
AttentionRowKernels attention_row_kernels(Isa isa);

// The same on the best ISA.
void dot_rows(const float* x, const float* rows, int64_t n_rows, int64_t dim, float scale,
              float* out);
void accumulate_rows(const float* weights, const float* rows, int64_t n_rows, int64_t dim,
                     float* out);
void softmax(float* x, int64_t n);

// Implementation detail of the dispatch: the kernels of a SIMD ISA, nullptrs where it has none
// (isa_x86.cpp, isa_arm.cpp, isa_none.cpp), and the ISA files' own.
AttentionRowKernels simd_attention_row_kernels(Isa isa);
AttentionRowKernels avx2_attention_row_kernels();
AttentionRowKernels neon_attention_row_kernels();

}  // namespace bottega::kernels
