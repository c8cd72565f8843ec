// Matrix products of stored weights (any computable weight type) with float activations.
#pragma once

#include <cstdint>
#include <span>

#include "core/thread_pool.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/types.h"
#include "tensor/weight_matrix.h"

namespace bottega::kernels {

using bottega::WeightMatrix;

// Whether matmul on this CPU runs faster with w interleaved (repack.h), so that a loader should
// call interleave(). False under BOTTEGA_ISA=ref, which keeps the stored layout.
bool prefers_interleaved(const WeightMatrix& w);

// Bytes of w's interleaved form (close to its stored size; repack.h).
size_t interleaved_bytes(const WeightMatrix& w);

// The interleaved form of w (which must be in the stored row layout) written to dst, a buffer of
// interleaved_bytes(w); returns the matrix that points at dst.
WeightMatrix interleave(const WeightMatrix& w, uint8_t* dst);

// Whether this CPU multiplies BF16 matrices with BF16 dot-product instructions (AVX512_BF16's
// vdpbf16ps), twice the products an instruction of F16's float FMAs.
bool bf16_dot_products();

// interleave() for an F16 matrix, every value rounded to the nearest BF16 (ties to even): the
// returned matrix is BF16 (the two types share the interleaved layout and its size).
WeightMatrix interleave_as_bf16(const WeightMatrix& w, uint8_t* dst);

// Writes row r of w as n_in floats.
void dequantize_row(const WeightMatrix& w, int64_t r, float* out);

// y[t * n_out + r] = sum_i w[r][i] * x[t * n_in + i] for t < n_tokens; x is [n_tokens, n_in],
// y is [n_tokens, n_out]. x is first quantized to the weight type's activation type (vec_dot.h),
// so for quantized weights the result is the exact product of the weights with the quantized
// activations, up to float rounding. Rows are split among the pool's threads; the best ISA of
// this CPU runs.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// The same on a chosen ISA, one of available_isas(); tests run every path the CPU has.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            Isa isa);

// One product of matmul() for several matrices with the same input.
struct SharedInputProduct {
  const WeightMatrix* w;
  float* y;  // [n_tokens, w->n_out]
};

// matmul(*p.w, x, n_tokens, p.y, pool) for every p, with the same bits. Where every matrix is
// interleaved, of one type and n_in, and one token decodes, x is quantized once and the matrices'
// rows are shared among the threads in one pass of the pool instead of one pass each (a layer's Q,
// K and V, or its FFN gate and up); otherwise the products run one after the other.
void matmul_shared_input(std::span<const SharedInputProduct> products, const float* x,
                         int64_t n_tokens, ThreadPool& pool);

}  // namespace bottega::kernels
