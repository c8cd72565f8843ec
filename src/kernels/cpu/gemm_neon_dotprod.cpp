// Kernels for the interleaved layouts (repack.h: Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K) with the
// dotprod instructions. Compiled with +dotprod (src/kernels/CMakeLists.txt) and used only when
// isa_arm.cpp finds them.
//
// The layouts put 4 consecutive quants of each of 8 rows in 32 bytes: 16 bytes hold rows 0..3,
// 16 rows 4..7. SDOT by element (vdotq_laneq_s32) multiplies each row's 4 quants with the same 4
// activation quants, so one instruction gives 4 rows' partial sums in 4 lanes: 8 rows' exact
// integer block sums come out as two vectors, with no horizontal sums, and each loaded weight
// block serves every token of the tile.
#include <arm_neon.h>

#include <array>

#include "kernels/cpu/repack.h"
#include "kernels/cpu/vec_dot_impl.h"
#include "tensor/blocks.h"

namespace bottega::kernels {
namespace {

// Sums of the 8 rows' products with 32 activation quants, rows 0..3 and 4..7.
struct RowSums {
  int32x4_t lo;
  int32x4_t hi;
};

// Adds the products of 4 quants of each row (w[0]: rows 0..3, w[1]: rows 4..7) with activation
// quants 4 L .. 4 L + 3 of y.
template <int L>
inline RowSums add_lane(RowSums s, const int8x16_t* w, int8x16_t y) {
  return {vdotq_laneq_s32(s.lo, w[0], y, L), vdotq_laneq_s32(s.hi, w[1], y, L)};
}

// The 8 rows' products with 32 activation quants, given the rows' quants as 8 lane groups: q[g]
// holds quants 4 g .. 4 g + 3 of rows 0..3 (q[g][0]) and 4..7 (q[g][1]), y0 quants 0..15 and y1
// quants 16..31 of the activation.
inline RowSums lane_group_sums(const int8x16_t (&q)[8][2], int8x16_t y0, int8x16_t y1) {
  RowSums s{vdupq_n_s32(0), vdupq_n_s32(0)};
  s = add_lane<0>(s, q[0], y0);
  s = add_lane<1>(s, q[1], y0);
  s = add_lane<2>(s, q[2], y0);
  s = add_lane<3>(s, q[3], y0);
  s = add_lane<0>(s, q[4], y1);
  s = add_lane<1>(s, q[5], y1);
  s = add_lane<2>(s, q[6], y1);
  return add_lane<3>(s, q[7], y1);
}

// Q8_0: byte 32 g + 4 r + i of qs is element 4 g + i of row r (g < 8).
struct Q8_0Group {
  using Packed = PackedQ8_0;
  int8x16_t q[8][2];

  explicit Q8_0Group(const Packed& p) {
    for (int g = 0; g < 8; ++g) {
      q[g][0] = vld1q_s8(p.qs + 32 * g);
      q[g][1] = vld1q_s8(p.qs + 32 * g + 16);
    }
  }
  RowSums sums(int8x16_t y0, int8x16_t y1) const { return lane_group_sums(q, y0, y1); }
  // d_w d_y sum(q q8).
  static float32x4_t scaled(float32x4_t acc, float32x4_t d_rows, int32x4_t sum,
                            const ActivationQ8& y) {
    return vfmaq_f32(acc, vmulq_n_f32(d_rows, y.d), vcvtq_f32_s32(sum));
  }
};

// Q4_0: byte 32 j + 4 r + i of qs holds element 4 j + i of row r in its low nibble and element
// 16 + 4 j + i in its high one (j < 4). The nibbles (0..15) are multiplied as they are; the
// offset of 8 comes off once per block through the activation's offset8 = 8 d_y sum(q8).
struct Q4_0Group {
  using Packed = PackedQ4_0;
  // q[j]: the low nibbles of byte group j (elements 4 j ..), q[4 + j]: its high nibbles
  // (elements 16 + 4 j ..), matching the activation's quants 0..15 and 16..31.
  int8x16_t q[8][2];

