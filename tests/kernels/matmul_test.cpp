// matmul against a double-precision product of the reference-dequantized weights, for every
// computable weight type, several token counts and thread counts, odd row counts (tails of the
// row tiles). Bound: float32 accumulation, |error| <= 1e-4 * sqrt(n_in) * max|w| * max|x|.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace bottega::kernels {
namespace {

TEST(Matmul, MatchesDoubleProductOfDequantizedRowsForEveryType) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int checked_types = 0;
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeTraits* traits = find_type(id);
    if (traits == nullptr || traits->quantize == nullptr || traits->dequantize == nullptr) continue;
    ++checked_types;
    const int64_t n_in = 512, n_out = 37;
    std::vector<float> values(static_cast<size_t>(n_in * n_out));
    for (float& v : values) v = dist(rng);
    std::vector<uint8_t> bytes(row_bytes(traits->type, n_in) * static_cast<size_t>(n_out));
    traits->quantize(values.data(), bytes.data(), n_in * n_out);
    std::vector<float> weights(values.size());
    traits->dequantize(bytes.data(), weights.data(), n_in * n_out);
    const WeightMatrix w{traits->type, n_in, n_out, bytes.data()};

    for (int64_t n_tokens : {1, 3, 8}) {
      std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
      for (float& v : x) v = dist(rng);
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        std::vector<float> y(static_cast<size_t>(n_out * n_tokens), NAN);
        matmul(w, x.data(), n_tokens, y.data(), pool);
        for (int64_t t = 0; t < n_tokens; ++t) {
          for (int64_t r = 0; r < n_out; ++r) {
            double expected = 0.0;
            for (int64_t i = 0; i < n_in; ++i) expected += static_cast<double>(weights[r * n_in + i]) * x[t * n_in + i];
            ASSERT_NEAR(y[t * n_out + r], expected, 1e-4 * std::sqrt(n_in) * 2.0)
                << traits->name << " token " << t << " row " << r << " threads " << threads;
          }
        }
      }
    }
  }
  EXPECT_GE(checked_types, 4);
}

TEST(Matmul, DequantizeRowReadsTheRightRow) {
  std::vector<float> values(64 * 5);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 97) - 48.0f;
  std::vector<uint8_t> bytes(values.size() * 2);
  type_traits(TensorType::F16).quantize(values.data(), bytes.data(), static_cast<int64_t>(values.size()));
  const WeightMatrix w{TensorType::F16, 64, 5, bytes.data()};
  std::vector<float> row(64);
  dequantize_row(w, 3, row.data());
  for (int i = 0; i < 64; ++i) EXPECT_EQ(row[static_cast<size_t>(i)], values[static_cast<size_t>(3 * 64 + i)]);
}

}  // namespace
}  // namespace bottega::kernels
