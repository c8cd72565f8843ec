// core/half.h: exhaustive and edge-case checks of the half and bfloat16 conversions, the base of
// every quantized scale. f32_to_f16 is checked against a reference that finds the nearest half by
// search over the sorted table of all half values, independent of the bit tricks under test.
#include "core/half.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace bottega {
namespace {

bool is_half_nan(uint16_t h) {
  return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
}
bool is_bf16_nan(uint16_t h) {
  return (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0;
}

// Value of a finite half from its fields: (-1)^s * 2^(e-15) * 1.m, or 2^-14 * 0.m for e = 0.
double half_value(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  const double magnitude =
      exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
  return (h & 0x8000u) ? -magnitude : magnitude;
}

TEST(HalfTest, DecodesEveryHalfExactly) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const float f = f16_to_f32(bits);
    if ((bits & 0x7c00u) == 0x7c00u) {
      if (bits & 0x3ffu) {
        EXPECT_TRUE(std::isnan(f)) << h;
      } else {
        EXPECT_EQ(f, (bits & 0x8000u) ? -std::numeric_limits<float>::infinity()
                                      : std::numeric_limits<float>::infinity());
      }
      continue;
    }
    EXPECT_EQ(static_cast<double>(f), half_value(bits)) << std::hex << h;
    EXPECT_EQ(std::signbit(f), (bits & 0x8000u) != 0) << std::hex << h;
  }
}

TEST(HalfTest, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const uint16_t back = f32_to_f16(f16_to_f32(bits));
    if (is_half_nan(bits)) {
      EXPECT_TRUE(is_half_nan(back)) << std::hex << h;
      EXPECT_EQ(back & 0x8000u, bits & 0x8000u) << std::hex << h;
    } else {
      EXPECT_EQ(back, bits) << std::hex << h;
    }
  }
}

// Between every two adjacent finite halves of the same sign: the midpoint (exact in float) goes
// to the one with an even mantissa, anything nearer goes to the nearer. Covers subnormals and the
// subnormal/normal boundary.
TEST(HalfTest, RoundsToNearestEven) {
  for (uint16_t sign : {uint16_t{0}, uint16_t{0x8000}}) {
    for (uint16_t h = 0; h < 0x7bff; ++h) {
      const uint16_t lo = sign | h;
      const uint16_t hi = sign | static_cast<uint16_t>(h + 1);
      const float a = f16_to_f32(lo);
      const float b = f16_to_f32(hi);
      const float mid = (a + b) / 2;
      ASSERT_EQ(static_cast<double>(mid), (half_value(lo) + half_value(hi)) / 2);
      EXPECT_EQ(f32_to_f16(mid), (h & 1) ? hi : lo) << std::hex << lo;
      EXPECT_EQ(f32_to_f16(std::nextafter(mid, a)), lo) << std::hex << lo;
      EXPECT_EQ(f32_to_f16(std::nextafter(mid, b)), hi) << std::hex << lo;
    }
  }
}

TEST(HalfTest, OverflowsToInfinity) {
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(std::nextafter(65520.0f, 0.0f)), 0x7bff);  // below the midpoint to 65536
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // midpoint: ties to even, the even one is 2^16 = inf
  EXPECT_EQ(f32_to_f16(-65520.0f), 0xfc00);
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::max()), 0x7c00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
}

TEST(HalfTest, Subnormals) {
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);  // half of it: tie, even is 0
  EXPECT_EQ(f32_to_f16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(f32_to_f16(0x3p-25f), 0x0002);    // 1.5 ulp: tie, even is 2
  EXPECT_EQ(f32_to_f16(0x3ffp-24f), 0x03ff);  // largest subnormal
  EXPECT_EQ(f32_to_f16(0x7ffp-25f), 0x0400);  // 1023.5 ulp rounds up into the normals
  EXPECT_EQ(f32_to_f16(0x1p-14f), 0x0400);    // smallest normal
  EXPECT_EQ(f32_to_f16(-0x1p-24f), 0x8001);
  EXPECT_EQ(f32_to_f16(1e-10f), 0x0000);
  EXPECT_EQ(f32_to_f16(-1e-10f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x03ff), 0x3ffp-24f);
}

