// Every dot kernel on every ISA this CPU runs, against the scalar reference dot on the same
// blocks; and the SIMD activation quantizers against the reference quantizers, byte for byte.
//
// Data: weights uniform in [-1, 1] quantized by the type's reference quantizer (random bytes with
// sane scales for Q2_K/Q3_K, which bottega does not write), activations uniform in [-1, 1]
// quantized to the activation type; never zero. Block counts 1, 3, 7, 13 (odd, to hit tails).
//
// Bound: both sides compute the same exact integer sums per block; only float rounding differs
// (the order of the per-block additions, FMA vs multiply-add), a few ulps of the largest partial
// sum. Stated relative to S = sum_i |w_i * x_i| of the dequantized values: 1e-5 * S for the
// integer kernels (the K-quants' scale-times-quants and min terms can each be ~3x S, so their
// float sums lose up to ~3x more than S alone suggests; 1e-5 still leaves a 10x margin at 13
// super-blocks), 1e-4 * S for the float kernels.
#include "kernels/cpu/vec_dot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

#include "core/half.h"
#include "tensor/blocks.h"

namespace bottega::kernels {
namespace {

std::vector<float> uniform(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) {
    do {
      x = dist(rng);
    } while (x == 0.0f);
  }
  return v;
}

// n weights of `type` as stored bytes.
std::vector<uint8_t> random_weights(TensorType type, int64_t n, std::mt19937& rng) {
  const TypeTraits& traits = type_traits(type);
  std::vector<uint8_t> bytes(row_bytes(type, n));
  if (traits.quantize != nullptr) {
    const std::vector<float> values = uniform(static_cast<size_t>(n), rng);
    traits.quantize(values.data(), bytes.data(), n);
    return bytes;
  }
  // Read-only types: random quants and scales, then scales set to small normal halves.
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  for (int64_t b = 0; b < n / traits.block_size; ++b) {
    uint8_t* block = bytes.data() + static_cast<size_t>(b) * traits.block_bytes;
    if (type == TensorType::Q2_K) {
      auto* q = reinterpret_cast<BlockQ2_K*>(block);
      q->d = f32_to_f16(scale(rng));
      q->dmin = f32_to_f16(scale(rng));
    } else if (type == TensorType::Q3_K) {
      reinterpret_cast<BlockQ3_K*>(block)->d = f32_to_f16(scale(rng));
    } else {
      ADD_FAILURE() << "no random generator for " << traits.name;
    }
  }
  return bytes;
}

std::vector<TensorType> computable_types() {
  std::vector<TensorType> types;
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeTraits* traits = find_type(id);
    if (traits != nullptr && traits->dequantize != nullptr) types.push_back(traits->type);
  }
  return types;
}

