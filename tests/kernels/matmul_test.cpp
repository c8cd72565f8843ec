// matmul against a double-precision product of the reference-dequantized weights with the
// reference-dequantized quantized activations (matmul quantizes x to the weight type's activation
// type first, as llama.cpp does; vec_dot.h), for every computable weight type, every ISA this CPU
// runs, token counts that leave tails in the kernels' token tiles (1, 2, 3, 5, 17, and 70 > the
// 64-token block), thread counts 1/2/3 and n_out = 37 (tails of the 4-row and 16-row tiles).
//
// Bound per output, relative to S = sum_i |w_i * a_i| of the dequantized operands: the kernels sum
// exact integer block products in float, so 1e-5 * S for the integer types (see vec_dot_test);
// 1e-4 * S for the float types (float products and sums over 512 terms: 512 * 2^-24 = 3e-5);
// 1e-3 * S for the Q8_1 types, whose activation block sum s is stored as a half (2^-10 relative
// on the weights' min term).
#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/repack.h"
#include "kernels/random_matrix.h"

namespace bottega::kernels {
namespace {

TEST(Matmul, MatchesDoubleProductOfDequantizedOperandsForEveryTypeAndIsa) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int checked_types = 0;
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeTraits* traits = find_type(id);
    if (traits == nullptr || traits->quantize == nullptr || traits->dequantize == nullptr) continue;
    ++checked_types;
    // 37 rows leave a tail of every row tile; 48 (whole row groups) let the prompt path pack
    // the stored rows into the interleaved layout (expert matrices, matmul.cpp).
    for (const int64_t n_out : {int64_t{37}, int64_t{48}}) {
      const int64_t n_in = 512;
      if (n_out == 48 && !can_interleave(traits->type, n_in, n_out)) continue;
      std::vector<float> values(static_cast<size_t>(n_in * n_out));
      for (float& v : values) v = dist(rng);
      std::vector<uint8_t> bytes(row_bytes(traits->type, n_in) * static_cast<size_t>(n_out));
      traits->quantize(values.data(), bytes.data(), n_in * n_out);
      std::vector<float> weights(values.size());
      traits->dequantize(bytes.data(), weights.data(), n_in * n_out);
      const WeightMatrix w{traits->type, n_in, n_out, bytes.data()};
      const TensorType act = activation_type(traits->type);
      const double relative = act == TensorType::F32 ? 1e-4 : act == TensorType::Q8_1 ? 1e-3 : 1e-5;

      for (int64_t n_tokens : {1, 2, 3, 5, 17, 70}) {
        std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
        for (float& v : x) v = dist(rng);
        // The activations as the kernels see them.
        std::vector<float> xa = x;
        if (act != TensorType::F32) {
          std::vector<uint8_t> q(row_bytes(act, n_in * n_tokens));
          type_traits(act).quantize(x.data(), q.data(), n_in * n_tokens);
          type_traits(act).dequantize(q.data(), xa.data(), n_in * n_tokens);
        }
        std::vector<double> expected(static_cast<size_t>(n_out * n_tokens));
        std::vector<double> scale(expected.size());
        for (int64_t t = 0; t < n_tokens; ++t) {
          for (int64_t r = 0; r < n_out; ++r) {
            double sum = 0.0, magnitude = 0.0;
            for (int64_t i = 0; i < n_in; ++i) {
              const double p = static_cast<double>(weights[r * n_in + i]) * xa[t * n_in + i];
              sum += p;
              magnitude += std::fabs(p);
            }
            expected[t * n_out + r] = sum;
            scale[t * n_out + r] = magnitude;
          }
        }
        for (Isa isa : available_isas()) {
          for (int threads : {1, 2, 3}) {
            ThreadPool pool(threads);
            std::vector<float> y(static_cast<size_t>(n_out * n_tokens), NAN);
            matmul(w, x.data(), n_tokens, y.data(), pool, isa);
            for (size_t i = 0; i < y.size(); ++i) {
              ASSERT_NEAR(y[i], expected[i], relative * scale[i])
                  << traits->name << " on " << isa_name(isa) << " token " << i / n_out << " row "
                  << i % n_out << " of " << n_tokens << " tokens, threads " << threads;
            }
          }
        }
      }
    }
  }
  EXPECT_GE(checked_types, 4);
}

