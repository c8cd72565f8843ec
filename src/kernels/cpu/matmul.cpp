// matmul: activations are quantized once per call to the weight type's activation type, then
// every output is a dot product of a stored weight row with an activation row (vec_dot.h), run
// through the ISA's tile kernel where it has one.
#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <vector>

#include "core/error.h"

namespace bottega::kernels {

void dequantize_row(const WeightMatrix& w, int64_t r, float* out) {
  const TypeTraits& traits = type_traits(w.type);
  BOTTEGA_CHECK(traits.dequantize != nullptr, "no dequantize for ", traits.name);
  traits.dequantize(w.row(r), out, w.n_in);
}

namespace {

// Prompt tiling: each thread owns a contiguous range of row blocks and walks it once per block
// of tokens. 64 activation rows of a 4096-wide Q8_0 matrix are 278 KB, so a token block stays in
// L2 while the thread's weight rows stream past it; the tile kernel keeps a few rows' widened
// blocks in registers for a few tokens at a time.
constexpr int64_t kRowBlock = 16;
constexpr int64_t kTokenBlock = 64;

// y[c * y_stride + r] = dot(weight row r, activation row c) for r < n_rows, c < n_cols.
void run_tile(const DotKernel& k, int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows,
              const uint8_t* a, size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  if (k.tile != nullptr) {
    k.tile(n, w, w_stride, n_rows, a, a_stride, n_cols, y, y_stride);
    return;
  }
  for (int64_t c = 0; c < n_cols; ++c) {
    for (int64_t r = 0; r < n_rows; ++r) {
      y[c * y_stride + r] = k.dot(n, w + r * w_stride, a + c * a_stride);
    }
  }
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  matmul(w, x, n_tokens, y, pool, best_isa());
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            Isa isa) {
  if (n_tokens <= 0 || w.n_out <= 0) return;
  const DotKernel k = dot_kernel(w.type, isa);
  const int64_t n_in = w.n_in;

  // Activation rows: x itself for float kernels, else one quantized row per token.
  const auto* act = reinterpret_cast<const uint8_t*>(x);
  size_t act_stride = static_cast<size_t>(n_in) * sizeof(float);
  std::vector<uint8_t> quantized;
  if (k.quantize != nullptr) {
    act_stride = row_bytes(k.activation, n_in);
    quantized.resize(act_stride * static_cast<size_t>(n_tokens));
    if (n_tokens == 1) {
      k.quantize(x, quantized.data(), n_in);
    } else {
      pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          k.quantize(x + t * n_in, quantized.data() + static_cast<size_t>(t) * act_stride, n_in);
        }
      });
    }
    act = quantized.data();
  }

  const size_t w_stride = w.row_stride();
  if (n_tokens == 1) {
    // Decode reads every weight once: split the rows evenly so each thread streams an equal,
    // contiguous share of the matrix.
    pool.parallel_for(w.n_out, [&](int64_t begin, int64_t end) {
      run_tile(k, n_in, w.row(begin), w_stride, end - begin, act, act_stride, 1, y + begin,
               w.n_out);
    });
    return;
  }
  const int64_t n_blocks = (w.n_out + kRowBlock - 1) / kRowBlock;
  pool.parallel_for(n_blocks, [&](int64_t block_begin, int64_t block_end) {
    const int64_t row_begin = block_begin * kRowBlock;
    const int64_t row_end = std::min(block_end * kRowBlock, w.n_out);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
      const int64_t cols = std::min(kTokenBlock, n_tokens - t0);
      for (int64_t r0 = row_begin; r0 < row_end; r0 += kRowBlock) {
        const int64_t rows = std::min(kRowBlock, row_end - r0);
        run_tile(k, n_in, w.row(r0), w_stride, rows, act + static_cast<size_t>(t0) * act_stride,
                 act_stride, cols, y + t0 * w.n_out + r0, w.n_out);
      }
    }
  });
}

}  // namespace bottega::kernels