  explicit Q4_0Group(const Packed& p) : Q4_0Group(p.qs) {}
  // From the 128 bytes of nibbles.
  explicit Q4_0Group(const uint8_t* qs) {
    const uint8x16_t mask = vdupq_n_u8(0x0f);
    for (int j = 0; j < 4; ++j) {
      for (int h = 0; h < 2; ++h) {
        const uint8x16_t packed = vld1q_u8(qs + 32 * j + 16 * h);
        q[j][h] = vreinterpretq_s8_u8(vandq_u8(packed, mask));
        q[4 + j][h] = vreinterpretq_s8_u8(vshrq_n_u8(packed, 4));
      }
    }
  }
  RowSums sums(int8x16_t y0, int8x16_t y1) const { return lane_group_sums(q, y0, y1); }
  // d_w (d_y sum(q q8) - offset8) = d_w d_y sum((q - 8) q8).
  static float32x4_t scaled(float32x4_t acc, float32x4_t d_rows, int32x4_t sum,
                            const ActivationQ8& y) {
    const float32x4_t per_row =
        vsubq_f32(vmulq_n_f32(vcvtq_f32_s32(sum), y.d), vdupq_n_f32(y.offset8));
    return vfmaq_f32(acc, d_rows, per_row);
  }
};

// Q5_0: Q4_0's nibbles completed by bit 4 from qh, whose byte 4 r + i sits at the same place as
// the qs bytes it completes: bit j for the low nibble of group j, bit 4 + j for the high one.
// The quants (0..31) are multiplied as they are; the offset of 16 is 2 offset8.
struct Q5_0Group : Q4_0Group {
  using Packed = PackedQ5_0;

  explicit Q5_0Group(const Packed& p) : Q4_0Group(p.qs) {
    const uint8x16_t sixteen = vdupq_n_u8(0x10);
    for (int h = 0; h < 2; ++h) {
      const uint8x16_t qh = vld1q_u8(p.qh + 16 * h);
      for (int j = 0; j < 4; ++j) {
        const uint8x16_t bit_low = vdupq_n_u8(static_cast<uint8_t>(1u << j));
        const uint8x16_t bit_high = vdupq_n_u8(static_cast<uint8_t>(16u << j));
        q[j][h] = vorrq_s8(q[j][h], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh, bit_low), sixteen)));
        q[4 + j][h] =
            vorrq_s8(q[4 + j][h], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh, bit_high), sixteen)));
      }
    }
  }
  // d_w (d_y sum(q q8) - 2 offset8) = d_w d_y sum((q - 16) q8).
  static float32x4_t scaled(float32x4_t acc, float32x4_t d_rows, int32x4_t sum,
                            const ActivationQ8& y) {
    const float32x4_t per_row =
        vsubq_f32(vmulq_n_f32(vcvtq_f32_s32(sum), y.d), vdupq_n_f32(2.0f * y.offset8));
    return vfmaq_f32(acc, d_rows, per_row);
  }
};

// One group of 8 rows (nb packed blocks) against RN activation rows.
template <class Group, int RN>
void group_tile(int64_t nb, const typename Group::Packed* w, const uint8_t* a, size_t a_stride,
                float* y, int64_t y_stride) {
  float32x4_t acc[RN][2];
  for (int c = 0; c < RN; ++c) acc[c][0] = acc[c][1] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const Group group(w[b]);
    const float32x4_t d_lo = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w[b].d)));
    const float32x4_t d_hi = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w[b].d + 4)));
    for (int c = 0; c < RN; ++c) {
      const ActivationQ8& act = reinterpret_cast<const ActivationQ8*>(a + c * a_stride)[b];
      const RowSums s = group.sums(vld1q_s8(act.qs), vld1q_s8(act.qs + 16));
      acc[c][0] = Group::scaled(acc[c][0], d_lo, s.lo, act);
      acc[c][1] = Group::scaled(acc[c][1], d_hi, s.hi, act);
    }
  }
  for (int c = 0; c < RN; ++c) {
    vst1q_f32(y + c * y_stride, acc[c][0]);
    vst1q_f32(y + c * y_stride + 4, acc[c][1]);
  }
}

template <class Group>
void interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                      size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  using Packed = typename Group::Packed;
  const int64_t nb = n_in / 32;
  for (int64_t g = 0; g < n_groups; ++g) {
    const auto* group = reinterpret_cast<const Packed*>(w) + g * nb;
    float* out = y + g * kRowGroup;
    int64_t c = 0;
    for (; c + 4 <= n_cols; c += 4) {
      group_tile<Group, 4>(nb, group, a + c * a_stride, a_stride, out + c * y_stride, y_stride);
    }
    for (; c < n_cols; ++c) {
      group_tile<Group, 1>(nb, group, a + c * a_stride, a_stride, out + c * y_stride, y_stride);
    }
  }
}

