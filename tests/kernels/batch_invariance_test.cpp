// Batch invariance: the row of one token in a batched matmul is bitwise what the token gets alone.
// The server relies on it: a request batched with others must produce exactly what it produces
// served alone (with greedy decoding, one flipped last bit can change every later token).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace bottega::kernels {
namespace {

TEST(BatchInvariance, EachTokensRowIsIndependentOfTheBatch) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  ThreadPool pool(2);
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_0,
                          TensorType::Q4_1, TensorType::Q5_1, TensorType::Q4_K, TensorType::Q6_K,
                          TensorType::Q5_K, TensorType::MXFP4}) {
    const int64_t n_in = 512, n_out = 40, n_tokens = 11;
    std::vector<float> source(static_cast<size_t>(n_in * n_out));
    for (float& v : source) v = dist(rng);
    std::vector<uint8_t> stored(row_bytes(type, n_in) * static_cast<size_t>(n_out));
    type_traits(type).quantize(source.data(), stored.data(), n_in * n_out);
    WeightMatrix w{type, n_in, n_out, stored.data()};
    std::vector<uint8_t> packed;
    if (prefers_interleaved(w)) {  // as the model loader does
      packed.resize(interleaved_bytes(w));
      w = interleave(w, packed.data());
    }
    std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
    for (float& v : x) v = dist(rng);
    std::vector<float> batched(static_cast<size_t>(n_out * n_tokens));
    matmul(w, x.data(), n_tokens, batched.data(), pool);
    for (int64_t t = 0; t < n_tokens; ++t) {
      std::vector<float> alone(static_cast<size_t>(n_out));
      matmul(w, x.data() + t * n_in, 1, alone.data(), pool);
      for (int64_t r = 0; r < n_out; ++r) {
        ASSERT_EQ(alone[static_cast<size_t>(r)], batched[static_cast<size_t>(t * n_out + r)])
            << type_name(type) << " token " << t << " row " << r;
      }
    }
  }
}

}  // namespace
}  // namespace bottega::kernels
