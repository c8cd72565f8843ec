// Row operations against double-precision formulas on random data, odd sizes included.
// Bound: float32 rounding only, |error| <= 1e-5 relative to the largest output magnitude.
#include "kernels/cpu/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace bottega::kernels {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed, float low = -2.0f, float high = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(Ops, DotAndRmsNormOnOddSizes) {
  for (int64_t n : {1, 7, 8, 9, 31, 64, 257}) {
    const auto a = random_values(static_cast<size_t>(n), 1),
               b = random_values(static_cast<size_t>(n), 2);
    const auto w = random_values(static_cast<size_t>(n), 3, 0.5f, 1.5f);
    double expected_dot = 0.0, squares = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      expected_dot += static_cast<double>(a[i]) * b[i];
      squares += static_cast<double>(a[i]) * a[i];
    }
    EXPECT_NEAR(dot(a.data(), b.data(), n), expected_dot, 1e-5 * n) << n;
    std::vector<float> out(static_cast<size_t>(n));
    rms_norm(a.data(), w.data(), out.data(), n, 1e-6f);
    const double scale = 1.0 / std::sqrt(squares / static_cast<double>(n) + 1e-6);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(out[i], a[i] * scale * w[i], 1e-5 * 4) << n << " " << i;
  }
}

TEST(Ops, SwigluMatchesFormula) {
  const auto g = random_values(19, 5, -6.0f, 6.0f), u = random_values(19, 6);
  std::vector<float> out(19);
  swiglu(g.data(), u.data(), out.data(), 19);
  for (size_t i = 0; i < 19; ++i) {
    const double expected = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
    EXPECT_NEAR(out[i], expected, 1e-5);
  }
}

// RoPE in double for one head: pairs (a, b) chosen by style, angle
// pos*scale*base^(-2i/n_rot)/factor.
std::vector<double> rope_reference(const std::vector<float>& x, int head_dim, int pos,
                                   const RopeParams& p) {
  std::vector<double> out(x.begin(), x.end());
  const int half = p.n_rot / 2;
  for (int i = 0; i < half; ++i) {
    double theta = pos * static_cast<double>(p.freq_scale) *
                   std::pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_rot);
    if (!p.freq_factors.empty()) theta /= p.freq_factors[static_cast<size_t>(i)];
    const int a = p.style == RopeStyle::kInterleaved ? 2 * i : i;
    const int b = p.style == RopeStyle::kInterleaved ? 2 * i + 1 : i + half;
    out[static_cast<size_t>(a)] =
        x[static_cast<size_t>(a)] * std::cos(theta) - x[static_cast<size_t>(b)] * std::sin(theta);
    out[static_cast<size_t>(b)] =
        x[static_cast<size_t>(a)] * std::sin(theta) + x[static_cast<size_t>(b)] * std::cos(theta);
  }
  (void)head_dim;
  return out;
}

TEST(Ops, RopeBothPairOrdersPartialRotationScalingAndFactors) {
  const std::vector<float> factors = {1.0f, 2.0f, 4.0f, 8.0f, 1.5f, 3.0f, 1.0f, 1.0f};
  for (RopeStyle style : {RopeStyle::kInterleaved, RopeStyle::kNeox}) {
    for (int n_rot : {16, 10}) {  // 10 < head_dim: the last dimensions pass through unrotated
      for (bool use_factors : {false, true}) {
        RopeParams params;
        params.style = style;
        params.n_rot = n_rot;
        params.freq_base = 10000.0f;
        params.freq_scale = 0.5f;
        if (use_factors)
          params.freq_factors =
              std::span<const float>(factors.data(), static_cast<size_t>(n_rot / 2));
        const int head_dim = 16, n_head = 3, pos = 37;
        auto x = random_values(static_cast<size_t>(head_dim * n_head), 7);
        const auto original = x;
        rope(x.data(), n_head, head_dim, pos, params);
        for (int h = 0; h < n_head; ++h) {
          const std::vector<float> head(original.begin() + h * head_dim,
                                        original.begin() + (h + 1) * head_dim);
          const auto expected = rope_reference(head, head_dim, pos, params);
          for (int d = 0; d < head_dim; ++d) {
            EXPECT_NEAR(x[static_cast<size_t>(h * head_dim + d)], expected[static_cast<size_t>(d)],
                        2e-5)
                << "style " << static_cast<int>(style) << " n_rot " << n_rot << " head " << h
                << " dim " << d;
          }
        }
      }
    }
  }
}

TEST(Ops, RopeAtPositionZeroIsIdentity) {
  auto x = random_values(64, 8);
  const auto original = x;
  RopeParams params;
  params.n_rot = 32;
  rope(x.data(), 2, 32, 0, params);
  EXPECT_EQ(x, original);
}

}  // namespace
}  // namespace bottega::kernels
