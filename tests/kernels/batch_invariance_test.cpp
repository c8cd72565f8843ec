// Batch invariance: the row of one token in a batched matmul is bitwise what the token gets alone.
// The server relies on it: a request batched with others must produce exactly what it produces
// served alone (with greedy decoding, one flipped last bit can change every later token).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace bottega::kernels {
namespace {

// Every token alone against the batch, on w as it is.
void expect_rows_independent_of_the_batch(const WeightMatrix& w, const std::vector<float>& x,
                                          int64_t n_tokens, ThreadPool& pool, const char* layout) {
  for (Isa isa : available_isas()) {
    std::vector<float> batched(static_cast<size_t>(w.n_out * n_tokens));
    matmul(w, x.data(), n_tokens, batched.data(), pool, isa);
    for (int64_t t = 0; t < n_tokens; ++t) {
      std::vector<float> alone(static_cast<size_t>(w.n_out));
      matmul(w, x.data() + t * w.n_in, 1, alone.data(), pool, isa);
      for (int64_t r = 0; r < w.n_out; ++r) {
        ASSERT_EQ(alone[static_cast<size_t>(r)], batched[static_cast<size_t>(t * w.n_out + r)])
            << type_name(w.type) << " " << layout << " on " << isa_name(isa) << " token " << t
            << " row " << r;
      }
    }
  }
}

// As the model loader lays a matrix out (interleaved where this CPU prefers it), and in the
// stored layout, which expert matrices keep (read from the file mapping; prompts may pack them
// on the fly).
TEST(BatchInvariance, EachTokensRowIsIndependentOfTheBatch) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  ThreadPool pool(2);
  for (TensorType type :
       {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
        TensorType::Q5_0, TensorType::Q4_1, TensorType::Q5_1, TensorType::Q4_K, TensorType::Q6_K,
        TensorType::Q5_K, TensorType::MXFP4}) {
    const int64_t n_in = 512, n_out = 40, n_tokens = 11;
    std::vector<float> source(static_cast<size_t>(n_in * n_out));
    for (float& v : source) v = dist(rng);
    std::vector<uint8_t> stored(row_bytes(type, n_in) * static_cast<size_t>(n_out));
    type_traits(type).quantize(source.data(), stored.data(), n_in * n_out);
    std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
    for (float& v : x) v = dist(rng);
    const WeightMatrix as_stored{type, n_in, n_out, stored.data()};
    expect_rows_independent_of_the_batch(as_stored, x, n_tokens, pool, "stored");
    if (prefers_interleaved(as_stored)) {
      std::vector<uint8_t> packed(interleaved_bytes(as_stored));
      const WeightMatrix w = interleave(as_stored, packed.data());
      expect_rows_independent_of_the_batch(w, x, n_tokens, pool, "interleaved");
    }
  }
}

}  // namespace
}  // namespace bottega::kernels
