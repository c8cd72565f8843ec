// The integer dot kernels of the NEON ISAs, written once over the instruction that multiplies 16
// signed bytes by 16 others and adds the products into 4 int32 lanes (`Dot::dot(acc, a, b)`):
// vec_dot_neon.cpp instantiates them with widening multiplies (base AArch64), and
// vec_dot_neon_dotprod.cpp, compiled with the dotprod extension, with SDOT.
//
// Include only from those two files: everything here has internal linkage, so each file keeps
// its own copy, compiled with its own instruction set (an inline function shared between them
// could be linked from the dotprod file into code that runs on a CPU without dotprod).
//
// Exactness: every product of a weight quant (|q| <= 128; MXFP4's doubled codes |q| <= 12) and an
// activation quant (|q8| <= 127) and every per-block sum is an exact integer, as in
// vec_dot_ref.cpp. Blocks of 32 scale their integer sums in float lanes (only the order of float
// additions differs from the reference); K-quant super-blocks apply the reference's float
// expression to the same integer sums, in the same order, so they give the reference's result.
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/vec_dot_impl.h"
#include "tensor/blocks.h"

namespace bottega::kernels {
namespace {

// One FCVT instruction (AArch64's __fp16 converts in hardware).
inline float half_to_float(uint16_t h) {
  __fp16 value;
  std::memcpy(&value, &h, sizeof(value));
  return value;
}

// 32 quants of a block in element order: elements 0..15 and 16..31.
struct Quants32 {
  int8x16_t lo;
  int8x16_t hi;
};

// Sum of the 32 products of a block's quants with 32 activation bytes, in 4 int32 lanes.
template <class Dot>
inline int32x4_t dot_block(Quants32 w, const int8_t* y) {
  return Dot::dot(Dot::dot(vdupq_n_s32(0), w.lo, vld1q_s8(y)), w.hi, vld1q_s8(y + 16));
}

// 16 bytes of nibbles -> elements 0..15 (low nibbles) and 16..31 (high), values 0..15.
inline Quants32 nibbles(const uint8_t* qs) {
  const uint8x16_t packed = vld1q_u8(qs);
  return {vreinterpretq_s8_u8(vandq_u8(packed, vdupq_n_u8(0x0f))),
          vreinterpretq_s8_u8(vshrq_n_u8(packed, 4))};
}

// 0x10 in the bytes of elements whose bit is set in the 32-bit little-endian word at qh (bit 4
// of Q5_0/Q5_1 quants), 0 elsewhere.
inline Quants32 high_bits(const uint8_t* qh) {
  static constexpr uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bit = vld1q_u8(kBit);
  const uint8x16_t sixteen = vdupq_n_u8(0x10);
  const uint8x16_t lo = vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), bit);
  const uint8x16_t hi = vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), bit);
  return {vreinterpretq_s8_u8(vandq_u8(lo, sixteen)), vreinterpretq_s8_u8(vandq_u8(hi, sixteen))};
}

inline Quants32 operator|(Quants32 a, Quants32 b) {
  return {vorrq_s8(a.lo, b.lo), vorrq_s8(a.hi, b.hi)};
}
inline Quants32 minus(Quants32 a, int8_t offset) {
  return {vsubq_s8(a.lo, vdupq_n_s8(offset)), vsubq_s8(a.hi, vdupq_n_s8(offset))};
}

// ---- Blocks of 32 with Q8_0 / Q8_1 activations ----

// A block's quants as the signed values that d multiplies.
inline Quants32 signed_quants(const BlockQ4_0& b) {
  return minus(nibbles(b.qs), 8);
}
inline Quants32 signed_quants(const BlockQ5_0& b) {
  return minus(nibbles(b.qs) | high_bits(b.qh), 16);
}
inline Quants32 signed_quants(const BlockQ8_0& b) {
  return {vld1q_s8(b.qs), vld1q_s8(b.qs + 16)};
}
inline Quants32 signed_quants(const BlockQ8_1& b) {
  return {vld1q_s8(b.qs), vld1q_s8(b.qs + 16)};
}
// MXFP4: each nibble indexes the 16 doubled E2M1 values (-12..12) with one table lookup.
inline Quants32 signed_quants(const BlockMXFP4& b) {
  const int8x16_t table = vld1q_s8(kMXFP4Doubled);
  const Quants32 index = nibbles(b.qs);
  return {vqtbl1q_s8(table, vreinterpretq_u8_s8(index.lo)),
          vqtbl1q_s8(table, vreinterpretq_u8_s8(index.hi))};
}

