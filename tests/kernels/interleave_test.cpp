// The interleaved weight layouts (repack.h): rows survive the round trip, and matmul on an
// interleaved matrix, on every ISA this CPU runs, matches a double-precision product of the
// reference-dequantized weights with the reference-quantized activations.
//
// Shapes leave tails everywhere: n_in = 3 and 11 blocks (odd block counts; F16 and BF16: 51
// and 187 pairs), n_out = 8 and 40 (one and five row groups; thread splits fall mid-range; F16 and
// BF16 also 136, 17 groups), tokens
// 1, 2, 3, 5, 17 (tails of the 4-token tile) and 70 (more than one of matmul's token blocks for 11
// Q4_K blocks), threads 1 and 3 (3 splits 5 groups unevenly).
//
// Bound, relative to S = sum_i |w_i * a_i|: each block's integer dot product is exact, so only
// float rounding of the per-block products and their sum differs from the double result;
// 1e-5 * S (as for the row-layout kernels in matmul_test). Q4_K's min term, subtracted after the
// scaled sum, can be ~3x S on its own (see vec_dot_test), which 1e-5 still covers.
// F16 and BF16 (no blocks; BF16's activations rounded to BF16, so every product is exact in float)
// sum each row's products in float, in two running sums of n_in / 2 terms (F16, and BF16 without
// AVX512_BF16) or one sum of pairs (vdpbf16ps); their rounding is what 1e-5 * S bounds (random data
// stays far below it). Q4_1
// and Q5_1 (Q8_1 activations) differ from the dequantized product by design: the activation's block
// sum s is a half computed from the unrounded scale, so their expected value is the reference dot's
// own decomposition, per block d * dy * sum(q * q8) + m * s in double, and S the sum of |d * dy * q
// * q8| and |m * s|: 1e-5 * S again.
//
// Random data rarely drives the int16 sums to their limits, so every type also runs with every
// quant at its largest magnitude against activations all at +-127: a kernel that summed more
// products in int16 than fit (maddubs pairs, or a sum vpdpwssd scales) would saturate or wrap
// there and miss the bound by far.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/repack.h"
#include "kernels/cpu/vec_dot_impl.h"
#include "kernels/random_matrix.h"
#include "tensor/blocks.h"

namespace bottega::kernels {
namespace {

constexpr TensorType kQuantizedTypes[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                                          TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K,
                                          TensorType::Q5_K, TensorType::Q6_K};
constexpr TensorType kInterleavedTypes[] = {
    TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
    TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::F16,  TensorType::BF16};

// Row lengths are multiples of this: a block, or for F16 and BF16 (blockless, moved in pairs) 17
// pairs, so odd pair counts run too.
int64_t length_unit(TensorType type) {
  return type == TensorType::F16 || type == TensorType::BF16 ? 34 : type_traits(type).block_size;
}

// Every quant at its largest magnitude (all quant bits set; Q8_0 at -128, Q6_K's scales at 127),
// scales made finite: the largest integer sums each kernel forms.
Matrix saturated_matrix(TensorType type, int64_t n_in, int64_t n_out) {
  Matrix m;
  m.stored.assign(row_bytes(type, n_in) * static_cast<size_t>(n_out), 0xff);
  const uint16_t one = 0x3c00;  // half 1.0
  const int64_t nb = n_in / type_traits(type).block_size * n_out;
  uint8_t* data = m.stored.data();
  for (int64_t b = 0; b < nb; ++b) {
    switch (type) {
      case TensorType::Q4_0:
        reinterpret_cast<BlockQ4_0*>(data)[b].d = one;
        break;
      case TensorType::Q4_1:
        reinterpret_cast<BlockQ4_1*>(data)[b].d = reinterpret_cast<BlockQ4_1*>(data)[b].m = one;
        break;
      case TensorType::Q5_0:
        reinterpret_cast<BlockQ5_0*>(data)[b].d = one;
        break;
      case TensorType::Q5_1:
        reinterpret_cast<BlockQ5_1*>(data)[b].d = reinterpret_cast<BlockQ5_1*>(data)[b].m = one;
        break;
      case TensorType::Q8_0: {
        BlockQ8_0& block = reinterpret_cast<BlockQ8_0*>(data)[b];
        block.d = one;
        std::memset(block.qs, 0x80, sizeof(block.qs));
        break;
      }
      case TensorType::Q4_K:
        reinterpret_cast<BlockQ4_K*>(data)[b].d = reinterpret_cast<BlockQ4_K*>(data)[b].dmin = one;
        break;
      case TensorType::Q5_K:
        reinterpret_cast<BlockQ5_K*>(data)[b].d = reinterpret_cast<BlockQ5_K*>(data)[b].dmin = one;
        break;
      case TensorType::Q6_K: {
        BlockQ6_K& block = reinterpret_cast<BlockQ6_K*>(data)[b];
        block.d = one;
        std::memset(block.scales, 0x7f, sizeof(block.scales));
        break;
      }
      default:
        ADD_FAILURE() << "no saturated blocks for " << type_name(type);
    }
  }
  m.values.resize(static_cast<size_t>(n_in * n_out));
  type_traits(type).dequantize(m.stored.data(), m.values.data(), n_in * n_out);
  return m;
}

struct Expected {
  std::vector<double> value;  // [token][row]
  std::vector<double> bound;
};

// Every (token, row)'s sum of the terms that terms(t, r, add) passes to add, and 1e-5 times the
// sum of their magnitudes.
template <class Terms>
Expected sum_terms(int64_t n_out, int64_t n_tokens, Terms terms) {
  Expected e{std::vector<double>(static_cast<size_t>(n_out * n_tokens)),
             std::vector<double>(static_cast<size_t>(n_out * n_tokens))};
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < n_out; ++r) {
      double sum = 0.0, magnitude = 0.0;
      terms(t, r, [&](double term) {
        sum += term;
        magnitude += std::fabs(term);
      });
      e.value[t * n_out + r] = sum;
      e.bound[t * n_out + r] = 1e-5 * magnitude;
    }
  }
  return e;
}