// The float tiles step 8 (AVX2) or 16 (AVX-512) values at a time over 3 x 4 or 4 x 6 rows x
// tokens: widths that are not a multiple of 8 and row/token counts off the tile leave every tail;
// rows of 1024 floats are 4 KB apart, which matmul pads. Bound as above for the float types.
TEST(Matmul, FloatTilesHandleEveryTail) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (TensorType type : {TensorType::F16, TensorType::F32}) {
    for (int64_t n_in : {5, 37, 64, 1024}) {
      const int64_t n_out = 7;
      std::vector<float> values(static_cast<size_t>(n_in * n_out));
      for (float& v : values) v = dist(rng);
      std::vector<uint8_t> bytes(row_bytes(type, n_in) * static_cast<size_t>(n_out));
      type_traits(type).quantize(values.data(), bytes.data(), n_in * n_out);
      std::vector<float> weights(values.size());
      type_traits(type).dequantize(bytes.data(), weights.data(), n_in * n_out);
      const WeightMatrix w{type, n_in, n_out, bytes.data()};
      for (int64_t n_tokens : {1, 2, 5, 9}) {
        std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
        for (float& v : x) v = dist(rng);
        for (Isa isa : available_isas()) {
          ThreadPool pool(2);
          std::vector<float> y(static_cast<size_t>(n_out * n_tokens), NAN);
          matmul(w, x.data(), n_tokens, y.data(), pool, isa);
          for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t r = 0; r < n_out; ++r) {
              double sum = 0.0, magnitude = 0.0;
              for (int64_t i = 0; i < n_in; ++i) {
                const double p = static_cast<double>(weights[r * n_in + i]) * x[t * n_in + i];
                sum += p;
                magnitude += std::fabs(p);
              }
              ASSERT_NEAR(y[t * n_out + r], sum, 1e-4 * magnitude)
                  << type_traits(type).name << " on " << isa_name(isa) << ", n_in " << n_in
                  << ", row " << r << ", token " << t << " of " << n_tokens;
            }
          }
        }
      }
    }
  }
}

// The integer tiles of the blocks of 32 take 4 rows x 4 tokens (AVX2: 4 x 2; MXFP4: 8 x 2, and on
// AVX-512 pairs of 8-row groups packed on the fly, from 4 tokens): row counts 1..7, 8, 15..17 and
// 33, and token counts 1..9, leave every tail. Bound as above for the integer types.
TEST(Matmul, QuantizedTilesHandleEveryTail) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (TensorType type :
       {TensorType::Q4_0, TensorType::Q5_0, TensorType::Q8_0, TensorType::MXFP4}) {
    const int64_t n_in = 96;
    for (int64_t n_out : {1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 33}) {
      std::vector<float> values(static_cast<size_t>(n_in * n_out));
      for (float& v : values) v = dist(rng);
      std::vector<uint8_t> bytes(row_bytes(type, n_in) * static_cast<size_t>(n_out));
      type_traits(type).quantize(values.data(), bytes.data(), n_in * n_out);
      std::vector<float> weights(values.size());
      type_traits(type).dequantize(bytes.data(), weights.data(), n_in * n_out);
      const WeightMatrix w{type, n_in, n_out, bytes.data()};
      const int64_t n_tokens = 9;
      std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
      for (float& v : x) v = dist(rng);
      std::vector<uint8_t> q(row_bytes(TensorType::Q8_0, n_in * n_tokens));
      type_traits(TensorType::Q8_0).quantize(x.data(), q.data(), n_in * n_tokens);
      std::vector<float> xa(x.size());
      type_traits(TensorType::Q8_0).dequantize(q.data(), xa.data(), n_in * n_tokens);
      for (Isa isa : available_isas()) {
        ThreadPool pool(1);
        for (int64_t tokens = 1; tokens <= n_tokens; ++tokens) {
          std::vector<float> y(static_cast<size_t>(n_out * tokens), NAN);
          matmul(w, x.data(), tokens, y.data(), pool, isa);
          for (int64_t t = 0; t < tokens; ++t) {
            for (int64_t r = 0; r < n_out; ++r) {
              double sum = 0.0, magnitude = 0.0;
              for (int64_t i = 0; i < n_in; ++i) {
                const double p = static_cast<double>(weights[r * n_in + i]) * xa[t * n_in + i];
                sum += p;
                magnitude += std::fabs(p);
              }
              ASSERT_NEAR(y[t * n_out + r], sum, 1e-5 * magnitude)
                  << type_traits(type).name << " on " << isa_name(isa) << ", row " << r << " of "
                  << n_out << ", token " << t << " of " << tokens;
            }
          }
        }
      }
    }
  }
}

TEST(Matmul, DefaultIsaIsTheBestOne) {
  const int64_t n_in = 64, n_out = 5;
  std::vector<float> values(static_cast<size_t>(n_in * n_out));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 13) - 6.5f;
  std::vector<uint8_t> bytes(row_bytes(TensorType::Q8_0, n_in * n_out));
  type_traits(TensorType::Q8_0).quantize(values.data(), bytes.data(), n_in * n_out);
  const WeightMatrix w{TensorType::Q8_0, n_in, n_out, bytes.data()};
  std::vector<float> x(static_cast<size_t>(n_in), 0.25f);
  ThreadPool pool(2);
  std::vector<float> a(n_out), b(n_out);
  matmul(w, x.data(), 1, a.data(), pool);
  matmul(w, x.data(), 1, b.data(), pool, best_isa());
  EXPECT_EQ(a, b);
}