// The float factor of a symmetric block's quants: its half scale d, or MXFP4's 2^(e - 128) (the
// codes are doubled), built from the bits as blocks.h's mxfp4_half_scale (a copy with internal
// linkage, compiled with each including file's instruction set).
template <class Block>
inline float weight_scale(const Block& b) {
  return half_to_float(b.d);
}
inline float weight_scale(const BlockMXFP4& b) {
  const uint32_t bits = b.e >= 2 ? static_cast<uint32_t>(b.e - 1) << 23 : 0x00200000u << b.e;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return scale;
}

// The quants of the affine types (0..31, the minimum applied apart).
inline Quants32 unsigned_quants(const BlockQ4_1& b) {
  return nibbles(b.qs);
}
inline Quants32 unsigned_quants(const BlockQ5_1& b) {
  return nibbles(b.qs) | high_bits(b.qh);
}

// Sum over blocks of d_w * d_y * sum(w * y); two accumulators so consecutive blocks' multiply-adds
// do not wait on each other.
template <class Dot, class Block>
float dot_symmetric(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / 32;
  float32x4_t acc0 = vdupq_n_f32(0.0f);
  float32x4_t acc1 = vdupq_n_f32(0.0f);
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const int32x4_t s0 = dot_block<Dot>(signed_quants(x[b]), y[b].qs);
    const int32x4_t s1 = dot_block<Dot>(signed_quants(x[b + 1]), y[b + 1].qs);
    const float d0 = weight_scale(x[b]) * half_to_float(y[b].d);
    const float d1 = weight_scale(x[b + 1]) * half_to_float(y[b + 1].d);
    acc0 = vfmaq_f32(acc0, vcvtq_f32_s32(s0), vdupq_n_f32(d0));
    acc1 = vfmaq_f32(acc1, vcvtq_f32_s32(s1), vdupq_n_f32(d1));
  }
  if (b < nb) {
    const int32x4_t s = dot_block<Dot>(signed_quants(x[b]), y[b].qs);
    const float d = weight_scale(x[b]) * half_to_float(y[b].d);
    acc0 = vfmaq_f32(acc0, vcvtq_f32_s32(s), vdupq_n_f32(d));
  }
  return vaddvq_f32(vaddq_f32(acc0, acc1));
}

// (d q + m) . y summed over blocks: d d_y sum(q q8) + m s_y.
template <class Dot, class Block>
float dot_affine(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float32x4_t acc = vdupq_n_f32(0.0f);
  float mins = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    const int32x4_t s = dot_block<Dot>(unsigned_quants(x[b]), y[b].qs);
    const float d = half_to_float(x[b].d) * half_to_float(y[b].d);
    acc = vfmaq_f32(acc, vcvtq_f32_s32(s), vdupq_n_f32(d));
    mins += half_to_float(x[b].m) * half_to_float(y[b].s);
  }
  return vaddvq_f32(acc) + mins;
}

// A tile of RM weight rows x RN activation rows over all blocks: each weight block is unpacked
// once for RN activation rows, each activation block loaded once for RM weight rows; the RM * RN
// accumulators and the unpacked blocks fit the 32 NEON registers for 4 x 4.
template <class Dot, class Block, int RM, int RN>
void tile_symmetric_fixed(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a,
                          size_t a_stride, float* y, int64_t y_stride) {
  float32x4_t acc[RM][RN];
  for (int r = 0; r < RM; ++r) {
    for (int c = 0; c < RN; ++c) acc[r][c] = vdupq_n_f32(0.0f);
  }
  for (int64_t b = 0; b < nb; ++b) {
    Quants32 wq[RM];
    float dw[RM];
    for (int r = 0; r < RM; ++r) {
      const Block& block = reinterpret_cast<const Block*>(w + r * w_stride)[b];
      wq[r] = signed_quants(block);
      dw[r] = weight_scale(block);
    }
    for (int c = 0; c < RN; ++c) {
      const BlockQ8_0& yb = reinterpret_cast<const BlockQ8_0*>(a + c * a_stride)[b];
      const int8x16_t y0 = vld1q_s8(yb.qs);
      const int8x16_t y1 = vld1q_s8(yb.qs + 16);
      const float dy = half_to_float(yb.d);
      for (int r = 0; r < RM; ++r) {
        const int32x4_t s = Dot::dot(Dot::dot(vdupq_n_s32(0), wq[r].lo, y0), wq[r].hi, y1);
        acc[r][c] = vfmaq_f32(acc[r][c], vcvtq_f32_s32(s), vdupq_n_f32(dw[r] * dy));
      }
    }
  }
  for (int r = 0; r < RM; ++r) {
    for (int c = 0; c < RN; ++c) y[c * y_stride + r] = vaddvq_f32(acc[r][c]);
  }
}