// The double-precision product of the dequantized weights with the dequantized activations q.
Expected dequantized_product(TensorType act, const Matrix& m, int64_t n_in, int64_t n_out,
                             const std::vector<uint8_t>& q, int64_t n_tokens) {
  std::vector<float> xa(static_cast<size_t>(n_in * n_tokens));
  type_traits(act).dequantize(q.data(), xa.data(), n_in * n_tokens);
  return sum_terms(n_out, n_tokens, [&](int64_t t, int64_t r, auto add) {
    for (int64_t i = 0; i < n_in; ++i) {
      add(static_cast<double>(m.values[r * n_in + i]) * xa[t * n_in + i]);
    }
  });
}

// Q4_1/Q5_1 weights (d and m as the first two halves of each block) against Q8_1 activations q:
// per block d * dy * sum(q * q8) + m * s, as the reference dot defines it.
Expected affine_block_product(TensorType type, const Matrix& m, int64_t n_in, int64_t n_out,
                              const std::vector<uint8_t>& q, int64_t n_tokens) {
  const size_t block_bytes = type_traits(type).block_bytes;
  const int64_t nb = n_in / 32;
  // The integer quants: each block dequantized with d = 1 and m = 0.
  std::vector<uint8_t> unit = m.stored;
  std::vector<float> quants(static_cast<size_t>(n_in * n_out));
  const uint16_t scales[2] = {0x3c00, 0};  // half 1.0, 0.0
  for (int64_t b = 0; b < nb * n_out; ++b) std::memcpy(unit.data() + b * block_bytes, scales, 4);
  type_traits(type).dequantize(unit.data(), quants.data(), n_in * n_out);
  const auto half = [](const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return static_cast<double>(f16_to_f32(h));
  };
  const auto* act = reinterpret_cast<const BlockQ8_1*>(q.data());
  return sum_terms(n_out, n_tokens, [&](int64_t t, int64_t r, auto add) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* w = m.stored.data() + (r * nb + b) * block_bytes;
      const BlockQ8_1& y = act[t * nb + b];
      const double scale = half(w) * f16_to_f32(y.d);
      for (int64_t i = 0; i < 32; ++i) add(scale * quants[r * n_in + 32 * b + i] * y.qs[i]);
      add(half(w + 2) * f16_to_f32(y.s));
    }
  });
}

// matmul of the interleaved m with x (n_tokens rows of n_in) on every ISA and thread count
// against the double-precision product with the reference-quantized activations.
void expect_interleaved_matmul_exact(TensorType type, const Matrix& m, int64_t n_in, int64_t n_out,
                                     const std::vector<float>& x, int64_t n_tokens) {
  const TensorType act = activation_type(type);
  const WeightMatrix stored{type, n_in, n_out, m.stored.data()};
  std::vector<uint8_t> packed(interleaved_bytes(stored));
  const WeightMatrix w = interleave(stored, packed.data());
  // The activations as the kernels see them, through the reference quantizer.
  std::vector<uint8_t> q(row_bytes(act, n_in * n_tokens));
  type_traits(act).quantize(x.data(), q.data(), n_in * n_tokens);
  const Expected e = act == TensorType::Q8_1
                         ? affine_block_product(type, m, n_in, n_out, q, n_tokens)
                         : dequantized_product(act, m, n_in, n_out, q, n_tokens);
  const std::vector<double>& expected = e.value;
  const std::vector<double>& bound = e.bound;
  for (Isa isa : available_isas()) {
    for (int threads : {1, 3}) {
      ThreadPool pool(threads);
      std::vector<float> y(expected.size(), NAN);
      matmul(w, x.data(), n_tokens, y.data(), pool, isa);
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_NEAR(y[i], expected[i], bound[i])
            << type_name(type) << " on " << isa_name(isa) << ", n_in " << n_in << ", row "
            << i % n_out << " of " << n_out << ", token " << i / n_out << " of " << n_tokens
            << ", threads " << threads;
      }
    }
  }
}

