// Attention row kernels on every ISA this CPU runs, against a double-precision computation on
// random data with odd dimensions and row counts (tails of the 8-wide and 4-row loops).
//
// Error bound, for float sums of n products: |result - exact| <= (n + 2) * 2^-23 * sum |terms|
// (each addition rounds once; the sum of the terms' magnitudes bounds every partial sum).
#include "kernels/cpu/attention_rows.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace bottega::kernels {
namespace {

constexpr double kEpsilon = 1.0 / (1 << 23);

std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.5f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(AttentionRows, DotRowsMatchExactSumsWithinBoundOnEveryIsa) {
  std::mt19937 rng(41);
  for (Isa isa : available_isas()) {
    const AttentionRowKernels k = attention_row_kernels(isa);
    for (int64_t dim : {1, 7, 8, 9, 31, 64, 100, 128}) {
      for (int64_t n_rows : {1, 3, 4, 5, 17}) {
        const auto x = random_floats(static_cast<size_t>(dim), rng);
        const auto rows = random_floats(static_cast<size_t>(dim * n_rows), rng);
        const float scale = 0.125f;
        std::vector<float> out(static_cast<size_t>(n_rows) + 1, 7.0f);
        k.dot_rows(x.data(), rows.data(), n_rows, dim, scale, out.data());
        for (int64_t r = 0; r < n_rows; ++r) {
          double exact = 0.0, magnitude = 0.0;
          for (int64_t d = 0; d < dim; ++d) {
            const double term = static_cast<double>(x[static_cast<size_t>(d)]) *
                                rows[static_cast<size_t>(r * dim + d)];
            exact += term;
            magnitude += std::fabs(term);
          }
          const double bound = (static_cast<double>(dim) + 2) * kEpsilon * magnitude * scale;
          EXPECT_NEAR(out[static_cast<size_t>(r)], scale * exact, bound)
              << isa_name(isa) << " dim " << dim << " rows " << n_rows << " row " << r;
        }
        EXPECT_EQ(out.back(), 7.0f) << "wrote past the last row";
      }
    }
  }
}

TEST(AttentionRows, AccumulateRowsAddsTheWeightedSumWithinBoundOnEveryIsa) {
  std::mt19937 rng(43);
  for (Isa isa : available_isas()) {
    const AttentionRowKernels k = attention_row_kernels(isa);
    for (int64_t dim : {1, 7, 8, 9, 31, 33, 64, 100, 128}) {
      for (int64_t n_rows : {1, 2, 5, 17}) {
        const auto weights = random_floats(static_cast<size_t>(n_rows), rng);
        const auto rows = random_floats(static_cast<size_t>(dim * n_rows), rng);
        const auto start = random_floats(static_cast<size_t>(dim), rng);
        std::vector<float> out = start;
        out.push_back(7.0f);
        k.accumulate_rows(weights.data(), rows.data(), n_rows, dim, out.data());
        for (int64_t d = 0; d < dim; ++d) {
          double exact = start[static_cast<size_t>(d)];
          double magnitude = std::fabs(exact);
          for (int64_t r = 0; r < n_rows; ++r) {
            const double term = static_cast<double>(weights[static_cast<size_t>(r)]) *
                                rows[static_cast<size_t>(r * dim + d)];
            exact += term;
            magnitude += std::fabs(term);
          }
          const double bound = (static_cast<double>(n_rows) + 2) * kEpsilon * magnitude;
          EXPECT_NEAR(out[static_cast<size_t>(d)], exact, bound)
              << isa_name(isa) << " dim " << dim << " rows " << n_rows << " value " << d;
        }
        EXPECT_EQ(out.back(), 7.0f) << "wrote past the last value";
      }
    }
  }
}

// Bound: each probability within 1e-6 relative of the exact one (a few ulp of exp and of the
// normalising sum), plus the rounding of the float argument x - max (half an ulp of it, which
// exp turns into |x - max| * 2^-24 relative); -inf gets exactly 0; the probabilities sum to 1.
TEST(AttentionRows, SoftmaxMatchesExactProbabilitiesOnEveryIsa) {
  std::mt19937 rng(47);
  std::uniform_real_distribution<float> dist(-40.0f, 40.0f);
  for (Isa isa : available_isas()) {
    const AttentionRowKernels k = attention_row_kernels(isa);
    for (int64_t n : {1, 5, 8, 9, 33, 100, 1031}) {
      std::vector<float> x(static_cast<size_t>(n));
      for (float& v : x) v = dist(rng);
      if (n > 2) x[2] = -INFINITY;
      if (n > 3) x[3] = x[0] - 95.0f;  // underflows to 0 in float
      const std::vector<float> original = x;
      k.softmax(x.data(), n);
      double max_value = -INFINITY, total = 0.0, sum = 0.0;
      for (float v : original) max_value = std::max<double>(max_value, v);
      for (float v : original) total += std::exp(static_cast<double>(v) - max_value);
      for (size_t i = 0; i < x.size(); ++i) {
        const double exact = std::exp(static_cast<double>(original[i]) - max_value) / total;
        if (std::isinf(original[i])) continue;  // checked below: exactly 0
        const double argument = std::fabs(original[i] - max_value);
        const double bound = exact * (1e-6 + argument * kEpsilon) + 1e-37;
        EXPECT_NEAR(x[i], exact, bound) << isa_name(isa) << " n " << n << " " << i;
        sum += x[i];
      }
      if (n > 2) {
        EXPECT_EQ(x[2], 0.0f) << isa_name(isa);
      }
      EXPECT_NEAR(sum, 1.0, 1e-5) << isa_name(isa) << " n " << n;
    }
  }
}

// The lane kernels: queries side by side in lanes. Widths of 8, 16 and 24 (a pair of blocks and
// a lone one), odd dims and row counts (the tails of the 6- and 12-row and -value tiles). The dot
// and the weighted sum fuse their multiply-adds in one order per lane, so every ISA matches the
// reference exactly; the reference meets the float-sum bound above against double precision.
TEST(AttentionRows, DotLanesMatchTheReferenceExactlyAndExactSumsWithinBound) {
  std::mt19937 rng(53);
  const AttentionRowKernels ref = attention_row_kernels(Isa::kRef);
  for (int64_t width : {8, 16, 24}) {
    for (int64_t dim : {1, 7, 64, 67}) {
      for (int64_t n_rows : {1, 5, 6, 13, 31}) {
        const auto q_t = random_floats(static_cast<size_t>(dim * width), rng);
        const auto rows = random_floats(static_cast<size_t>(dim * n_rows), rng);
        std::vector<float> expected(static_cast<size_t>(n_rows * width));
        ref.dot_lanes(q_t.data(), rows.data(), n_rows, dim, width, expected.data());
        for (int64_t r = 0; r < n_rows; ++r) {
          for (int64_t l = 0; l < width; ++l) {
            double exact = 0.0, magnitude = 0.0;
            for (int64_t d = 0; d < dim; ++d) {
              const double term = static_cast<double>(q_t[static_cast<size_t>(d * width + l)]) *
                                  rows[static_cast<size_t>(r * dim + d)];
              exact += term;
              magnitude += std::fabs(term);
            }
            EXPECT_NEAR(expected[static_cast<size_t>(r * width + l)], exact,
                        (static_cast<double>(dim) + 2) * kEpsilon * magnitude);
          }
        }
        for (Isa isa : available_isas()) {
          const AttentionRowKernels k = attention_row_kernels(isa);
          if (k.dot_lanes == nullptr) continue;
          std::vector<float> out(static_cast<size_t>(n_rows * width) + 1, 7.0f);
          k.dot_lanes(q_t.data(), rows.data(), n_rows, dim, width, out.data());
          EXPECT_EQ(out.back(), 7.0f) << "wrote past the last row";
          out.pop_back();
          EXPECT_EQ(out, expected)
              << isa_name(isa) << " width " << width << " dim " << dim << " rows " << n_rows;
        }
      }
    }
  }
}

TEST(AttentionRows, WeightedSumLanesMatchTheReferenceExactlyAndExactSumsWithinBound) {
  std::mt19937 rng(59);
  const AttentionRowKernels ref = attention_row_kernels(Isa::kRef);
  for (int64_t width : {8, 16, 24}) {
    for (int64_t dim : {1, 5, 7, 64, 67, 128}) {
      for (int64_t n_rows : {1, 2, 17}) {
        const auto weights_t = random_floats(static_cast<size_t>(n_rows * width), rng);
        const auto rows = random_floats(static_cast<size_t>(dim * n_rows), rng);
        // The sums go onto what out_t holds.
        const auto start = random_floats(static_cast<size_t>(dim * width), rng);
        std::vector<float> expected = start;
        ref.weighted_sum_lanes(weights_t.data(), rows.data(), n_rows, dim, width, expected.data());
        for (int64_t d = 0; d < dim; ++d) {
          for (int64_t l = 0; l < width; ++l) {
            double exact = start[static_cast<size_t>(d * width + l)];
            double magnitude = std::fabs(exact);
            for (int64_t r = 0; r < n_rows; ++r) {
              const double term =
                  static_cast<double>(weights_t[static_cast<size_t>(r * width + l)]) *
                  rows[static_cast<size_t>(r * dim + d)];
              exact += term;
              magnitude += std::fabs(term);
            }
            EXPECT_NEAR(expected[static_cast<size_t>(d * width + l)], exact,
                        (static_cast<double>(n_rows) + 2) * kEpsilon * magnitude);
          }
        }
        for (Isa isa : available_isas()) {
          const AttentionRowKernels k = attention_row_kernels(isa);
          if (k.weighted_sum_lanes == nullptr) continue;
          std::vector<float> out = start;
          out.push_back(7.0f);
          k.weighted_sum_lanes(weights_t.data(), rows.data(), n_rows, dim, width, out.data());
          EXPECT_EQ(out.back(), 7.0f) << "wrote past the last value";
          out.pop_back();
          EXPECT_EQ(out, expected)
              << isa_name(isa) << " width " << width << " dim " << dim << " rows " << n_rows;
          // Rows taken in two pieces, one call each, give the bits of one call over all of them.
          if (n_rows > 1) {
            const int64_t split = n_rows / 2;
            std::vector<float> pieces = start;
            k.weighted_sum_lanes(weights_t.data(), rows.data(), split, dim, width, pieces.data());
            k.weighted_sum_lanes(weights_t.data() + split * width, rows.data() + split * dim,
                                 n_rows - split, dim, width, pieces.data());
            EXPECT_EQ(pieces, expected) << isa_name(isa) << " in two pieces, width " << width;
          }
        }
      }
    }
  }
}

// Each lane is its own softmax, with the bound of the row softmax above; a lane's -inf entries
// get exactly 0 and its probabilities sum to 1; its reported maximum and normaliser are its own.
TEST(AttentionRows, SoftmaxLanesMatchExactProbabilitiesOnEveryIsa) {
  std::mt19937 rng(61);
  std::uniform_real_distribution<float> dist(-40.0f, 40.0f);
  for (Isa isa : available_isas()) {
    const AttentionRowKernels k = attention_row_kernels(isa);
    if (k.softmax_lanes == nullptr) continue;
    for (int64_t width : {8, 16}) {
      for (int64_t n : {1, 5, 9, 100}) {
        std::vector<float> x(static_cast<size_t>(n * width));
        for (float& v : x) v = dist(rng);
        for (int64_t l = 1; l < width && n > 1; l += 3) {
          x[static_cast<size_t>((l % n) * width + l)] = -INFINITY;  // never a lane's only entry
          if (n > 1 && l % n == 0) x[static_cast<size_t>(width + l)] = -INFINITY;
        }
        const std::vector<float> original = x;
        std::vector<float> lane_max(static_cast<size_t>(width)), lane_sum(lane_max.size());
        k.softmax_lanes(x.data(), n, width, lane_max.data(), lane_sum.data());
        std::vector<float> unreported = original;
        k.softmax_lanes(unreported.data(), n, width, nullptr, nullptr);
        EXPECT_EQ(unreported, x) << isa_name(isa);
        for (int64_t l = 0; l < width; ++l) {
          double max_value = -INFINITY, total = 0.0, sum = 0.0;
          for (int64_t i = 0; i < n; ++i) {
            max_value = std::max<double>(max_value, original[static_cast<size_t>(i * width + l)]);
          }
          for (int64_t i = 0; i < n; ++i) {
            total += std::exp(original[static_cast<size_t>(i * width + l)] - max_value);
          }
          for (int64_t i = 0; i < n; ++i) {
            const auto at = static_cast<size_t>(i * width + l);
            if (std::isinf(original[at])) {
              EXPECT_EQ(x[at], 0.0f) << isa_name(isa);
              continue;
            }
            const double exact = std::exp(original[at] - max_value) / total;
            const double bound =
                exact * (1e-6 + std::fabs(original[at] - max_value) * kEpsilon) + 1e-37;
            EXPECT_NEAR(x[at], exact, bound) << isa_name(isa) << " n " << n << " lane " << l;
            sum += x[at];
          }
          EXPECT_NEAR(sum, 1.0, 1e-5) << isa_name(isa) << " n " << n << " lane " << l;
          // The normaliser: its n terms within the probabilities' relative bound (scores up to
          // 80 below the maximum), and n float additions.
          EXPECT_EQ(lane_max[static_cast<size_t>(l)], max_value) << isa_name(isa);
          const double sum_bound = total * (1e-6 + (80.0 + static_cast<double>(n)) * kEpsilon);
          EXPECT_NEAR(lane_sum[static_cast<size_t>(l)], total, sum_bound)
              << isa_name(isa) << " n " << n << " lane " << l;
        }
      }
    }
  }
}

}  // namespace
}  // namespace bottega::kernels