template <class Dot, class Block, int RM>
void tile_symmetric_rows(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a,
                         size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  int64_t c = 0;
  for (; c + 4 <= n_cols; c += 4) {
    tile_symmetric_fixed<Dot, Block, RM, 4>(nb, w, w_stride, a + c * a_stride, a_stride,
                                            y + c * y_stride, y_stride);
  }
  for (; c < n_cols; ++c) {
    tile_symmetric_fixed<Dot, Block, RM, 1>(nb, w, w_stride, a + c * a_stride, a_stride,
                                            y + c * y_stride, y_stride);
  }
}

template <class Dot, class Block>
void tile_symmetric(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                    size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const int64_t nb = n / 32;
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) {
    tile_symmetric_rows<Dot, Block, 4>(nb, w + r * w_stride, w_stride, a, a_stride, n_cols, y + r,
                                       y_stride);
  }
  const uint8_t* rest = w + r * w_stride;
  switch (n_rows - r) {
    case 3:
      tile_symmetric_rows<Dot, Block, 3>(nb, rest, w_stride, a, a_stride, n_cols, y + r, y_stride);
      break;
    case 2:
      tile_symmetric_rows<Dot, Block, 2>(nb, rest, w_stride, a, a_stride, n_cols, y + r, y_stride);
      break;
    case 1:
      tile_symmetric_rows<Dot, Block, 1>(nb, rest, w_stride, a, a_stride, n_cols, y + r, y_stride);
      break;
    default:
      break;
  }
}

// ---- K-quants with Q8_K activations ----
//
// A super-block's quants are unpacked once into 16 registers of signed bytes in element order,
// with one integer scale per sub-block (of 32 values for Q4_K/Q5_K, 16 for Q6_K); each token's
// integer sum is then kSub / 16 byte dots per sub-block, and the type's float expression (the
// reference's, in its order) turns it into the super-block's contribution. The dot is the tile
// of one row and one token, so prompts reuse every unpacked super-block for several tokens.

template <int kSub>
struct SuperBlockQuants {
  int8x16_t q[16];
  int32_t scale[kQK_K / kSub];
};

template <class Dot, int kSub>
inline int32_t superblock_sum(const SuperBlockQuants<kSub>& w, const int8_t* y) {
  int32x4_t lanes = vdupq_n_s32(0);
  for (int j = 0; j < kQK_K / kSub; ++j) {
    int32x4_t sub = vdupq_n_s32(0);
    for (int i = 0; i < kSub / 16; ++i) {
      const int v = j * (kSub / 16) + i;
      sub = Dot::dot(sub, w.q[v], vld1q_s8(y + 16 * v));
    }
    lanes = vmlaq_n_s32(lanes, sub, w.scale[j]);
  }
  return vaddvq_s32(lanes);
}

// Q4_K/Q5_K: the 6-bit scales and mins (layout in blocks.h), and the nibbles of chunk p (64
// values: sub-block 2p in the low nibbles of qs[32p ..], 2p + 1 in the high ones).
struct AffineK {
  static constexpr int kSub = 32;
  int32_t min[8];

