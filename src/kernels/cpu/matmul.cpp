#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/ops.h"

namespace bottega::kernels {

void dequantize_row(const WeightMatrix& w, int64_t r, float* out) {
  const TypeTraits& traits = type_traits(w.type);
  BOTTEGA_CHECK(traits.dequantize != nullptr, "no dequantize for ", traits.name);
  traits.dequantize(w.row(r), out, w.n_in);
}

namespace {

// Rows dequantized together, so each activation row is read once per tile rather than per row.
constexpr int64_t kRowTile = 8;

void matmul_rows(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t begin,
                 int64_t end) {
  std::vector<float> tile(static_cast<size_t>(kRowTile * w.n_in));
  for (int64_t r0 = begin; r0 < end; r0 += kRowTile) {
    const int64_t rows = std::min(kRowTile, end - r0);
    for (int64_t j = 0; j < rows; ++j) dequantize_row(w, r0 + j, tile.data() + j * w.n_in);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * w.n_in;
      float* yt = y + t * w.n_out + r0;
      for (int64_t j = 0; j < rows; ++j) yt[j] = dot(tile.data() + j * w.n_in, xt, w.n_in);
    }
  }
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (w.type == TensorType::F32) {
    // No conversion needed: dot straight from the mapped rows.
    const auto* rows = reinterpret_cast<const float*>(w.data);
    pool.parallel_for(w.n_out, [&](int64_t begin, int64_t end) {
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = begin; r < end; ++r) {
          y[t * w.n_out + r] = dot(rows + r * w.n_in, x + t * w.n_in, w.n_in);
        }
      }
    });
    return;
  }
  // Hand each thread whole tiles so no tile is dequantized twice.
  const int64_t n_tiles = (w.n_out + kRowTile - 1) / kRowTile;
  pool.parallel_for(n_tiles, [&](int64_t begin, int64_t end) {
    matmul_rows(w, x, n_tokens, y, begin * kRowTile, std::min(end * kRowTile, w.n_out));
  });
}

}  // namespace bottega::kernels