TEST(Interleave, OnlyKnownTypesWithWholeRowGroups) {
  EXPECT_TRUE(can_interleave(TensorType::Q4_0, 256, 16));
  EXPECT_TRUE(can_interleave(TensorType::Q5_0, 256, 8));
  EXPECT_TRUE(can_interleave(TensorType::Q8_0, 256, 8));
  EXPECT_TRUE(can_interleave(TensorType::Q4_K, 256, 8));
  EXPECT_TRUE(can_interleave(TensorType::Q5_K, 256, 8));
  EXPECT_TRUE(can_interleave(TensorType::Q6_K, 256, 8));
  EXPECT_FALSE(can_interleave(TensorType::Q4_0, 256, 12));
  EXPECT_FALSE(can_interleave(TensorType::Q5_K, 256, 20));
  EXPECT_TRUE(can_interleave(TensorType::Q4_1, 256, 8));
  EXPECT_TRUE(can_interleave(TensorType::Q5_1, 256, 8));
  EXPECT_FALSE(can_interleave(TensorType::Q5_1, 256, 12));
  EXPECT_FALSE(can_interleave(TensorType::Q2_K, 256, 16));
  EXPECT_FALSE(can_interleave(TensorType::Q3_K, 256, 16));
  EXPECT_TRUE(can_interleave(TensorType::F16, 256, 16));
  EXPECT_FALSE(can_interleave(TensorType::F16, 255, 16));  // values move in pairs
  EXPECT_FALSE(can_interleave(TensorType::F16, 256, 12));
  EXPECT_FALSE(can_interleave(TensorType::F32, 256, 16));
  EXPECT_TRUE(can_interleave(TensorType::BF16, 256, 16));
  EXPECT_FALSE(can_interleave(TensorType::BF16, 255, 16));
  // MXFP4 has no interleaved layout: its matrices stay in rows, computed by the row tiles.
  EXPECT_FALSE(can_interleave(TensorType::MXFP4, 256, 16));
  std::vector<uint8_t> rows(row_bytes(TensorType::MXFP4, 64) * 16);
  EXPECT_FALSE(prefers_interleaved(WeightMatrix{TensorType::MXFP4, 64, 16, rows.data()}));
}

// --f16-as-bf16's conversion: the interleaved F16 matrix rounded value by value (to nearest, ties
// to even) is the interleaved BF16 matrix of those values, byte for byte.
TEST(Interleave, F16RoundedToBf16IsTheBf16MatrixOfTheRoundedValues) {
  std::mt19937 rng(23);
  const int64_t n_in = 102, n_out = 24;
  const Matrix f16 = random_matrix(TensorType::F16, n_in, n_out, rng);
  std::vector<uint8_t> bf16(row_bytes(TensorType::BF16, n_in) * static_cast<size_t>(n_out));
  type_traits(TensorType::BF16).quantize(f16.values.data(), bf16.data(), n_in * n_out);
  const WeightMatrix stored_f16{TensorType::F16, n_in, n_out, f16.stored.data()};
  const WeightMatrix stored_bf16{TensorType::BF16, n_in, n_out, bf16.data()};
  std::vector<uint8_t> rounded(interleaved_bytes(stored_f16)), expected(rounded.size());
  const WeightMatrix w = interleave_as_bf16(stored_f16, rounded.data());
  interleave(stored_bf16, expected.data());
  EXPECT_EQ(w.type, TensorType::BF16);
  EXPECT_TRUE(w.interleaved);
  EXPECT_EQ(rounded, expected);
}