// ---- Q4_K and Q5_K: 8 sub-blocks of 32 per super-block, activations Q8_K ----
//
// Chunk p (64 values) of the packed qs: byte 4 r + i of group k is row r's qs[32 p + 4 k + i],
// whose low nibble is element 64 p + 4 k + i (sub-block 2p) and high nibble element 64 p + 32 +
// 4 k + i (sub-block 2p + 1). Per row and super-block the kernel forms the reference's exact
// integer sums, sum_j scale[j] * sum(q * q8) and sum_j min[j] * bsums, and its float expression
// y.d * (d * sum_q - dmin * sum_min).

// 8 unsigned bytes (one per row) -> rows 0..3 and 4..7 as int32.
inline RowSums widen_rows(uint8x8_t v) {
  const uint16x8_t wide = vmovl_u8(v);
  return {vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(wide))),
          vreinterpretq_s32_u32(vmovl_high_u16(wide))};
}

inline RowSums multiply_add(RowSums acc, RowSums a, RowSums b) {
  return {vmlaq_s32(acc.lo, a.lo, b.lo), vmlaq_s32(acc.hi, a.hi, b.hi)};
}

// The products of chunk p's nibbles with RN tokens' activations: per token, sub-block 2p's sums
// in low[c] and 2p + 1's in high[c].
template <int RN>
struct ChunkSums {
  RowSums low[RN];
  RowSums high[RN];
};

template <int L, int RN>
inline void add_group(ChunkSums<RN>& s, const int8x16_t* nib_low, const int8x16_t* nib_high,
                      const int8_t* const* y, int offset) {
  for (int c = 0; c < RN; ++c) {
    s.low[c] = add_lane<L>(s.low[c], nib_low, vld1q_s8(y[c] + offset));
    s.high[c] = add_lane<L>(s.high[c], nib_high, vld1q_s8(y[c] + offset + 32));
  }
}

// qh (Q5_K, else nullptr): byte 4 r + i of group k holds row r's qh[4 k + i], whose bits 2p and
// 2p + 1 are bit 4 of chunk p's low and high nibbles.
template <int RN>
ChunkSums<RN> chunk_sums(const uint8_t (*qs)[32], const uint8_t (*qh)[32], int chunk,
                         const int8_t* const* y) {
  ChunkSums<RN> s;
  for (int c = 0; c < RN; ++c) {
    s.low[c] = s.high[c] = RowSums{vdupq_n_s32(0), vdupq_n_s32(0)};
  }
  const uint8x16_t mask = vdupq_n_u8(0x0f);
  int8x16_t nib_low[8][2], nib_high[8][2];
  for (int k = 0; k < 8; ++k) {
    for (int h = 0; h < 2; ++h) {
      const uint8x16_t packed = vld1q_u8(qs[k] + 16 * h);
      uint8x16_t low = vandq_u8(packed, mask);
      uint8x16_t high = vshrq_n_u8(packed, 4);
      if (qh != nullptr) {
        const uint8x16_t bits = vld1q_u8(qh[k] + 16 * h);
        const uint8x16_t sixteen = vdupq_n_u8(0x10);
        const auto bit = [](int n) { return vdupq_n_u8(static_cast<uint8_t>(1u << n)); };
        low = vorrq_u8(low, vandq_u8(vtstq_u8(bits, bit(2 * chunk)), sixteen));
        high = vorrq_u8(high, vandq_u8(vtstq_u8(bits, bit(2 * chunk + 1)), sixteen));
      }
      nib_low[k][h] = vreinterpretq_s8_u8(low);
      nib_high[k][h] = vreinterpretq_s8_u8(high);
    }
  }
  // Groups k = 0..3 take activation lanes 0..3 of values 0..15, k = 4..7 of values 16..31.
  add_group<0>(s, nib_low[0], nib_high[0], y, 0);
  add_group<1>(s, nib_low[1], nib_high[1], y, 0);
  add_group<2>(s, nib_low[2], nib_high[2], y, 0);
  add_group<3>(s, nib_low[3], nib_high[3], y, 0);
  add_group<0>(s, nib_low[4], nib_high[4], y, 16);
  add_group<1>(s, nib_low[5], nib_high[5], y, 16);
  add_group<2>(s, nib_low[6], nib_high[6], y, 16);
  add_group<3>(s, nib_low[7], nib_high[7], y, 16);
  return s;
}

