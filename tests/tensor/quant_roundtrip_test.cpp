// quantize -> dequantize round trips for every type in the table that has both functions: the
// error of each value must stay within the type's round_trip_bound times its block's max |x|,
// on several distributions and row lengths, and the RMS error well below the bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tensor/types.h"

namespace bottega {
namespace {

// Every row with both functions; with min_block 2, only the block types.
std::vector<TensorType> codec_types(int64_t min_block = 1) {
  std::vector<TensorType> types;
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeTraits* traits = find_type(id);
    if (traits != nullptr && traits->quantize != nullptr && traits->dequantize != nullptr &&
        traits->block_size >= min_block) {
      types.push_back(traits->type);
    }
  }
  return types;
}

struct RoundTrip {
  std::vector<float> y;       // dequantize(quantize(x))
  double max_relative = 0.0;  // max over values of |x - y| / (block max |x|)
  double rms_relative = 0.0;  // RMS of the same, over blocks with a nonzero max
  int64_t violations = 0;     // values over the bound
  std::string first_violation;
};

// Bound check per value: |x - y| <= bound * A + slack, A the block's max |x|. The slack, 2^-25
// (half the smallest F16 subnormal), only matters for F16 values below its normal range, whose
// error is absolute rather than relative; it is 0 for exact types.
RoundTrip round_trip(const TypeTraits& traits, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(row_bytes(traits.type, n));
  RoundTrip r;
  r.y.resize(x.size());
  traits.quantize(x.data(), q.data(), n);
  traits.dequantize(q.data(), r.y.data(), n);
  const double bound = traits.round_trip_bound;
  const double slack = bound > 0.0 ? 0x1p-25 : 0.0;
  double sum_sq = 0.0;
  int64_t counted = 0;
  for (int64_t b = 0; b < n; b += traits.block_size) {
    double block_max = 0.0;
    for (int64_t i = b; i < b + traits.block_size; ++i) {
      block_max = std::max(block_max, std::fabs(static_cast<double>(x[i])));
    }
    for (int64_t i = b; i < b + traits.block_size; ++i) {
      const double error = std::fabs(static_cast<double>(x[i]) - static_cast<double>(r.y[i]));
      if (!(error <= bound * block_max + slack)) {
        if (r.violations++ == 0) {
          r.first_violation = "value " + std::to_string(i) + ": x=" + std::to_string(x[i]) +
                              " y=" + std::to_string(r.y[i]) +
                              " block max=" + std::to_string(block_max);
        }
      }
      if (block_max > 0.0) {
        const double relative = error / block_max;
        r.max_relative = std::max(r.max_relative, relative);
        sum_sq += relative * relative;
        ++counted;
      }
    }
  }
  r.rms_relative = counted > 0 ? std::sqrt(sum_sq / static_cast<double>(counted)) : 0.0;
  return r;
}

class RoundTripTest : public ::testing::TestWithParam<TensorType> {
 protected:
  const TypeTraits& traits() const { return type_traits(GetParam()); }
  int64_t block() const { return traits().block_size; }
  // Row lengths: 1, 2, 3 and 7 blocks, and a long row (blocks of one value get more of them).
  std::vector<int64_t> lengths() const {
    const int64_t unit = block() == 1 ? 32 : block();
    return {unit, 2 * unit, 3 * unit, 7 * unit, 64 * unit};
  }
  void expect_within_bound(const std::vector<float>& x, const char* what) const {
    const RoundTrip r = round_trip(traits(), x);
    EXPECT_EQ(r.violations, 0) << traits().name << " " << what << ", " << x.size()
                               << " values: " << r.first_violation << " (bound "
                               << traits().round_trip_bound << ")";
  }
};

TEST_P(RoundTripTest, UniformWithinBound) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int64_t n : lengths()) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = uniform(rng);
    expect_within_bound(x, "uniform");
  }
}