TEST(HalfTest, NanStaysNan) {
  EXPECT_TRUE(is_half_nan(f32_to_f16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(is_half_nan(f32_to_f16(-std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::quiet_NaN()) & 0x8000, 0x8000);
  // A NaN whose payload sits only in bits the conversion drops must not become infinity.
  EXPECT_TRUE(is_half_nan(f32_to_f16(std::bit_cast<float>(0x7f800001u))));
}

// Random floats against the nearest-half search over the table of all finite halves.
TEST(HalfTest, MatchesNearestEvenSearch) {
  std::vector<double> positive;  // halves 0x0000..0x7bff, increasing
  for (uint16_t h = 0; h <= 0x7bff; ++h) positive.push_back(half_value(h));
  auto reference = [&](float x) -> uint16_t {
    const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double a = std::fabs(static_cast<double>(x));
    if (a >= 65520.0) return sign | 0x7c00;  // at or past the midpoint to 2^16
    if (a >= 65504.0) return sign | 0x7bff;
    const auto it = std::lower_bound(positive.begin(), positive.end(), a);
    auto index = static_cast<uint16_t>(it - positive.begin());
    if (*it != a) {  // between index - 1 and index
      const double below = positive[index - 1u];
      const double above = *it;
      if (a - below < above - a || (a - below == above - a && ((index - 1u) & 1u) == 0)) --index;
    }
    return sign | index;
  };
  std::mt19937 rng(12345);
  for (int i = 0; i < 200000; ++i) {
    // Random bits within |x| < 2^17, so both the finite and overflow sides are exercised.
    uint32_t bits = static_cast<uint32_t>(rng());
    bits = (bits & 0x807fffffu) | ((bits % 49u + 0x60u) << 23);  // exponents 2^-31 .. 2^17
    const float x = std::bit_cast<float>(bits);
    ASSERT_EQ(f32_to_f16(x), reference(x)) << std::hexfloat << x;
  }
}

TEST(Bf16Test, EveryBf16RoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const float f = bf16_to_f32(bits);
    EXPECT_EQ(std::bit_cast<uint32_t>(f), h << 16);
    const uint16_t back = f32_to_bf16(f);
    if (is_bf16_nan(bits)) {
      EXPECT_TRUE(is_bf16_nan(back)) << std::hex << h;
      EXPECT_EQ(back & 0x8000u, bits & 0x8000u);
    } else {
      EXPECT_EQ(back, bits) << std::hex << h;
    }
  }
}

TEST(Bf16Test, RoundsToNearestEven) {
  for (uint32_t sign : {0u, 0x80000000u}) {
    for (uint32_t h = 0; h < 0x7f7f; ++h) {  // finite pairs, subnormals included
      const uint32_t lo = (sign >> 16) | h;
      const uint32_t mid = sign | (h << 16) | 0x8000u;  // exactly halfway to h + 1
      EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(mid)), (h & 1) ? lo + 1 : lo) << std::hex << h;
      EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(mid - 1)), lo) << std::hex << h;
      EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(mid + 1)), lo + 1) << std::hex << h;
    }
  }
}

TEST(Bf16Test, EdgeCases) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to inf
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x7f7f7fffu)), 0x7f7f);  // just below the midpoint
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x00008000u)), 0x0000);  // subnormal tie, even 0
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x00018000u)), 0x0002);  // subnormal tie, even 2
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x00008001u)), 0x0001);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  // NaN payloads only in the dropped bits must stay NaN, not become infinity.
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(std::bit_cast<float>(0x7f800001u))));
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(std::bit_cast<float>(0xff800001u))));
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(std::numeric_limits<float>::quiet_NaN())));
}

}  // namespace
}  // namespace bottega