inline const uint8_t (*high_bits(const PackedQ4_K&))[32] {
  return nullptr;
}
inline const uint8_t (*high_bits(const PackedQ5_K& p))[32] {
  return p.qh;
}

// One group of 8 Q4_K or Q5_K rows (nb packed super-blocks) against RN activation rows.
template <class Packed, int RN>
void affine_k_group_tile(int64_t nb, const Packed* w, const uint8_t* a, size_t a_stride, float* y,
                         int64_t y_stride) {
  float32x4_t acc[RN][2];
  for (int c = 0; c < RN; ++c) acc[c][0] = acc[c][1] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const Packed& p = w[b];
    const BlockQ8_K* act[RN];
    const int8_t* qs[RN];
    for (int c = 0; c < RN; ++c) {
      act[c] = reinterpret_cast<const BlockQ8_K*>(a + c * a_stride) + b;
      qs[c] = act[c]->qs;
    }
    RowSums sum_q[RN], sum_min[RN];
    for (int c = 0; c < RN; ++c) {
      sum_q[c] = sum_min[c] = RowSums{vdupq_n_s32(0), vdupq_n_s32(0)};
    }
    for (int chunk = 0; chunk < 4; ++chunk) {
      const int8_t* yq[RN];
      for (int c = 0; c < RN; ++c) yq[c] = qs[c] + 64 * chunk;
      const ChunkSums<RN> s = chunk_sums<RN>(p.qs[chunk], high_bits(p), chunk, yq);
      const RowSums scale_low = widen_rows(vld1_u8(p.scales[2 * chunk]));
      const RowSums scale_high = widen_rows(vld1_u8(p.scales[2 * chunk + 1]));
      // mins[chunk][r][0..1]: the mins of sub-blocks 2 chunk and 2 chunk + 1, row by row.
      const uint8x8x2_t mins = vld2_u8(&p.mins[chunk][0][0]);
      const RowSums min_low = widen_rows(mins.val[0]);
      const RowSums min_high = widen_rows(mins.val[1]);
      for (int c = 0; c < RN; ++c) {
        sum_q[c] = multiply_add(multiply_add(sum_q[c], s.low[c], scale_low), s.high[c], scale_high);
        const int16_t* bsums = act[c]->bsums + 4 * chunk;
        const int32_t bs_low = bsums[0] + bsums[1];
        const int32_t bs_high = bsums[2] + bsums[3];
        sum_min[c].lo =
            vmlaq_n_s32(vmlaq_n_s32(sum_min[c].lo, min_low.lo, bs_low), min_high.lo, bs_high);
        sum_min[c].hi =
            vmlaq_n_s32(vmlaq_n_s32(sum_min[c].hi, min_low.hi, bs_low), min_high.hi, bs_high);
      }
    }
    const float32x4_t d[2] = {vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p.d))),
                              vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p.d + 4)))};
    const float32x4_t dmin[2] = {vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p.dmin))),
                                 vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p.dmin + 4)))};
    for (int c = 0; c < RN; ++c) {
      const int32x4_t q[2] = {sum_q[c].lo, sum_q[c].hi};
      const int32x4_t m[2] = {sum_min[c].lo, sum_min[c].hi};
      for (int h = 0; h < 2; ++h) {
        const float32x4_t inner = vsubq_f32(vmulq_f32(d[h], vcvtq_f32_s32(q[h])),
                                            vmulq_f32(dmin[h], vcvtq_f32_s32(m[h])));
        acc[c][h] = vaddq_f32(acc[c][h], vmulq_n_f32(inner, act[c]->d));
      }
    }
  }
  for (int c = 0; c < RN; ++c) {
    vst1q_f32(y + c * y_stride, acc[c][0]);
    vst1q_f32(y + c * y_stride + 4, acc[c][1]);
  }
}