TEST_P(RoundTripTest, GaussianWithOutliersWithinBound) {
  std::mt19937 rng(2);
  std::normal_distribution<float> gaussian(0.0f, 0.02f);  // weight-like magnitudes
  std::uniform_int_distribution<int> pick(0, 99);
  for (int64_t n : lengths()) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) {
      v = gaussian(rng);
      if (pick(rng) == 0) v *= 20.0f;  // 1% outliers, as real weight matrices have
    }
    expect_within_bound(x, "gaussian with outliers");
  }
}

TEST_P(RoundTripTest, ConstantBlocksWithinBound) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(4 * block()));
  for (float& v : x) v = uniform(rng);
  std::fill(x.begin(), x.begin() + block(), 0.3f);                     // all equal, positive
  std::fill(x.begin() + 2 * block(), x.begin() + 3 * block(), -0.7f);  // all equal, negative
  expect_within_bound(x, "constant blocks");
}

TEST_P(RoundTripTest, ZeroBlockAmongRandomDecodesToZero) {
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(3 * block()));
  for (float& v : x) v = uniform(rng);
  std::fill(x.begin() + block(), x.begin() + 2 * block(), 0.0f);
  const RoundTrip r = round_trip(traits(), x);
  EXPECT_EQ(r.violations, 0) << r.first_violation;
  for (int64_t i = block(); i < 2 * block(); ++i) EXPECT_EQ(r.y[i], 0.0f) << "value " << i;
}

TEST_P(RoundTripTest, MixedMagnitudesWithinBound) {
  // In every 32 values, 16 of magnitude ~1 and 16 of 1e-2, 1e-4 or 0 in turn: the K-quants'
  // sub-block scales are quantized against the largest in the super-block, so the small ones get
  // few scale levels or none. Every block keeps a max near 1, the domain of the bounds: a block
  // whose own max is tiny gets a subnormal half scale, whose rounding error is absolute.
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  constexpr float kSmall[3] = {1e-2f, 1e-4f, 0.0f};
  std::vector<float> x(static_cast<size_t>(std::max<int64_t>(8 * block(), 256)));
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = uniform(rng) * (i % 32 < 16 ? 1.0f : kSmall[(i / 32) % 3]);
  }
  expect_within_bound(x, "mixed magnitudes");
}

// Errors spread evenly over +-bound would have an RMS of bound/sqrt(3); a quantizer whose bound
// is its half step (Q8_*) sits right there, those whose bound covers clamping far below.
TEST_P(RoundTripTest, RmsWellBelowBound) {
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(std::max<int64_t>(64 * block(), 8192)));
  for (float& v : x) v = uniform(rng);
  const RoundTrip r = round_trip(traits(), x);
  EXPECT_EQ(r.violations, 0) << r.first_violation;
  const double bound = traits().round_trip_bound;
  EXPECT_LE(r.rms_relative, 0.6 * bound) << traits().name;
  // Printed for the record: the bounds in types.cpp quote these.
  std::printf("  %-5s bound %.5f  max %.5f  rms %.5f\n", std::string(traits().name).c_str(), bound,
              r.max_relative, r.rms_relative);
}

TEST_P(RoundTripTest, BlocksAreIndependent) {
  // Quantizing a row equals quantizing its blocks one at a time, and a non-finite value only
  // affects its own block (and hits no undefined behaviour: the suite runs under UBSan).
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(4 * block()));
  for (float& v : x) v = uniform(rng);
  x[0] = std::numeric_limits<float>::quiet_NaN();
  x[static_cast<size_t>(block())] = std::numeric_limits<float>::infinity();
  x[static_cast<size_t>(block()) + (block() > 1 ? 1 : 0)] = -std::numeric_limits<float>::infinity();
  const RoundTrip whole = round_trip(traits(), x);
  for (int64_t b = 2; b < 4; ++b) {
    const std::vector<float> part(x.begin() + b * block(), x.begin() + (b + 1) * block());
    const RoundTrip alone = round_trip(traits(), part);
    EXPECT_EQ(alone.violations, 0) << alone.first_violation;
    for (int64_t i = 0; i < block(); ++i) {
      EXPECT_EQ(whole.y[static_cast<size_t>(b * block() + i)], alone.y[static_cast<size_t>(i)]);
    }
  }
}

