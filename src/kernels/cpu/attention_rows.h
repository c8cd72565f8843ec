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

// The same inner loops for a block of queries that share their key and value rows (the heads of
// a grouped-query group, the tokens of a prompt tile): the queries sit side by side, one per float
// lane of `width` (a multiple of kQueryLanes), so one broadcast key or value number serves all of
// them. Every lane's sums run in one order, over d or over rows from the first, whatever shares
// its block, so a query's result does not depend on its neighbours.
constexpr int64_t kQueryLanes = 8;

// scores_t[r * width + l] = sum over d < dim of rows[r * dim + d] * q_t[d * width + l], each
// lane's sum fused multiply-adds from d = 0 up.
using DotLanesFn = void (*)(const float* q_t, const float* rows, int64_t n_rows, int64_t dim,
                            int64_t width, float* scores_t);
// Softmax in place down each lane of x_t ([n][width]); -inf entries get probability 0. Every lane
// needs a finite entry. Where lane_max and lane_sum are not null they receive each lane's largest
// entry and its sum of exp(entry - largest), the normaliser, from which softmaxes over separate
// ranges of rows combine into one.
using SoftmaxLanesFn = void (*)(float* x_t, int64_t n, int64_t width, float* lane_max,
                                float* lane_sum);
// out_t[d * width + l] += sum over r < n_rows of weights_t[r * width + l] * rows[r * dim + d],
// each lane's sum fused multiply-adds onto out_t's value from r = 0 up: a run of rows taken in
// pieces, one call each, gives the bits of one call over all of them.
using WeightedSumLanesFn = void (*)(const float* weights_t, const float* rows, int64_t n_rows,
                                    int64_t dim, int64_t width, float* out_t);

struct AttentionRowKernels {
  DotRowsFn dot_rows = nullptr;
  AccumulateRowsFn accumulate_rows = nullptr;
  SoftmaxFn softmax = nullptr;
  // nullptr where the ISA has no SIMD lane kernels: attention then runs query by query.
  DotLanesFn dot_lanes = nullptr;
  SoftmaxLanesFn softmax_lanes = nullptr;
  WeightedSumLanesFn weighted_sum_lanes = nullptr;
};

// The kernels of `isa` (one of available_isas(), checked); kRef's are plain loops that define
// the results up to float rounding order (the lane kernels' dot and weighted sum exactly).
AttentionRowKernels attention_row_kernels(Isa isa);

// The best ISA's kernels.
const AttentionRowKernels& best_attention_row_kernels();

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
AttentionRowKernels avx512_attention_row_kernels();
AttentionRowKernels neon_attention_row_kernels();

}  // namespace bottega::kernels