// A random matrix (random_matrix.h) as matmul takes it, interleaved where `interleaved` and the
// type allows it.
struct OwnedMatrix {
  Matrix source;
  std::vector<uint8_t> packed;
  WeightMatrix w;
};

OwnedMatrix random_weights(TensorType type, int64_t n_in, int64_t n_out, bool interleaved,
                           std::mt19937& rng) {
  OwnedMatrix m;
  m.source = random_matrix(type, n_in, n_out, rng);
  m.w = WeightMatrix{type, n_in, n_out, m.source.stored.data()};
  if (interleaved && can_interleave(type, n_in, n_out)) {
    m.packed.resize(interleaved_bytes(m.w));
    m.w = interleave(m.w, m.packed.data());
  }
  return m;
}

// matmul_shared_input must give every product the bits of its own matmul: where it runs them as
// one pass (one decoding token, interleaved matrices of one type) and where it falls back (several
// tokens, mixed types, stored rows, BF16's own activation rows). Row counts of 40, 8 and 136 put
// matrix boundaries inside the threads' shares and inside 8-group decode steps.
TEST(Matmul, SharedInputGivesEveryProductItsOwnMatmulsBits) {
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const int64_t n_in = 512;
  const std::vector<int64_t> rows = {40, 8, 136};
  struct Case {
    std::vector<TensorType> types;
    bool interleaved;
  };
  const std::vector<Case> cases = {
      {{TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0}, true},
      {{TensorType::Q5_0, TensorType::Q5_0, TensorType::Q5_0}, true},
      {{TensorType::Q4_1, TensorType::Q4_1, TensorType::Q4_1}, true},
      {{TensorType::Q8_0, TensorType::Q8_0, TensorType::Q8_0}, true},
      {{TensorType::Q4_K, TensorType::Q4_K, TensorType::Q4_K}, true},
      {{TensorType::Q6_K, TensorType::Q6_K, TensorType::Q6_K}, true},
      {{TensorType::F16, TensorType::F16, TensorType::F16}, true},
      {{TensorType::BF16, TensorType::BF16, TensorType::BF16}, true},
      {{TensorType::Q4_K, TensorType::Q4_K, TensorType::Q6_K}, true},
      {{TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0}, false},
  };
  for (const Case& c : cases) {
    std::vector<OwnedMatrix> matrices;
    for (size_t i = 0; i < rows.size(); ++i) {
      matrices.push_back(random_weights(c.types[i], n_in, rows[i], c.interleaved, rng));
    }
    for (int64_t n_tokens : {1, 3}) {
      std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
      for (float& v : x) v = dist(rng);
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        std::vector<std::vector<float>> shared(rows.size()), alone(rows.size());
        std::vector<SharedInputProduct> products;
        for (size_t i = 0; i < rows.size(); ++i) {
          shared[i].assign(static_cast<size_t>(rows[i] * n_tokens), NAN);
          alone[i].assign(shared[i].size(), NAN);
          matmul(matrices[i].w, x.data(), n_tokens, alone[i].data(), pool);
          products.push_back({&matrices[i].w, shared[i].data()});
        }
        matmul_shared_input(products, x.data(), n_tokens, pool);
        for (size_t i = 0; i < rows.size(); ++i) {
          for (size_t j = 0; j < shared[i].size(); ++j) {
            ASSERT_EQ(std::memcmp(&shared[i][j], &alone[i][j], sizeof(float)), 0)
                << type_name(c.types[i]) << (c.interleaved ? " interleaved" : " stored")
                << ", product " << i << " value " << j << ", " << n_tokens << " tokens, " << threads
                << " threads: " << shared[i][j] << " vs " << alone[i][j];
          }
        }
      }
    }
  }
}

TEST(Matmul, DequantizeRowReadsTheRightRow) {
  std::vector<float> values(64 * 5);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 97) - 48.0f;
  std::vector<uint8_t> bytes(values.size() * 2);
  type_traits(TensorType::F16)
      .quantize(values.data(), bytes.data(), static_cast<int64_t>(values.size()));
  const WeightMatrix w{TensorType::F16, 64, 5, bytes.data()};
  std::vector<float> row(64);
  dequantize_row(w, 3, row.data());
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(row[static_cast<size_t>(i)], values[static_cast<size_t>(3 * 64 + i)]);
}

}  // namespace
}  // namespace bottega::kernels