TEST_P(RoundTripTest, DeterministicOutput) {
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(3 * block()));
  for (float& v : x) v = uniform(rng);
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> a(row_bytes(GetParam(), n), 0x00);
  std::vector<uint8_t> b(row_bytes(GetParam(), n), 0xff);  // stale bytes must all be overwritten
  traits().quantize(x.data(), a.data(), n);
  traits().quantize(x.data(), b.data(), n);
  EXPECT_EQ(a, b);
}

using RoundTripDeathTest = RoundTripTest;

TEST_P(RoundTripDeathTest, PartialBlocksAreRejected) {
  std::vector<float> x(static_cast<size_t>(2 * block()), 0.5f);
  std::vector<uint8_t> q(row_bytes(GetParam(), 2 * block()));
  EXPECT_DEATH(traits().quantize(x.data(), q.data(), block() + 1), "multiple");
  EXPECT_DEATH(traits().dequantize(q.data(), x.data(), block() - 1), "multiple");
}

std::string type_param_name(const ::testing::TestParamInfo<TensorType>& info) {
  return std::string(type_name(info.param));
}

INSTANTIATE_TEST_SUITE_P(Types, RoundTripTest, ::testing::ValuesIn(codec_types()), type_param_name);
INSTANTIATE_TEST_SUITE_P(Types, RoundTripDeathTest, ::testing::ValuesIn(codec_types(2)),
                         type_param_name);

// Quality on weight-like data (what users' quantized models get), not just the worst case: RMS
// error relative to sigma, the thresholds being the values measured with this seed plus 5%.
TEST(QuantQualityTest, RmsErrorOnGaussianWeights) {
  struct Expect {
    TensorType type;
    double max_rms_over_sigma;
  };
  const Expect expected[] = {
      {TensorType::Q4_0, 0.0906},  {TensorType::Q4_1, 0.0817}, {TensorType::Q5_0, 0.0449},
      {TensorType::Q5_1, 0.0397},  {TensorType::Q8_0, 0.0057}, {TensorType::Q4_K, 0.0747},
      {TensorType::Q5_K, 0.0381},  {TensorType::Q6_K, 0.0188}, {TensorType::Q8_K, 0.0074},
      {TensorType::MXFP4, 0.1204},
  };
  std::mt19937 rng(9);
  const float sigma = 0.02f;
  std::normal_distribution<float> gaussian(0.0f, sigma);
  std::vector<float> x(256 * 64);
  for (float& v : x) v = gaussian(rng);
  std::map<TensorType, double> rms;
  for (const Expect& e : expected) {
    const RoundTrip r = round_trip(type_traits(e.type), x);
    double sum_sq = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double d = static_cast<double>(x[i]) - static_cast<double>(r.y[i]);
      sum_sq += d * d;
    }
    const double rms_over_sigma = std::sqrt(sum_sq / static_cast<double>(x.size())) / sigma;
    std::printf("  %-5s rms/sigma %.5f\n", std::string(type_name(e.type)).c_str(), rms_over_sigma);
    EXPECT_LE(rms_over_sigma, e.max_rms_over_sigma) << type_name(e.type);
    rms[e.type] = rms_over_sigma;
  }
  // The K-quants' searched scales beat the plain min/max scales of types with as many or more
  // bits per weight (Q4_K 4.5 vs Q4_1 5.0, Q5_K 5.5 vs Q5_1 6.0).
  EXPECT_LT(rms[TensorType::Q4_K], rms[TensorType::Q4_1]);
  EXPECT_LT(rms[TensorType::Q5_K], rms[TensorType::Q5_1]);
  // MXFP4's power-of-two scale cannot fit the block (its max lands anywhere in [4, 8) times the
  // scale, often above the largest code 6): worse than Q4_0, with 0.25 fewer bits per weight.
  EXPECT_GT(rms[TensorType::MXFP4], rms[TensorType::Q4_0]);
}

}  // namespace
}  // namespace bottega