  void unpack_scales(const uint8_t* packed, SuperBlockQuants<kSub>& w) {
    for (int j = 0; j < 4; ++j) {
      w.scale[j] = packed[j] & 63;
      min[j] = packed[j + 4] & 63;
      w.scale[j + 4] = (packed[j + 8] & 0x0f) | ((packed[j] >> 6) << 4);
      min[j + 4] = (packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4);
    }
  }
  static void unpack_nibbles(const uint8_t* qs, SuperBlockQuants<kSub>& w) {
    const uint8x16_t mask = vdupq_n_u8(0x0f);
    for (int p = 0; p < 4; ++p) {
      for (int i = 0; i < 2; ++i) {
        const uint8x16_t packed = vld1q_u8(qs + 32 * p + 16 * i);
        w.q[4 * p + i] = vreinterpretq_s8_u8(vandq_u8(packed, mask));
        w.q[4 * p + 2 + i] = vreinterpretq_s8_u8(vshrq_n_u8(packed, 4));
      }
    }
  }
  // y.d * (d * sum_q - dmin * sum_j min[j] * (sum of sub-block j's activations)), as the
  // reference.
  float finish(int32_t sum_q, uint16_t d, uint16_t dmin, const BlockQ8_K& y) const {
    int32_t sum_min = 0;
    for (int j = 0; j < 8; ++j) sum_min += min[j] * (y.bsums[2 * j] + y.bsums[2 * j + 1]);
    return y.d * (half_to_float(d) * static_cast<float>(sum_q) -
                  half_to_float(dmin) * static_cast<float>(sum_min));
  }
};

struct Q4K : AffineK {
  using Block = BlockQ4_K;
  void unpack(const Block& x, SuperBlockQuants<kSub>& w) {
    unpack_scales(x.scales, w);
    unpack_nibbles(x.qs, w);
  }
  float finish(int32_t sum_q, const Block& x, const BlockQ8_K& y) const {
    return AffineK::finish(sum_q, x.d, x.dmin, y);
  }
};

struct Q5K : AffineK {
  using Block = BlockQ5_K;
  // Bit 2p of qh[l] is bit 4 of chunk p's low-nibble value l, bit 2p + 1 of its high one.
  void unpack(const Block& x, SuperBlockQuants<kSub>& w) {
    unpack_scales(x.scales, w);
    unpack_nibbles(x.qs, w);
    const uint8x16_t sixteen = vdupq_n_u8(0x10);
    for (int i = 0; i < 2; ++i) {
      const uint8x16_t qh = vld1q_u8(x.qh + 16 * i);
      for (int p = 0; p < 4; ++p) {
        const uint8x16_t bit_lo = vdupq_n_u8(static_cast<uint8_t>(1u << (2 * p)));
        const uint8x16_t bit_hi = vdupq_n_u8(static_cast<uint8_t>(2u << (2 * p)));
        w.q[4 * p + i] =
            vorrq_s8(w.q[4 * p + i], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh, bit_lo), sixteen)));
        w.q[4 * p + 2 + i] = vorrq_s8(w.q[4 * p + 2 + i],
                                      vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh, bit_hi), sixteen)));
      }
    }
  }
  float finish(int32_t sum_q, const Block& x, const BlockQ8_K& y) const {
    return AffineK::finish(sum_q, x.d, x.dmin, y);
  }
};

// Q6_K: in each half (128 values) element 32k + l has its low 4 bits in ql[l + 32 (k % 2)] (low
// nibble for k < 2) and its high 2 bits at bit 2k of qh[l]; sub-blocks of 16, values q - 32.
struct Q6K {
  using Block = BlockQ6_K;
  static constexpr int kSub = 16;
  static void unpack(const Block& x, SuperBlockQuants<kSub>& w) {
    const uint8x16_t low_mask = vdupq_n_u8(0x0f);
    const uint8x16_t high_mask = vdupq_n_u8(0x30);
    const int8x16_t offset = vdupq_n_s8(32);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x.ql + 64 * half;
      for (int i = 0; i < 2; ++i) {                        // l in 16 i .. 16 i + 15
        const uint8x16_t a0 = vld1q_u8(ql + 16 * i);       // k = 0 (low), 2 (high nibbles)
        const uint8x16_t a1 = vld1q_u8(ql + 32 + 16 * i);  // k = 1, 3
        const uint8x16_t h = vld1q_u8(x.qh + 32 * half + 16 * i);
        // Bits 2k, 2k + 1 of h moved to bits 4, 5.
        const uint8x16_t q[4] = {
            vorrq_u8(vandq_u8(a0, low_mask), vandq_u8(vshlq_n_u8(h, 4), high_mask)),
            vorrq_u8(vandq_u8(a1, low_mask), vandq_u8(vshlq_n_u8(h, 2), high_mask)),
            vorrq_u8(vshrq_n_u8(a0, 4), vandq_u8(h, high_mask)),
            vorrq_u8(vshrq_n_u8(a1, 4), vandq_u8(vshrq_n_u8(h, 2), high_mask))};
        for (int k = 0; k < 4; ++k) {
          w.q[8 * half + 2 * k + i] = vsubq_s8(vreinterpretq_s8_u8(q[k]), offset);
        }
      }
    }
    for (int j = 0; j < 16; ++j) w.scale[j] = x.scales[j];
  }
  static float finish(int32_t sum_q, const Block& x, const BlockQ8_K& y) {
    return y.d * half_to_float(x.d) * static_cast<float>(sum_q);
  }
};

