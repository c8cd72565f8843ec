// Exact-format tests: hand-assembled blocks with known bytes must decode to values worked out by
// hand here. A round trip cannot catch a layout error (a consistently wrong layout round-trips
// fine); these pin the layouts to GGUF's. Scales are chosen so every product is exact in float.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "tensor/blocks.h"
#include "tensor/quant_ref.h"
#include "tensor/types.h"

namespace bottega {
namespace {

namespace q = quant_ref;

constexpr uint16_t kHalf0_125 = 0x3000;
constexpr uint16_t kHalf0_25 = 0x3400;
constexpr uint16_t kHalf0_5 = 0x3800;
constexpr uint16_t kHalf1 = 0x3c00;
constexpr uint16_t kHalfMinus1 = 0xbc00;

TEST(QuantFormatTest, HalfConstantsAreWhatTheTestsAssume) {
  EXPECT_EQ(f16_to_f32(kHalf0_125), 0.125f);
  EXPECT_EQ(f16_to_f32(kHalf0_25), 0.25f);
  EXPECT_EQ(f16_to_f32(kHalf0_5), 0.5f);
  EXPECT_EQ(f16_to_f32(kHalf1), 1.0f);
  EXPECT_EQ(f16_to_f32(kHalfMinus1), -1.0f);
}

// Field offsets as in ggml-common.h: the structs must not be reordered or padded.
TEST(QuantFormatTest, FieldOffsets) {
  EXPECT_EQ(offsetof(BlockQ4_1, m), 2u);
  EXPECT_EQ(offsetof(BlockQ5_0, qh), 2u);
  EXPECT_EQ(offsetof(BlockQ5_0, qs), 6u);
  EXPECT_EQ(offsetof(BlockQ5_1, qh), 4u);
  EXPECT_EQ(offsetof(BlockQ5_1, qs), 8u);
  EXPECT_EQ(offsetof(BlockQ8_1, s), 2u);
  EXPECT_EQ(offsetof(BlockQ8_1, qs), 4u);
  EXPECT_EQ(offsetof(BlockQ2_K, qs), 16u);
  EXPECT_EQ(offsetof(BlockQ2_K, d), 80u);
  EXPECT_EQ(offsetof(BlockQ2_K, dmin), 82u);
  EXPECT_EQ(offsetof(BlockQ3_K, qs), 32u);
  EXPECT_EQ(offsetof(BlockQ3_K, scales), 96u);
  EXPECT_EQ(offsetof(BlockQ3_K, d), 108u);
  EXPECT_EQ(offsetof(BlockQ4_K, scales), 4u);
  EXPECT_EQ(offsetof(BlockQ4_K, qs), 16u);
  EXPECT_EQ(offsetof(BlockQ5_K, qh), 16u);
  EXPECT_EQ(offsetof(BlockQ5_K, qs), 48u);
  EXPECT_EQ(offsetof(BlockQ6_K, qh), 128u);
  EXPECT_EQ(offsetof(BlockQ6_K, scales), 192u);
  EXPECT_EQ(offsetof(BlockQ6_K, d), 208u);
  EXPECT_EQ(offsetof(BlockQ8_K, qs), 4u);
  EXPECT_EQ(offsetof(BlockQ8_K, bsums), 260u);
  EXPECT_EQ(offsetof(BlockMXFP4, qs), 1u);
}

template <typename Block, size_t N>
std::array<float, N> decode(const Block& block, void (*dequantize)(const void*, float*, int64_t)) {
  std::array<float, N> y{};
  dequantize(&block, y.data(), N);
  return y;
}

template <size_t N>
void expect_values(const std::array<float, N>& got, const std::array<float, N>& want) {
  for (size_t i = 0; i < N; ++i) EXPECT_EQ(got[i], want[i]) << "element " << i;
}

// ---- 32-value blocks ----

TEST(QuantFormatTest, Q4_0LowNibblesAreTheFirstHalf) {
  BlockQ4_0 block{};
  block.d = kHalf0_5;
  // qs[j] = j | (15 - j) << 4: element j has level j, element j + 16 level 15 - j.
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::array<float, 32> want{};
  for (int j = 0; j < 16; ++j) {
    want[j] = static_cast<float>(j - 8) * 0.5f;       // -4.0 .. 3.5
    want[j + 16] = static_cast<float>(7 - j) * 0.5f;  // 3.5 .. -4.0
  }
  expect_values(decode<BlockQ4_0, 32>(block, q::dequantize_q4_0), want);
}

TEST(QuantFormatTest, Q4_1AddsTheMin) {
  BlockQ4_1 block{};
  block.d = kHalf0_25;
  block.m = kHalfMinus1;
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(j | (((j + 1) % 16) << 4));
  std::array<float, 32> want{};
  for (int j = 0; j < 16; ++j) {
    want[j] = static_cast<float>(j) * 0.25f - 1.0f;
    want[j + 16] = static_cast<float>((j + 1) % 16) * 0.25f - 1.0f;
  }
  expect_values(decode<BlockQ4_1, 32>(block, q::dequantize_q4_1), want);
}

TEST(QuantFormatTest, Q5_0HighBitsComeFromQhLittleEndian) {
  BlockQ5_0 block{};
  block.d = kHalf0_5;
  // qh as a little-endian word: bit 0 (element 0) and bit 31 (element 31) set.
  block.qh[0] = 0x01;
  block.qh[3] = 0x80;
  block.qs[3] = 0xa5;  // element 3: low nibble 5; element 19: high nibble 10
  std::array<float, 32> want{};
  want.fill(-8.0f);  // level 0: (0 - 16) * 0.5
  want[0] = 0.0f;    // level 16
  want[31] = 0.0f;   // level 16
  want[3] = -5.5f;   // level 5
  want[19] = -3.0f;  // level 10
  expect_values(decode<BlockQ5_0, 32>(block, q::dequantize_q5_0), want);
}

TEST(QuantFormatTest, Q5_1HighBitsAndMin) {
  BlockQ5_1 block{};
  block.d = kHalf0_25;
  block.m = kHalf1;
  block.qh[1] = 0x02;  // bit 9: element 9
  block.qh[2] = 0x01;  // bit 16: element 16
  block.qs[9] = 0x3f;  // element 9: low nibble 15; element 25: high nibble 3
  block.qs[0] = 0x70;  // element 0: 0; element 16: 7
  std::array<float, 32> want{};
  want.fill(1.0f);
  want[9] = 31 * 0.25f + 1.0f;  // level 15 | 16
  want[25] = 3 * 0.25f + 1.0f;
  want[16] = 23 * 0.25f + 1.0f;  // level 7 | 16
  expect_values(decode<BlockQ5_1, 32>(block, q::dequantize_q5_1), want);
}

TEST(QuantFormatTest, Q8_0AndQ8_1) {
  BlockQ8_0 a{};
  BlockQ8_1 b{};
  a.d = b.d = kHalf0_25;
  b.s = kHalf1;  // ignored by dequantization
  for (int i = 0; i < 32; ++i) a.qs[i] = b.qs[i] = static_cast<int8_t>(i * 8 - 128);
  std::array<float, 32> want{};
  for (int i = 0; i < 32; ++i) want[i] = static_cast<float>(i * 8 - 128) * 0.25f;
  expect_values(decode<BlockQ8_0, 32>(a, q::dequantize_q8_0), want);
  expect_values(decode<BlockQ8_1, 32>(b, q::dequantize_q8_1), want);
}

// ---- MXFP4 ----

// The E2M1 codes by the OCP definition: bit 3 the sign, magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6.
constexpr float kE2M1[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                             -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

// The 4-bit code of element i (low nibbles are elements 0..15).
int mxfp4_code(const BlockMXFP4& block, int i) {
  return i < 16 ? block.qs[i] & 0xf : block.qs[i - 16] >> 4;
}

BlockMXFP4 quantize_mxfp4_block(const std::array<float, 32>& x) {
  BlockMXFP4 block;
  std::memset(&block, 0xab, sizeof(block));  // stale bytes must all be overwritten
  q::quantize_mxfp4(x.data(), &block, 32);
  return block;
}

TEST(QuantFormatTest, MXFP4CodesNibbleOrderAndExponent) {
  BlockMXFP4 block{};
  block.e = 127;  // 2^0
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::array<float, 32> want{};
  for (int j = 0; j < 16; ++j) {
    want[j] = kE2M1[j];
    want[j + 16] = kE2M1[15 - j];
  }
  expect_values(decode<BlockMXFP4, 32>(block, q::dequantize_mxfp4), want);

  // The exponent scales by 2^(e - 127), down to the subnormal floats of e = 0 and 1.
  struct Case {
    uint8_t e;
    uint8_t code;
    float value;
  };
  const Case cases[] = {
      {130, 0x7, 48.0f},    {126, 0xf, -3.0f},    {1, 0x2, 0x1p-126f},
      {1, 0x1, 0x1p-127f},  {0, 0x1, 0x1p-128f},  {0, 0xf, -0x3p-126f},
      {254, 0x1, 0x1p126f}, {255, 0x1, 0x1p127f},  // 255 (NaN to OCP) as ggml decodes it
  };
  for (const Case& c : cases) {
    BlockMXFP4 one{};
    one.e = c.e;
    one.qs[0] = c.code;
    const auto y = decode<BlockMXFP4, 32>(one, q::dequantize_mxfp4);
    EXPECT_EQ(y[0], c.value) << "e " << int(c.e) << " code " << int(c.code);
    EXPECT_EQ(y[1], 0.0f);
  }
}

TEST(QuantFormatTest, MXFP4ExactCodesRoundTripToKnownBytes) {
  // Codes j and 15 - j times 2^-3: the max 6 * 2^-3 = 0.75 gives e = floor(log2 0.75) - 2 + 127
  // = 124, and every value is a code exactly. -0 (code 8) is stored as code 0.
  std::array<float, 32> x{};
  for (int j = 0; j < 16; ++j) {
    x[j] = kE2M1[j] * 0.125f;
    x[j + 16] = kE2M1[15 - j] * 0.125f;
  }
  const BlockMXFP4 block = quantize_mxfp4_block(x);
  const uint8_t want[17] = {0x7c, 0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x07,
                            0x70, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};
  EXPECT_EQ(std::memcmp(&block, want, sizeof(want)), 0);
  expect_values(decode<BlockMXFP4, 32>(block, q::dequantize_mxfp4), x);
}

TEST(QuantFormatTest, MXFP4ZeroBlockIsAllZeroBytes) {
  std::array<float, 32> x{};
  x[5] = -0.0f;
  const BlockMXFP4 block = quantize_mxfp4_block(x);
  const uint8_t zeros[17] = {};
  EXPECT_EQ(std::memcmp(&block, zeros, sizeof(zeros)), 0);  // e = 0, every code 0
}

TEST(QuantFormatTest, MXFP4RoundsToNearestAndTiesToTheSmallerMagnitude) {
  // Max 7.5: e = floor(log2 7.5) - 2 + 127 = 127, so codes are the plain E2M1 values. A tie goes
  // to the code listed first (0..7, then 8..15), i.e. the smaller magnitude, and a value that
  // rounds to zero gets code 0 whatever its sign.
  struct Case {
    float x;
    int code;
  };
  const Case cases[] = {
      {7.5f, 0x7},    // above 6: clamped
      {0.25f, 0x0},   // tie 0 / 0.5
      {-0.25f, 0x0},  // tie 0 / -0 / -0.5: code 0, not 8
      {-0.1f, 0x0},  {1e-30f, 0x0},
      {0.75f, 0x1},   // tie 0.5 / 1
      {1.25f, 0x2},   // tie 1 / 1.5
      {-1.75f, 0xb},  // tie -1.5 / -2
      {2.5f, 0x4},    // tie 2 / 3
      {-2.5f, 0xc},  {std::nextafter(2.5f, 3.0f), 0x5},
      {3.5f, 0x5},  // tie 3 / 4
      {5.0f, 0x6},  // tie 4 / 6
      {-5.0f, 0xe},  {std::nextafter(5.0f, 6.0f), 0x7},
      {-7.0f, 0xf},  // clamped at -6
      {0.5f, 0x1},   {-6.0f, 0xf},
  };
  std::array<float, 32> x{};
  for (size_t i = 0; i < std::size(cases); ++i) x[i] = cases[i].x;
  const BlockMXFP4 block = quantize_mxfp4_block(x);
  EXPECT_EQ(block.e, 127);
  for (size_t i = 0; i < std::size(cases); ++i) {
    EXPECT_EQ(mxfp4_code(block, static_cast<int>(i)), cases[i].code) << "x = " << cases[i].x;
  }
  for (size_t i = std::size(cases); i < 32; ++i)
    EXPECT_EQ(mxfp4_code(block, static_cast<int>(i)), 0);
}

TEST(QuantFormatTest, MXFP4SharedExponentAsLlamaCppComputesIt) {
  // One nonzero value per block: e = floor(log2f(max)) - 2 + 127, and the value's code.
  struct Case {
    float max;
    uint8_t e;
    int code;
    float decoded;
  };
  const Case cases[] = {
      {1.0f, 125, 0x6, 1.0f},          // 4 * 2^-2
      {0.999f, 124, 0x7, 0.75f},       // 7.99 * 2^-3: clamped to 6 * 2^-3
      {8.0f, 128, 0x6, 8.0f},          // 4 * 2^1
      {-3.0f, 126, 0xf, -3.0f},        // -6 * 2^-1
      {0x1p-125f, 0, 0x6, 0x1p-125f},  // 4 * 2^-127: the smallest exponent reached unclamped
      {0x1p-126f, 0, 0x4, 0x1p-126f},  // would be e = -1 (undefined in ggml): clamped to 0
      {0x1p-127f, 0, 0x2, 0x1p-127f},  // subnormal input, e clamped to 0, exact
      // Within an ulp below 16, log2f rounds to 4: e = 129, not 128. Kept for identical bytes.
      {std::nextafter(16.0f, 0.0f), 129, 0x6, 16.0f},
  };
  for (const Case& c : cases) {
    std::array<float, 32> x{};
    x[9] = c.max;
    const BlockMXFP4 block = quantize_mxfp4_block(x);
    EXPECT_EQ(block.e, c.e) << "max " << c.max;
    EXPECT_EQ(mxfp4_code(block, 9), c.code) << "max " << c.max;
    const auto y = decode<BlockMXFP4, 32>(block, q::dequantize_mxfp4);
    EXPECT_EQ(y[9], c.decoded) << "max " << c.max;
  }
}

// ---- K-quants ----

// 6-bit scales and mins of sub-blocks 0..7, and their packing worked out by hand:
//   bytes 0..3: scale j | (scale j+4 >> 4) << 6     1|2<<6, 2|2<<6, 3|2<<6, 4|3<<6
//   bytes 4..7: min j | (min j+4 >> 4) << 6         0|1<<6, 1|1<<6, 2|1<<6, 3|3<<6
//   bytes 8..11: scale j+4 & 15 | (min j+4 & 15) << 4  1|0, 2|1<<4, 3|2<<4, 15|15<<4
constexpr int kScale[8] = {1, 2, 3, 4, 33, 34, 35, 63};
constexpr int kMin[8] = {0, 1, 2, 3, 16, 17, 18, 63};
constexpr uint8_t kPackedScales[12] = {0x81, 0x82, 0x83, 0xc4, 0x40, 0x41,
                                       0x42, 0xc3, 0x01, 0x12, 0x23, 0xff};

float k_value(int sub, int level) {
  return 0.5f * static_cast<float>(kScale[sub] * level) - 0.25f * static_cast<float>(kMin[sub]);
}

TEST(QuantFormatTest, Q4_KPackedScalesAndNibbleOrder) {
  BlockQ4_K block{};
  block.d = kHalf0_5;
  block.dmin = kHalf0_25;
  std::memcpy(block.scales, kPackedScales, sizeof(kPackedScales));
  // qs[32p + l]: low nibble l % 16 (element 64p + l, sub-block 2p), high nibble 15 - l % 16
  // (element 64p + 32 + l, sub-block 2p + 1).
  for (int p = 0; p < 4; ++p) {
    for (int l = 0; l < 32; ++l)
      block.qs[32 * p + l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
  }
  std::array<float, 256> want{};
  for (int p = 0; p < 4; ++p) {
    for (int l = 0; l < 32; ++l) {
      want[64 * p + l] = k_value(2 * p, l % 16);
      want[64 * p + 32 + l] = k_value(2 * p + 1, 15 - l % 16);
    }
  }
  expect_values(decode<BlockQ4_K, 256>(block, q::dequantize_q4_k), want);
}

TEST(QuantFormatTest, Q5_KHighBitsTwoPerByteOfQh) {
  BlockQ5_K block{};
  block.d = kHalf0_5;
  block.dmin = kHalf0_25;
  std::memcpy(block.scales, kPackedScales, sizeof(kPackedScales));
  block.qh[0] = 0x01;  // bit 0: element 0 (first 32 of pair 0) gets +16
  block.qh[1] = 0x02;  // bit 1: element 32 + 1 (second 32 of pair 0)
  block.qh[2] = 0x80;  // bit 7: element 64*3 + 32 + 2 = 226 (second 32 of pair 3)
  block.qs[5] = 0x3c;  // element 5: 12; element 37: 3
  std::array<float, 256> want{};
  for (int e = 0; e < 256; ++e) want[e] = k_value(e / 32, 0);
  want[0] = k_value(0, 16);
  want[33] = k_value(1, 16);
  want[226] = k_value(7, 16);
  want[5] = k_value(0, 12);
  want[37] = k_value(1, 3);
  expect_values(decode<BlockQ5_K, 256>(block, q::dequantize_q5_k), want);
}

TEST(QuantFormatTest, Q6_KLowNibblesHighPairsAndSignedScales) {
  BlockQ6_K block{};
  block.d = kHalf0_25;
  for (int i = 0; i < 16; ++i) block.scales[i] = static_cast<int8_t>(i - 8);
  // All levels 0 (value -32 * scale) except:
  block.ql[0] = 0x21;   // element 0: low 1; element 64: low 2
  block.qh[0] = 0xe4;   // pairs: element 0 -> 0, 32 -> 1, 64 -> 2, 96 -> 3
  block.ql[69] = 0xf0;  // second half, l = 5: element 133 low 0; element 197 low 15
  block.qh[37] = 0x30;  // second half, l = 5: element 197 high 3
  std::array<float, 256> want{};
  for (int e = 0; e < 256; ++e) want[e] = 0.25f * static_cast<float>((e / 16 - 8) * -32);
  want[0] = 0.25f * static_cast<float>(-8 * (1 - 32));    // level 1
  want[32] = 0.25f * static_cast<float>(-6 * (16 - 32));  // level 16
  want[64] = 0.25f * static_cast<float>(-4 * (34 - 32));  // level 2 | 2 << 4
  want[96] = 0.25f * static_cast<float>(-2 * (48 - 32));  // level 0 | 3 << 4
  want[197] = 0.25f * static_cast<float>(4 * (63 - 32));  // level 15 | 3 << 4
  expect_values(decode<BlockQ6_K, 256>(block, q::dequantize_q6_k), want);
}

TEST(QuantFormatTest, Q2_KScaleNibblesAndCrumbOrder) {
  BlockQ2_K block{};
  block.d = kHalf0_5;
  block.dmin = kHalf0_25;
  // Sub-block i: scale i % 4 + 1 in the low nibble, min i % 3 in the high nibble.
  for (int i = 0; i < 16; ++i) block.scales[i] = static_cast<uint8_t>((i % 4 + 1) | ((i % 3) << 4));
  block.qs[0] = 0xe4;   // crumbs: element 0 -> 0, 32 -> 1, 64 -> 2, 96 -> 3
  block.qs[33] = 0x03;  // second half, l = 1: element 129 -> 3
  auto value = [](int e, int level) {
    const int sub = e / 16;
    return 0.5f * static_cast<float>((sub % 4 + 1) * level) - 0.25f * static_cast<float>(sub % 3);
  };
  std::array<float, 256> want{};
  for (int e = 0; e < 256; ++e) want[e] = value(e, 0);
  want[32] = value(32, 1);
  want[64] = value(64, 2);
  want[96] = value(96, 3);
  want[129] = value(129, 3);
  expect_values(decode<BlockQ2_K, 256>(block, q::dequantize_q2_k), want);
}

TEST(QuantFormatTest, Q3_KSixBitScalesAndHmask) {
  BlockQ3_K block{};
  block.d = kHalf0_5;
  // 6-bit scale j is 24 + j (signed value j - 8). Low nibbles: byte k holds scale k (low) and
  // scale k + 8 (high): 8|0<<4, 9|1<<4, ..., 15|7<<4. Top 2 bits (1 for j < 8, 2 for j >= 8) sit
  // at bits 2*(j/4) of byte 8 + j%4: 1 | 1<<2 | 2<<4 | 2<<6 = 0xa5 in each.
  const uint8_t scales[12] = {0x08, 0x19, 0x2a, 0x3b, 0x4c, 0x5d,
                              0x6e, 0x7f, 0xa5, 0xa5, 0xa5, 0xa5};
  std::memcpy(block.scales, scales, sizeof(scales));
  block.hmask[0] = 0x01;  // element 0: high bit (level 0 + 4)
  block.hmask[3] = 0x80;  // element 7*32 + 3 = 227
  block.qs[35] = 0xc0;    // second half, l = 3, crumb 3: element 227 low 3
  block.qs[1] = 0x08;     // l = 1, crumb 1: element 33 low 2
  auto value = [](int e, int q3) { return 0.5f * static_cast<float>((e / 16 - 8) * q3); };
  std::array<float, 256> want{};
  for (int e = 0; e < 256; ++e) want[e] = value(e, -4);  // low 0, high bit clear: 0 - 4
  want[0] = value(0, 0);
  want[227] = value(227, 3);
  want[33] = value(33, -2);
  expect_values(decode<BlockQ3_K, 256>(block, q::dequantize_q3_k), want);
}

TEST(QuantFormatTest, Q8_KFloatScale) {
  BlockQ8_K block{};
  block.d = 0.125f;
  for (int i = 0; i < 256; ++i) block.qs[i] = static_cast<int8_t>(i % 7 - 3);
  std::array<float, 256> want{};
  for (int i = 0; i < 256; ++i) want[i] = 0.125f * static_cast<float>(i % 7 - 3);
  expect_values(decode<BlockQ8_K, 256>(block, q::dequantize_q8_k), want);
}

// ---- Quantizer outputs whose bytes are fixed by the format ----

TEST(QuantFormatTest, Q4_0QuantizesTheExtremeToLevelZero) {
  std::array<float, 32> x{};
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16) * 0.25f;  // extreme -4 at 0
  BlockQ4_0 block{};
  q::quantize_q4_0(x.data(), &block, 32);
  EXPECT_EQ(block.d, kHalf0_5);  // -4 / -8
  // Element i (i < 16) has level (i - 16) * 0.25 / 0.5 + 8 = i / 2 rounded half up.
  EXPECT_EQ(block.qs[0] & 0xf, 0);
  EXPECT_EQ(block.qs[1] & 0xf, 1);  // 0.5 rounds up
  EXPECT_EQ(block.qs[15] & 0xf, 8);
  EXPECT_EQ(block.qs[15] >> 4, 15);  // element 31: 3.75 / 0.5 + 8 = 15.5, clamped to 15
}

TEST(QuantFormatTest, Q8_1StoresScaledSum) {
  std::array<float, 32> x{};
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i) - 4.0f;  // max 27
  BlockQ8_1 block{};
  q::quantize_q8_1(x.data(), &block, 32);
  int sum = 0;
  for (int i = 0; i < 32; ++i) sum += block.qs[i];
  EXPECT_EQ(block.qs[31], 127);
  EXPECT_EQ(block.s, f32_to_f16(static_cast<float>(sum) * (27.0f / 127.0f)));
}

TEST(QuantFormatTest, Q8_KBlockSumsAndScale) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i % 17) - 5.0f;  // extreme +11
  BlockQ8_K block{};
  q::quantize_q8_k(x.data(), &block, 256);
  EXPECT_FLOAT_EQ(block.d, -11.0f / 127.0f);  // the extreme maps to -127
  for (int j = 0; j < 16; ++j) {
    int sum = 0;
    for (int i = 0; i < 16; ++i) {
      EXPECT_GE(block.qs[16 * j + i], -127);
      sum += block.qs[16 * j + i];
    }
    EXPECT_EQ(block.bsums[j], sum) << "sub-block " << j;
  }
  EXPECT_EQ(block.qs[16], -127);  // x[16] = 11
}

TEST(QuantFormatTest, Q8_KZeroBlockIsAllZero) {
  std::vector<float> x(256, 0.0f);
  BlockQ8_K block;
  std::memset(&block, 0xab, sizeof(block));
  q::quantize_q8_k(x.data(), &block, 256);
  EXPECT_EQ(block.d, 0.0f);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(block.qs[i], 0);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(block.bsums[j], 0);
}

}  // namespace
}  // namespace bottega