TEST(VecDot, EveryTypeOnEveryIsaMatchesReference) {
  std::mt19937 rng(7);
  int checked = 0;
  for (TensorType type : computable_types()) {
    const TypeTraits& traits = type_traits(type);
    const TensorType act_type = activation_type(type);
    const bool is_float = act_type == TensorType::F32;
    // Float types have one-value blocks: use rows of 32 * blocks values (odd multiples of 8 and
    // not of 32, so the SIMD tails run).
    const int64_t unit = traits.block_size == 1 ? 40 : std::max<int64_t>(traits.block_size, 32);
    for (int64_t blocks : {1, 3, 7, 13}) {
      const int64_t n = unit * blocks + (traits.block_size == 1 ? 3 : 0);
      const std::vector<uint8_t> w = random_weights(type, n, rng);
      const std::vector<float> x = uniform(static_cast<size_t>(n), rng);
      // The activation row as matmul writes it (BF16's as floats holding BF16 values).
      const DotKernel reference = dot_kernel(type, Isa::kRef);
      std::vector<uint8_t> a(reference.activation_row_bytes(n));
      if (reference.quantize == nullptr) {
        std::memcpy(a.data(), x.data(), a.size());
      } else {
        reference.quantize(x.data(), a.data(), n);
      }

      // S = sum |w_i x_i| over the values the kernels see.
      std::vector<float> wd(static_cast<size_t>(n)), xd(static_cast<size_t>(n));
      traits.dequantize(w.data(), wd.data(), n);
      if (reference.float_rows()) {
        std::memcpy(xd.data(), a.data(), a.size());
      } else {
        type_traits(act_type).dequantize(a.data(), xd.data(), n);
      }
      if (act_type == TensorType::BF16) {
        for (size_t i = 0; i < xd.size(); ++i) {
          ASSERT_EQ(xd[i], bf16_to_f32(f32_to_bf16(x[i]))) << "activation " << i;
        }
      }
      double scale = 0.0, exact = 0.0;
      for (size_t i = 0; i < wd.size(); ++i) {
        scale += std::fabs(static_cast<double>(wd[i]) * xd[i]);
        exact += static_cast<double>(wd[i]) * xd[i];
      }
      ASSERT_GT(scale, 0.0);
      const double bound = (is_float ? 1e-4 : 1e-5) * scale;

      const float ref = reference_dot(type)(n, w.data(), a.data());
      // The reference itself is the product of the dequantized values, up to float rounding
      // (Q8_1's stored block sum s is a half: 2^-10 relative on the min term, hence 1e-3).
      const bool half_sum = act_type == TensorType::Q8_1;
      EXPECT_NEAR(ref, exact, (half_sum ? 1e-3 : 1e-5) * scale) << traits.name << " n " << n;
      for (Isa isa : available_isas()) {
        const DotKernel k = dot_kernel(type, isa);
        EXPECT_EQ(k.activation, act_type);
        const float got = k.dot(n, w.data(), a.data());
        EXPECT_NEAR(got, ref, bound) << traits.name << " on " << isa_name(isa) << " n " << n;
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 4 * 14);
}

TEST(VecDot, SimdActivationQuantizersAreByteIdentical) {
  std::mt19937 rng(11);
  for (TensorType act : {TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K}) {
    const int64_t n = 256 * 5;
    std::vector<float> x = uniform(static_cast<size_t>(n), rng);
    // Block 1: exact ties after scaling (extreme -127 gives scale 1): x.5 values must round the
    // way the reference does (away from zero for Q8_0, to even for Q8_K).
    for (int i = 0; i < 256; ++i) x[256 + i] = static_cast<float>(i % 64) - 31.5f;
    x[256] = -127.0f;
    x[256 + 32 * 4] = -127.0f;
    // Block 2: all zero but one tiny value; block 3 exactly zero.
    for (int i = 0; i < 256; ++i) x[512 + i] = 0.0f;
    x[600] = 1e-30f;
    for (int i = 0; i < 256; ++i) x[768 + i] = 0.0f;
    std::vector<uint8_t> expected(row_bytes(act, n));
    type_traits(act).quantize(x.data(), expected.data(), n);
    for (Isa isa : available_isas()) {
      // Any weight type with this activation type gives its quantizer.
      const TensorType weight = act == TensorType::Q8_0   ? TensorType::Q4_0
                                : act == TensorType::Q8_1 ? TensorType::Q4_1
                                                          : TensorType::Q4_K;
      const DotKernel k = dot_kernel(weight, isa);
      ASSERT_EQ(k.activation, act);
      std::vector<uint8_t> got(expected.size(), 0xAA);
      k.quantize(x.data(), got.data(), n);
      EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size()), 0)
          << type_name(act) << " on " << isa_name(isa);
    }
  }
}

TEST(VecDot, DispatchListsReferenceFirstAndBestLast) {
  ASSERT_FALSE(available_isas().empty());
  EXPECT_EQ(available_isas().front(), Isa::kRef);
  EXPECT_EQ(best_isa(), available_isas().back());
}

#if defined(__aarch64__)
constexpr bool kNeonIsBaseline = true;
#else
constexpr bool kNeonIsBaseline = false;
#endif

// Detection must not fall back to the reference silently: every AArch64 CPU has NEON, and a
// runner that knows its CPU (scripts/test-aarch64 runs QEMU with `-cpu max`, which has dotprod,
// and with a CPU without it) names the ISA it must pick in BOTTEGA_EXPECT_BEST_ISA.
TEST(VecDot, DetectionFindsTheIsaTheCpuHas) {
  // BOTTEGA_ISA=NAME caps the list at NAME, which is then the best.
  const char* forced = std::getenv("BOTTEGA_ISA");
  if (forced != nullptr && *forced != '\0') {
    EXPECT_STREQ(isa_name(best_isa()), forced);
    return;
  }
  const auto isas = available_isas();
  if (kNeonIsBaseline) {
    EXPECT_NE(std::find(isas.begin(), isas.end(), Isa::kNeon), isas.end());
  }
  const char* expected = std::getenv("BOTTEGA_EXPECT_BEST_ISA");
  if (expected != nullptr) {
    EXPECT_STREQ(isa_name(best_isa()), expected);
  }
}

}  // namespace
}  // namespace bottega::kernels
