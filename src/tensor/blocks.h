// Block layouts of the quantized types, byte for byte as GGUF stores them (ggml's block_* structs).
// Scales are IEEE half stored as uint16_t (see core/half.h). Every field is a byte array or a
// naturally aligned scalar, so the structs have no padding and sizeof is the on-disk block size.
//
// Naming follows ggml: `d` is a scale, `m`/`dmin` a minimum (value = d*q + m, or d*q - dmin*m for
// the K-quants), `qs`/`ql` hold the low bits of the quants, `qh`/`hmask` the high bits.
#pragma once

#include <bit>
#include <cstdint>

namespace bottega {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK8_1 = 32;
inline constexpr int kQK_MXFP4 = 32;
// Super-block of every K-quant.
inline constexpr int kQK_K = 256;
// Packed 6-bit scales and mins of Q4_K/Q5_K (8 + 8 values), and the 16 6-bit scales of Q3_K.
inline constexpr int kKScaleBytes = 12;

// Q4_0: 32 values = d * (q - 8), q in 0..15. qs[j] holds element j in its low nibble and element
// j + 16 in its high nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// Q4_1: 32 values = d * q + m, q in 0..15; nibbles as Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK4_1 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

// Q5_0: 32 values = d * (q - 16), q in 0..31. Low 4 bits as Q4_0; bit 4 of element j is bit j of
// the little-endian 32-bit word qh.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK5_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

// Q5_1: 32 values = d * q + m, q in 0..31; bits as Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

// Q8_0: 32 values = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q8_1: 32 values = d * qs[i]; s = d * sum(qs) lets Q4_1/Q5_1 dot products apply their min term
// with one multiply per block.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK8_1];
};
static_assert(sizeof(BlockQ8_1) == 36);

// MXFP4 (OCP microscaling FP4): 32 values = m(q) * 2^(e - 127), e an E8M0 exponent (a biased
// power of two, no mantissa), q a 4-bit E2M1 code: bit 3 the sign, bits 0..2 the magnitude index
// into 0, 0.5, 1, 1.5, 2, 3, 4, 6. Nibbles as Q4_0: qs[j] holds element j in its low nibble and
// element j + 16 in its high nibble. One byte per 32 values for the scale, so blocks are 17 bytes
// and rows of them are byte-aligned only.
struct BlockMXFP4 {
  uint8_t e;
  uint8_t qs[kQK_MXFP4 / 2];
};
static_assert(sizeof(BlockMXFP4) == 17);
static_assert(alignof(BlockMXFP4) == 1);

// The E2M1 codes doubled, so they are integers (-12..12) that the integer dot kernels multiply
// with activation bytes; the block's scale is then 2^(e - 128).
inline constexpr int8_t kMXFP4Doubled[16] = {0, 1,  2,  3,  4,  6,  8,  12,
                                             0, -1, -2, -3, -4, -6, -8, -12};

// 2^(e - 128) as a float, exactly: normal for e >= 2, the subnormals 2^-128 and 2^-127 for e = 0
// and 1. e = 255, NaN in the OCP format, gives 2^127 as ggml's decoder does. For code compiled
// without ISA flags only: the SIMD files keep their own copy, since an inline function they
// shared could be linked into code that runs on any CPU.
inline float mxfp4_half_scale(uint8_t e) {
  const uint32_t bits = e >= 2 ? static_cast<uint32_t>(e - 1) << 23 : 0x00200000u << e;
  return std::bit_cast<float>(bits);
}

// Q2_K: 256 values in 16 sub-blocks of 16; value = d * (scales[i] & 15) * q - dmin * (scales[i] >>
// 4), q in 0..3. Element 128*h + 32*k + l (h in 0..1, k in 0..3, l in 0..31) is bits 2k..2k+1 of
// qs[32*h + l], in sub-block 8*h + 2*k + l/16.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

// Q3_K: 256 values in 16 sub-blocks of 16; value = d * (s - 32) * (q - 4), q in 0..7, s a 6-bit
// scale. The low 2 bits of q are placed as in Q2_K; bit 2 of element e is bit e/32 of hmask[e%32].
// Scale j: low 4 bits in scales[j % 8] (low nibble for j < 8, high nibble otherwise), high 2 bits
// at bit 2*(j/4) of scales[8 + j%4].
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[kKScaleBytes];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

// Q4_K: 256 values in 8 sub-blocks of 32; value = d * sc[j] * q - dmin * m[j], q in 0..15, with
// 6-bit sc/m packed in `scales` (see get_scale_min_k4 in quant_ref_k.cpp). Elements 64*p + l and
// 64*p + 32 + l (p in 0..3, l in 0..31) are the low and high nibble of qs[32*p + l].
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// Q5_K: as Q4_K with q in 0..31; bit 4 of elements 64*p + l and 64*p + 32 + l is bit 2p and 2p + 1
// of qh[l].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// Q6_K: 256 values in 16 sub-blocks of 16; value = d * scales[e/16] * (q - 32), q in 0..63. In each
// half h (128 values, ql[64*h ...], qh[32*h ...]), element 32*k + l (k in 0..3, l in 0..31) has its
// low 4 bits in ql[l + 32*(k%2)] (low nibble for k < 2, high otherwise) and its high 2 bits at bit
// 2k of qh[l].
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Q8_K: activation type of the K-quant dot products. 256 values = d * qs[i] with a float scale;
// bsums[j] = sum of qs[16*j .. 16*j + 15] lets the dot product apply the weights' per-sub-block
// mins.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace bottega