template <class Packed>
void affine_k_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                               size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const int64_t nb = n_in / kQK_K;
  for (int64_t g = 0; g < n_groups; ++g) {
    const auto* group = reinterpret_cast<const Packed*>(w) + g * nb;
    float* out = y + g * kRowGroup;
    int64_t c = 0;
    for (; c + 2 <= n_cols; c += 2) {
      affine_k_group_tile<Packed, 2>(nb, group, a + c * a_stride, a_stride, out + c * y_stride,
                                     y_stride);
    }
    if (c < n_cols)
      affine_k_group_tile<Packed, 1>(nb, group, a + c * a_stride, a_stride, out + c * y_stride,
                                     y_stride);
  }
}

// ---- Q6_K: 16 sub-blocks of 16 per super-block, activations Q8_K ----
//
// Chunk p (64 values) of ql: byte 4 r + i of group k holds row r's value 64 p + 4 k + i in its low
// nibble (sub-block 4p + k / 4) and 64 p + 32 + 4 k + i in its high one (sub-block 4p + 2 + k / 4);
// their 2 high bits are bits 2t, 2t + 1 of byte 4 r + i of qh[p / 2][k], t = 2 (p % 2) for the
// low nibble and one more for the high one. Values are q - 32.

// Chunk p's 4 sub-blocks (4p .. 4p + 3) for each of RN tokens.
template <int RN>
struct Q6Sums {
  RowSums sub[RN][4];
};

template <int L, int RN>
inline void add_q6_group(Q6Sums<RN>& s, const int8x16_t* low, const int8x16_t* high,
                         const int8_t* const* y, int half) {
  for (int c = 0; c < RN; ++c) {
    s.sub[c][half] = add_lane<L>(s.sub[c][half], low, vld1q_s8(y[c] + 16 * half));
    s.sub[c][2 + half] = add_lane<L>(s.sub[c][2 + half], high, vld1q_s8(y[c] + 32 + 16 * half));
  }
}

template <int RN>
Q6Sums<RN> q6_chunk_sums(const PackedQ6_K& p, int chunk, const int8_t* const* y) {
  Q6Sums<RN> s;
  for (int c = 0; c < RN; ++c) {
    for (int j = 0; j < 4; ++j) s.sub[c][j] = RowSums{vdupq_n_s32(0), vdupq_n_s32(0)};
  }
  const uint8x16_t mask = vdupq_n_u8(0x0f);
  const uint8x16_t two_bits = vdupq_n_u8(0x30);
  const int8x16_t offset = vdupq_n_s8(32);
  // Bits 2t, 2t + 1 moved to bits 4, 5: t = 0 or 2 for the low nibble, 1 or 3 for the high.
  const bool upper = chunk % 2 != 0;
  int8x16_t low[8][2], high[8][2];
  for (int k = 0; k < 8; ++k) {
    for (int h = 0; h < 2; ++h) {
      const uint8x16_t packed = vld1q_u8(p.ql[chunk][k] + 16 * h);
      const uint8x16_t bits = vld1q_u8(p.qh[chunk / 2][k] + 16 * h);
      const uint8x16_t bits_low = upper ? bits : vshlq_n_u8(bits, 4);
      const uint8x16_t bits_high = upper ? vshrq_n_u8(bits, 2) : vshlq_n_u8(bits, 2);
      const uint8x16_t q_low = vorrq_u8(vandq_u8(packed, mask), vandq_u8(bits_low, two_bits));
      const uint8x16_t q_high = vorrq_u8(vshrq_n_u8(packed, 4), vandq_u8(bits_high, two_bits));
      low[k][h] = vsubq_s8(vreinterpretq_s8_u8(q_low), offset);
      high[k][h] = vsubq_s8(vreinterpretq_s8_u8(q_high), offset);
    }
  }
  add_q6_group<0>(s, low[0], high[0], y, 0);
  add_q6_group<1>(s, low[1], high[1], y, 0);
  add_q6_group<2>(s, low[2], high[2], y, 0);
  add_q6_group<3>(s, low[3], high[3], y, 0);
  add_q6_group<0>(s, low[4], high[4], y, 1);
  add_q6_group<1>(s, low[5], high[5], y, 1);
  add_q6_group<2>(s, low[6], high[6], y, 1);
  add_q6_group<3>(s, low[7], high[7], y, 1);
  return s;
}

