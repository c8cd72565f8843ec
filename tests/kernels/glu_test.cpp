// SwiGLU on every ISA this CPU runs, against a double-precision computation on random data with
// odd lengths (the 8-wide loop's tails), values past exp's range included.
//
// Error bound: silu(g) * up within 8 * 2^-24 relative of the exact value (exp within 2 ulp, the
// division, the product with up, and the argument -|g| rounded nowhere since it is exact), plus
// 1e-30 absolute where exp(-|g|) falls below float's normal range and becomes 0.
#include "kernels/cpu/glu.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace bottega::kernels {
namespace {

TEST(Glu, SwigluMatchesExactValuesWithinBoundOnEveryIsa) {
  std::mt19937 rng(67);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  for (Isa isa : available_isas()) {
    const SwigluFn swiglu = swiglu_kernel(isa);
    for (int64_t n : {1, 7, 8, 9, 31, 100}) {
      std::vector<float> gate(static_cast<size_t>(n)), up(static_cast<size_t>(n));
      for (float& v : gate) v = dist(rng);
      for (float& v : up) v = dist(rng);
      if (n > 4) {
        gate[0] = 0.0f;
        gate[1] = -100.0f;  // exp(-100) underflows in float
        gate[2] = 95.0f;
        gate[3] = -0.0f;
      }
      std::vector<float> out(static_cast<size_t>(n) + 1, 7.0f);
      swiglu(gate.data(), up.data(), out.data(), n);
      for (size_t i = 0; i < gate.size(); ++i) {
        const double g = gate[i];
        const double exact = g / (1.0 + std::exp(-g)) * up[i];
        const double bound = 8.0 * std::ldexp(std::fabs(exact), -24) + 1e-30;
        EXPECT_NEAR(out[i], exact, bound) << isa_name(isa) << " n " << n << " gate " << g;
      }
      EXPECT_EQ(out.back(), 7.0f) << "wrote past the last value";
      // In place, as the decoder calls it.
      std::vector<float> in_place = gate;
      swiglu(in_place.data(), up.data(), in_place.data(), n);
      for (size_t i = 0; i < gate.size(); ++i) EXPECT_EQ(in_place[i], out[i]) << isa_name(isa);
    }
  }
}

}  // namespace
}  // namespace bottega::kernels