TEST(Interleave, EveryRowComesBackByteForByteAndDequantizesAlike) {
  std::mt19937 rng(11);
  for (TensorType type : kInterleavedTypes) {
    const int64_t n_in = length_unit(type) * 5, n_out = 24;
    const Matrix m = random_matrix(type, n_in, n_out, rng);
    const WeightMatrix stored{type, n_in, n_out, m.stored.data()};
    std::vector<uint8_t> packed(interleaved_bytes(stored));
    const WeightMatrix w = interleave(stored, packed.data());
    ASSERT_TRUE(w.interleaved);
    EXPECT_NE(packed, m.stored);  // the layout really changed
    std::vector<uint8_t> row(stored.row_stride());
    std::vector<float> values(static_cast<size_t>(n_in));
    for (int64_t r = 0; r < n_out; ++r) {
      extract_row(type, n_in, packed.data(), r, row.data());
      EXPECT_EQ(0, std::memcmp(row.data(), stored.row(r), row.size()))
          << type_name(type) << " row " << r;
      dequantize_row(w, r, values.data());
      for (int64_t i = 0; i < n_in; ++i) {
        ASSERT_EQ(values[static_cast<size_t>(i)], m.values[static_cast<size_t>(r * n_in + i)]);
      }
    }
  }
}

TEST(Interleave, MatmulMatchesDoubleProductOnEveryIsa) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (TensorType type : kInterleavedTypes) {
    const int64_t unit = length_unit(type);
    for (int64_t n_in : {unit * 3, unit * 11}) {
      // 17 groups for the 16-bit float kernels, whose decode steps take 8 groups and prompt tiles
      // up to 4: whole steps and remainders in every thread's share.
      const bool float16 = type == TensorType::F16 || type == TensorType::BF16;
      for (int64_t n_out : {int64_t{8}, int64_t{40}, float16 ? int64_t{136} : int64_t{0}}) {
        if (n_out == 0) continue;
        const Matrix m = random_matrix(type, n_in, n_out, rng);
        for (int64_t n_tokens : {1, 2, 3, 5, 17, 70}) {
          std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
          for (float& v : x) v = dist(rng);
          expect_interleaved_matmul_exact(type, m, n_in, n_out, x, n_tokens);
        }
      }
    }
  }
}

TEST(Interleave, QuantsAtTheirLimitsDoNotOverflow) {
  for (TensorType type : kQuantizedTypes) {
    const int64_t n_in = type_traits(type).block_size * 3, n_out = 16;
    const Matrix m = saturated_matrix(type, n_in, n_out);
    // One token (the decode kernels) and a tile of several. Constant rows quantize to all +127 or
    // all -127; the sign alternates between tokens.
    for (int64_t n_tokens : {1, 5}) {
      std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t i = 0; i < n_in; ++i)
          x[static_cast<size_t>(t * n_in + i)] = t % 2 ? -1.0f : 1.0f;
      }
      expect_interleaved_matmul_exact(type, m, n_in, n_out, x, n_tokens);
    }
  }
}

// A kernel that reads BF16 activations writes its rows with its own rounding; it must give the
// bits of core/half.h's f32_to_bf16 (to nearest, ties to even, NaNs quiet) for every float: random
// values, exact ties both ways, the largest values that round to infinity, subnormals, infinities
// and NaNs, at lengths with tails.
TEST(Interleave, Bf16ActivationRowsRoundAsCoreDoes) {
  std::mt19937 rng(71);
  // The special values first, where the 16-wide loop takes them.
  std::vector<float> values;
  for (uint32_t bits :
       {0x3f808000u, 0x3f818000u, 0x7f7fffffu, 0x7f7f8000u, 0x00000001u, 0x807fffffu, 0x7f800000u,
        0xff800000u, 0x7f800001u, 0xffc00000u, 0x7fbfffffu}) {
    values.push_back(std::bit_cast<float>(bits));
  }
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int i = 0; i < 3000; ++i) values.push_back(normal(rng));
  std::uniform_int_distribution<uint32_t> any_bits;
  for (int i = 0; i < 3000; ++i) values.push_back(std::bit_cast<float>(any_bits(rng)));
  int checked = 0;
  for (Isa isa : available_isas()) {
    for (const IsaInterleavedKernel& entry : simd_interleaved_kernels(isa)) {
      if (entry.bf16_activations == nullptr) continue;
      ++checked;
      for (int64_t n :
           {int64_t{1}, int64_t{15}, int64_t{17}, static_cast<int64_t>(values.size())}) {
        std::vector<uint16_t> out(static_cast<size_t>(n) + 1, 0xabcd);
        entry.bf16_activations(values.data(), out.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(out[static_cast<size_t>(i)], f32_to_bf16(values[static_cast<size_t>(i)]))
              << isa_name(isa) << " value bits 0x" << std::hex
              << std::bit_cast<uint32_t>(values[static_cast<size_t>(i)]);
        }
        EXPECT_EQ(out.back(), 0xabcd) << "wrote past the last value";
      }
    }
  }
  if (bf16_dot_products()) {
    EXPECT_GT(checked, 0) << "this CPU has a BF16 kernel, which the table must list";
  }
}

}  // namespace
}  // namespace bottega::kernels