// 8 signed bytes (one per row) -> rows 0..3 and 4..7 as int32.
inline RowSums widen_rows(int8x8_t v) {
  const int16x8_t wide = vmovl_s8(v);
  return {vmovl_s16(vget_low_s16(wide)), vmovl_high_s16(wide)};
}

template <int RN>
void q6_k_group_tile(int64_t nb, const PackedQ6_K* w, const uint8_t* a, size_t a_stride, float* y,
                     int64_t y_stride) {
  float32x4_t acc[RN][2];
  for (int c = 0; c < RN; ++c) acc[c][0] = acc[c][1] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const PackedQ6_K& p = w[b];
    const BlockQ8_K* act[RN];
    RowSums sum_q[RN];
    for (int c = 0; c < RN; ++c) {
      act[c] = reinterpret_cast<const BlockQ8_K*>(a + c * a_stride) + b;
      sum_q[c] = RowSums{vdupq_n_s32(0), vdupq_n_s32(0)};
    }
    for (int chunk = 0; chunk < 4; ++chunk) {
      const int8_t* yq[RN];
      for (int c = 0; c < RN; ++c) yq[c] = act[c]->qs + 64 * chunk;
      const Q6Sums<RN> s = q6_chunk_sums<RN>(p, chunk, yq);
      // scales[m][r][0..1]: sub-blocks 2m and 2m + 1 of row r; chunk p has m = 2p and 2p + 1.
      const int8x8x2_t first = vld2_s8(&p.scales[2 * chunk][0][0]);
      const int8x8x2_t second = vld2_s8(&p.scales[2 * chunk + 1][0][0]);
      const RowSums scale[4] = {widen_rows(first.val[0]), widen_rows(first.val[1]),
                                widen_rows(second.val[0]), widen_rows(second.val[1])};
      for (int c = 0; c < RN; ++c) {
        for (int j = 0; j < 4; ++j) sum_q[c] = multiply_add(sum_q[c], s.sub[c][j], scale[j]);
      }
    }
    const float32x4_t d[2] = {vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p.d))),
                              vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p.d + 4)))};
    for (int c = 0; c < RN; ++c) {
      // (y.d * d) * sum_q, the reference's order.
      acc[c][0] =
          vaddq_f32(acc[c][0], vmulq_f32(vmulq_n_f32(d[0], act[c]->d), vcvtq_f32_s32(sum_q[c].lo)));
      acc[c][1] =
          vaddq_f32(acc[c][1], vmulq_f32(vmulq_n_f32(d[1], act[c]->d), vcvtq_f32_s32(sum_q[c].hi)));
    }
  }
  for (int c = 0; c < RN; ++c) {
    vst1q_f32(y + c * y_stride, acc[c][0]);
    vst1q_f32(y + c * y_stride + 4, acc[c][1]);
  }
}

void q6_k_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                           size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const int64_t nb = n_in / kQK_K;
  for (int64_t g = 0; g < n_groups; ++g) {
    const auto* group = reinterpret_cast<const PackedQ6_K*>(w) + g * nb;
    float* out = y + g * kRowGroup;
    int64_t c = 0;
    for (; c + 2 <= n_cols; c += 2) {
      q6_k_group_tile<2>(nb, group, a + c * a_stride, a_stride, out + c * y_stride, y_stride);
    }
    if (c < n_cols) {
      q6_k_group_tile<1>(nb, group, a + c * a_stride, a_stride, out + c * y_stride, y_stride);
    }
  }
}

constexpr std::array kInterleaved = {
    IsaInterleavedKernel{TensorType::Q4_0, interleaved_tile<Q4_0Group>},
    IsaInterleavedKernel{TensorType::Q5_0, interleaved_tile<Q5_0Group>},
    IsaInterleavedKernel{TensorType::Q8_0, interleaved_tile<Q8_0Group>},
    IsaInterleavedKernel{TensorType::Q4_K, affine_k_interleaved_tile<PackedQ4_K>},
    IsaInterleavedKernel{TensorType::Q5_K, affine_k_interleaved_tile<PackedQ5_K>},
    IsaInterleavedKernel{TensorType::Q6_K, q6_k_interleaved_tile},
};

}  // namespace

std::span<const IsaInterleavedKernel> neon_dotprod_interleaved_kernels() {
  return kInterleaved;
}

}  // namespace bottega::kernels