// RN tokens of one weight row: each super-block unpacked once, then summed with every token's.
template <class Dot, class K, int RN>
void tile_k_fixed(int64_t nb, const typename K::Block* x, const uint8_t* a, size_t a_stride,
                  float* y, int64_t y_stride) {
  float sum[RN] = {};
  K k;
  SuperBlockQuants<K::kSub> w;
  for (int64_t b = 0; b < nb; ++b) {
    k.unpack(x[b], w);
    for (int c = 0; c < RN; ++c) {
      const BlockQ8_K& yb = reinterpret_cast<const BlockQ8_K*>(a + c * a_stride)[b];
      sum[c] += k.finish(superblock_sum<Dot, K::kSub>(w, yb.qs), x[b], yb);
    }
  }
  for (int c = 0; c < RN; ++c) y[c * y_stride] = sum[c];
}

template <class Dot, class K>
float dot_k(int64_t n, const void* w, const void* a) {
  float result = 0.0f;
  tile_k_fixed<Dot, K, 1>(n / kQK_K, static_cast<const typename K::Block*>(w),
                          static_cast<const uint8_t*>(a), 0, &result, 1);
  return result;
}

template <class Dot, class K>
void tile_k(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
            size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto* x = reinterpret_cast<const typename K::Block*>(w + r * w_stride);
    int64_t c = 0;
    for (; c + 4 <= n_cols; c += 4) {
      tile_k_fixed<Dot, K, 4>(n / kQK_K, x, a + c * a_stride, a_stride, y + c * y_stride + r,
                              y_stride);
    }
    for (; c < n_cols; ++c) {
      tile_k_fixed<Dot, K, 1>(n / kQK_K, x, a + c * a_stride, a_stride, y + c * y_stride + r,
                              y_stride);
    }
  }
}

// The integer kernels of one NEON ISA.
template <class Dot>
constexpr IsaKernel kIntegerKernels[] = {
    IsaKernel{TensorType::Q4_0, dot_symmetric<Dot, BlockQ4_0>, tile_symmetric<Dot, BlockQ4_0>},
    IsaKernel{TensorType::Q5_0, dot_symmetric<Dot, BlockQ5_0>, tile_symmetric<Dot, BlockQ5_0>},
    IsaKernel{TensorType::Q8_0, dot_symmetric<Dot, BlockQ8_0>, tile_symmetric<Dot, BlockQ8_0>},
    IsaKernel{TensorType::Q8_1, dot_symmetric<Dot, BlockQ8_1>, tile_symmetric<Dot, BlockQ8_1>},
    IsaKernel{TensorType::MXFP4, dot_symmetric<Dot, BlockMXFP4>, tile_symmetric<Dot, BlockMXFP4>},
    IsaKernel{TensorType::Q4_1, dot_affine<Dot, BlockQ4_1>, nullptr},
    IsaKernel{TensorType::Q5_1, dot_affine<Dot, BlockQ5_1>, nullptr},
    IsaKernel{TensorType::Q4_K, dot_k<Dot, Q4K>, tile_k<Dot, Q4K>},
    IsaKernel{TensorType::Q5_K, dot_k<Dot, Q5K>, tile_k<Dot, Q5K>},
    IsaKernel{TensorType::Q6_K, dot_k<Dot, Q6K>, tile_k<Dot, Q6K>},
};

}  // namespace
}  // namespace bottega::kernels
