// AVX2 kernels for the interleaved layouts of repack.h. Compiled with -mavx2 -mfma -mf16c on
// x86-64 only and called only when cpu_has_avx2() says the CPU runs them.
//
// One 256-bit load of packed quants holds 4 consecutive values of each of 8 rows; the matching 4
// activation bytes, broadcast to all lanes, go through maddubs (u8 x s8 -> s16 pairs) and madd
// (-> s32), which leaves lane r with row r's exact integer dot product. The 8 rows' scales are one
// vector, so a block costs one float multiply and one FMA for 8 outputs, and each unpacked weight
// register is reused for up to kTile tokens.
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/interleaved_steps_inl.h"
#include "kernels/cpu/repack.h"
#include "kernels/cpu/vec_dot_impl.h"
#include "tensor/blocks.h"

namespace bottega::kernels {
namespace {

using T = TensorType;

// Tokens per tile: kTile accumulators and kTile partial sums stay in registers beside the two
// unpacked weight registers and the constants (16 YMM registers).
constexpr int kTile = 4;

inline __m256i broadcast4(const int8_t* p) {
  int32_t word;
  std::memcpy(&word, p, 4);
  return _mm256_set1_epi32(word);
}

// GCC rebalances a chain of integer adds into a tree to shorten its latency, which with 4 tokens
// unrolled keeps every maddubs result of a block alive at once and spills most of them to the
// stack (the 4-token Q4_0 loop ran 48 spill loads and stores per iteration). The chains are short
// next to the work between their links, so each link is kept in order instead.
inline __m256i keep_order(__m256i v) {
  __asm__("" : "+x"(v));
  return v;
}
inline __m256i add16_in_order(__m256i sum, __m256i x) {
  return keep_order(_mm256_add_epi16(sum, x));
}
inline __m256i add32_in_order(__m256i sum, __m256i x) {
  return keep_order(_mm256_add_epi32(sum, x));
}

// Packed blocks of 32 values (8 rows, 144 to 272 bytes) are fetched this many blocks ahead;
// super-blocks (over 1 KiB) one ahead.
constexpr int64_t kSmallBlocksAhead = 4;

// Blocks of 32 (Q4_0, Q5_0, Q4_1, Q5_1): unsigned quants times signed activation bytes, so
// maddubs needs no sign juggling. Packed group j holds elements 4 j + i (low nibbles) and
// 16 + 4 j + i (high nibbles) of each row. The types differ in how quants are unpacked (the
// Quants policies) and in how the offset or minimum applies once per block (the Offset policies).

// 4-bit quants: every s16 pair is at most 2 * 15 * 127 = 3810, so the 8 pairs of a block sum to
// at most 30480 in s16 without saturating.
struct FourBitQuants {
  static constexpr bool kSplitSums = false;
  template <class Packed>
  static inline __m256i high_bits(const Packed&) {
    return _mm256_setzero_si256();
  }
  template <class Packed>
  static inline void unpack(const Packed& blk, __m256i, int j, __m256i& lo, __m256i& hi) {
    rows8::unpack_nibbles(blk.qs, j, lo, hi);
  }
};

// Bit `bit` of each byte of bits, moved to bit 4.
inline __m256i bit_to_4(__m256i bits, int bit) {
  const __m256i moved =
      bit < 4 ? _mm256_slli_epi16(bits, 4 - bit) : _mm256_srli_epi16(bits, bit - 4);
  return _mm256_and_si256(moved, _mm256_set1_epi8(0x10));
}

// 5-bit quants: bit 4 comes from qh (repack.h), moved to bit 4 of each byte. maddubs pairs reach
// 2 * 31 * 127 = 7874, so at most 4 of them (31496) sum in s16: the low and the high halves of a
// block sum separately.
struct FiveBitQuants {
  static constexpr bool kSplitSums = true;
  template <class Packed>
  static inline __m256i high_bits(const Packed& blk) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh));
  }
  template <class Packed>
  static inline void unpack(const Packed& blk, __m256i high, int j, __m256i& lo, __m256i& hi) {
    FourBitQuants::unpack(blk, high, j, lo, hi);
    lo = _mm256_or_si256(lo, bit_to_4(high, j));
    hi = _mm256_or_si256(hi, bit_to_4(high, 4 + j));
  }
};

template <class Packed, class Quants, class Offset, int NC>
void block32_group(int64_t nb, const Packed* w, const uint8_t* a, size_t a_stride, float* y,
                   int64_t y_stride) {
  using Activation = typename Offset::Activation;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const Packed& blk = w[b];
    prefetch_block(w, b + kSmallBlocksAhead);
    const Activation* act[NC];
    for (int c = 0; c < NC; ++c) act[c] = reinterpret_cast<const Activation*>(a + c * a_stride) + b;
    const __m256i high = Quants::high_bits(blk);
    // Without kSplitSums the high halves' products go to lo_sum as well.
    __m256i lo_sum[NC], hi_sum[NC];
    for (int c = 0; c < NC; ++c) lo_sum[c] = hi_sum[c] = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      __m256i lo, hi;
      Quants::unpack(blk, high, j, lo, hi);
      for (int c = 0; c < NC; ++c) {
        lo_sum[c] =
            add16_in_order(lo_sum[c], _mm256_maddubs_epi16(lo, broadcast4(act[c]->qs + 4 * j)));
        __m256i& hi_target = Quants::kSplitSums ? hi_sum[c] : lo_sum[c];
        hi_target = add16_in_order(hi_target,
                                   _mm256_maddubs_epi16(hi, broadcast4(act[c]->qs + 16 + 4 * j)));
      }
    }
    const __m256 dw = row_scales(blk.d);
    for (int c = 0; c < NC; ++c) {
      __m256i dot = _mm256_madd_epi16(lo_sum[c], ones);
      if constexpr (Quants::kSplitSums) {
        dot = _mm256_add_epi32(dot, _mm256_madd_epi16(hi_sum[c], ones));
      }
      acc[c] = Offset::accumulate(blk, dw, _mm256_cvtepi32_ps(dot), *act[c], acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(y + c * y_stride, acc[c]);
}

template <int NC>
constexpr auto q4_0_group = block32_group<PackedQ4_0, FourBitQuants, rows8::SymmetricOffset<8>, NC>;
template <int NC>
constexpr auto q5_0_group =
    block32_group<PackedQ5_0, FiveBitQuants, rows8::SymmetricOffset<16>, NC>;
template <int NC>
constexpr auto q4_1_group = block32_group<PackedQ4_1, FourBitQuants, rows8::BlockMinimum, NC>;
template <int NC>
constexpr auto q5_1_group = block32_group<PackedQ5_1, FiveBitQuants, rows8::BlockMinimum, NC>;

inline const ActivationQ8* act_row(const uint8_t* a, size_t a_stride, int c) {
  return reinterpret_cast<const ActivationQ8*>(a + c * a_stride);
}

// Q8_0: both operands are signed, so maddubs gets |w| and the activation with w's sign; a pair
// can reach 2 * 128 * 127, so each is widened to s32 by madd before summing.
template <int NC>
void q8_0_group(int64_t nb, const PackedQ8_0* w, const uint8_t* a, size_t a_stride, float* y,
                int64_t y_stride) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedQ8_0& blk = w[b];
    prefetch_block(w, b + kSmallBlocksAhead);
    __m256i sum[NC];
    for (int c = 0; c < NC; ++c) sum[c] = _mm256_setzero_si256();
    for (int g = 0; g < 8; ++g) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * g));
      const __m256i magnitude = _mm256_sign_epi8(q, q);
      for (int c = 0; c < NC; ++c) {
        const __m256i act = _mm256_sign_epi8(broadcast4(act_row(a, a_stride, c)[b].qs + 4 * g), q);
        sum[c] =
            add32_in_order(sum[c], _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, act), ones));
      }
    }
    const __m256 dw = row_scales(blk.d);
    for (int c = 0; c < NC; ++c) {
      const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(act_row(a, a_stride, c)[b].d));
      acc[c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sum[c]), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(y + c * y_stride, acc[c]);
}

// Q4_K and Q5_K: per chunk p of 64 values the low nibbles belong to sub-block 2p and the high ones
// to 2p + 1. A sub-block's maddubs results sum in s16, then madd with the rows' 6-bit scales (both
// s16 lanes of row r hold scale r) gives s32 per row. The mins apply once per super-block through
// the activation's per-16 sums. The two types differ only in how a group's unsigned quants are
// unpacked and in how many maddubs results fit in s16 (the policies below).
inline __m256i scale_pairs(const uint8_t* scales) {
  const __m256i wide =
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales)));
  return _mm256_or_si256(wide, _mm256_slli_epi32(wide, 16));
}

// Q4_K: quants are nibbles in 0..15; a sub-block's 8 maddubs results sum to at most
// 8 * 2 * 15 * 127 = 30480, so they all sum in s16.
struct Q4KQuants {
  using Packed = PackedQ4_K;
  static constexpr int kGroupsPerS16Sum = 8;
  static inline void unpack(const Packed& blk, int p, int k, __m256i& lo, __m256i& hi) {
    const __m256i low_mask = _mm256_set1_epi8(0x0f);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs[p][k]));
    lo = _mm256_and_si256(q, low_mask);
    hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
  }
};

// Q5_K: Q4_K with bit 4 of each quant from qh (one load per group serves the 4 chunks: bits 2p
// and 2p + 1 of byte 4 r + i). Quants reach 31, so maddubs pairs reach 2 * 31 * 127 = 7874 and
// only 4 of them (31496) may sum in s16 before saturating: each sub-block's 8 groups go to madd
// with the scales in two halves of 4.
struct Q5KQuants {
  using Packed = PackedQ5_K;
  static constexpr int kGroupsPerS16Sum = 4;
  static inline void unpack(const Packed& blk, int p, int k, __m256i& lo, __m256i& hi) {
    const __m256i low_mask = _mm256_set1_epi8(0x0f);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs[p][k]));
    const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh[k]));
    lo = _mm256_or_si256(_mm256_and_si256(q, low_mask), bit_to_4(high, 2 * p));
    hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask),
                         bit_to_4(high, 2 * p + 1));
  }
};

template <class Quants, int NC>
void affine_k_group(int64_t nb, const typename Quants::Packed* w, const uint8_t* a, size_t a_stride,
                    float* y, int64_t y_stride) {
  constexpr int kStep = Quants::kGroupsPerS16Sum;
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const typename Quants::Packed& blk = w[b];
    prefetch_block(w, b + 1);
    const BlockQ8_K* act[NC];
    for (int c = 0; c < NC; ++c) act[c] = reinterpret_cast<const BlockQ8_K*>(a + c * a_stride) + b;
    __m256i sum[NC];
    __m256i mins[NC];
    for (int c = 0; c < NC; ++c) sum[c] = mins[c] = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      const __m256i lo_scale = scale_pairs(blk.scales[2 * p]);
      const __m256i hi_scale = scale_pairs(blk.scales[2 * p + 1]);
      for (int k0 = 0; k0 < 8; k0 += kStep) {
        __m256i lo_sum[NC], hi_sum[NC];
        for (int c = 0; c < NC; ++c) lo_sum[c] = hi_sum[c] = _mm256_setzero_si256();
        for (int k = k0; k < k0 + kStep; ++k) {
          __m256i lo, hi;
          Quants::unpack(blk, p, k, lo, hi);
          for (int c = 0; c < NC; ++c) {
            const int8_t* yq = act[c]->qs + 64 * p + 4 * k;
            lo_sum[c] = add16_in_order(lo_sum[c], _mm256_maddubs_epi16(lo, broadcast4(yq)));
            hi_sum[c] = add16_in_order(hi_sum[c], _mm256_maddubs_epi16(hi, broadcast4(yq + 32)));
          }
        }
        for (int c = 0; c < NC; ++c) {
          sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(lo_sum[c], lo_scale));
          sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(hi_sum[c], hi_scale));
        }
      }
      // Row r's mins of sub-blocks 2p and 2p + 1 as the two s16 lanes of its s32 lane.
      const __m256i min_pair =
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.mins[p])));
      for (int c = 0; c < NC; ++c) {
        const int16_t* bsums = act[c]->bsums + 4 * p;
        const auto lo_total = static_cast<uint16_t>(bsums[0] + bsums[1]);
        const auto hi_total = static_cast<uint16_t>(bsums[2] + bsums[3]);
        const __m256i totals = _mm256_set1_epi32(static_cast<int32_t>(lo_total | (hi_total << 16)));
        mins[c] = _mm256_add_epi32(mins[c], _mm256_madd_epi16(min_pair, totals));
      }
    }
    const __m256 d = row_scales(blk.d);
    const __m256 dmin = row_scales(blk.dmin);
    for (int c = 0; c < NC; ++c) {
      const __m256 dy = _mm256_set1_ps(act[c]->d);
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, dy), _mm256_cvtepi32_ps(sum[c]), acc[c]);
      acc[c] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, dy), _mm256_cvtepi32_ps(mins[c]), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(y + c * y_stride, acc[c]);
}

template <int NC>
constexpr auto q4_k_group = affine_k_group<Q4KQuants, NC>;
template <int NC>
constexpr auto q5_k_group = affine_k_group<Q5KQuants, NC>;

// Q6_K: quants q in 0..63 with value d * scale * (q - 32). maddubs pairs reach 2 * 63 * 127 =
// 16002, so two groups of 4 sum in s16 before madd applies the rows' scales (both s16 lanes of
// row r hold its scale). The offset applies once per super-block: 32 * sum_j scale_j * bsum_j,
// by madd of the rows' scale pairs with the activation's per-16 sums.
inline __m256i duplicate_even(__m256i pairs) {
  return _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(pairs, 0xa0), 0xa0);
}
inline __m256i duplicate_odd(__m256i pairs) {
  return _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(pairs, 0xf5), 0xf5);
}

template <int NC>
void q6_k_group(int64_t nb, const PackedQ6_K* w, const uint8_t* a, size_t a_stride, float* y,
                int64_t y_stride) {
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i two_bits = _mm256_set1_epi8(3);
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedQ6_K& blk = w[b];
    prefetch_block(w, b + 1);
    const BlockQ8_K* act[NC];
    for (int c = 0; c < NC; ++c) act[c] = reinterpret_cast<const BlockQ8_K*>(a + c * a_stride) + b;
    __m256i sum[NC];
    __m256i offset[NC];
    for (int c = 0; c < NC; ++c) sum[c] = offset[c] = _mm256_setzero_si256();
    __m256i pairs[8];
    for (int m = 0; m < 8; ++m) {
      pairs[m] =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales[m])));
      for (int c = 0; c < NC; ++c) {
        const auto lo = static_cast<uint16_t>(act[c]->bsums[2 * m]);
        const auto hi = static_cast<uint16_t>(act[c]->bsums[2 * m + 1]);
        offset[c] = _mm256_add_epi32(
            offset[c], _mm256_madd_epi16(pairs[m], _mm256_set1_epi32(lo | (hi << 16))));
      }
    }
    for (int p = 0; p < 4; ++p) {
      for (int k0 = 0; k0 < 8; k0 += 2) {
        // Groups k0, k0 + 1: sub-block 4p + k0 / 4 (low nibbles) and 4p + 2 + k0 / 4 (high).
        const __m256i lo_scale =
            k0 < 4 ? duplicate_even(pairs[2 * p]) : duplicate_odd(pairs[2 * p]);
        const __m256i hi_scale =
            k0 < 4 ? duplicate_even(pairs[2 * p + 1]) : duplicate_odd(pairs[2 * p + 1]);
        __m256i lo_sum[NC], hi_sum[NC];
        for (int c = 0; c < NC; ++c) lo_sum[c] = hi_sum[c] = _mm256_setzero_si256();
        for (int k = k0; k < k0 + 2; ++k) {
          const __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql[p][k]));
          const __m256i qh = _mm256_srli_epi16(
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh[p / 2][k])), 4 * (p % 2));
          const __m256i lo = _mm256_or_si256(_mm256_and_si256(ql, low_mask),
                                             _mm256_slli_epi16(_mm256_and_si256(qh, two_bits), 4));
          const __m256i hi = _mm256_or_si256(
              _mm256_and_si256(_mm256_srli_epi16(ql, 4), low_mask),
              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits), 4));
          for (int c = 0; c < NC; ++c) {
            const int8_t* yq = act[c]->qs + 64 * p + 4 * k;
            lo_sum[c] = add16_in_order(lo_sum[c], _mm256_maddubs_epi16(lo, broadcast4(yq)));
            hi_sum[c] = add16_in_order(hi_sum[c], _mm256_maddubs_epi16(hi, broadcast4(yq + 32)));
          }
        }
        for (int c = 0; c < NC; ++c) {
          sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(lo_sum[c], lo_scale));
          sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(hi_sum[c], hi_scale));
        }
      }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d)));
    for (int c = 0; c < NC; ++c) {
      const __m256i total = _mm256_sub_epi32(sum[c], _mm256_slli_epi32(offset[c], 5));
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(act[c]->d)),
                               _mm256_cvtepi32_ps(total), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(y + c * y_stride, acc[c]);
}

template <class Packed>
using GroupFn = void (*)(int64_t, const Packed*, const uint8_t*, size_t, float*, int64_t);

// Every group against every activation row, kTile rows at a time; the weights of a group (a few
// KB) stay in L1 while the tiles pass over them.
template <class Packed, int kValues, GroupFn<Packed> Group1, GroupFn<Packed> Group2,
          GroupFn<Packed> Group3, GroupFn<Packed> Group4>
void interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                      size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const int64_t nb = n_in / kValues;
  const auto* groups = reinterpret_cast<const Packed*>(w);
  for (int64_t g = 0; g < n_groups; ++g) {
    const Packed* group = groups + g * nb;
    float* yg = y + g * kRowGroup;
    int64_t c = 0;
    for (; c + kTile <= n_cols; c += kTile) {
      Group4(nb, group, a + c * a_stride, a_stride, yg + c * y_stride, y_stride);
    }
    const uint8_t* ac = a + c * a_stride;
    float* yc = yg + c * y_stride;
    switch (n_cols - c) {
      case 3:
        Group3(nb, group, ac, a_stride, yc, y_stride);
        break;
      case 2:
        Group2(nb, group, ac, a_stride, yc, y_stride);
        break;
      case 1:
        Group1(nb, group, ac, a_stride, yc, y_stride);
        break;
      default:
        break;
    }
  }
}

constexpr std::array kInterleaved = {
    IsaInterleavedKernel{T::F16, avx2_f16_interleaved_tile, false, nullptr,
                         kFloat16DecodeGroupsAvx2},
    IsaInterleavedKernel{T::BF16, avx2_bf16_interleaved_tile, false, nullptr,
                         kFloat16DecodeGroupsAvx2},
    IsaInterleavedKernel{T::Q4_0, interleaved_tile<PackedQ4_0, 32, q4_0_group<1>, q4_0_group<2>,
                                                   q4_0_group<3>, q4_0_group<4>>},
    IsaInterleavedKernel{T::Q5_0, interleaved_tile<PackedQ5_0, 32, q5_0_group<1>, q5_0_group<2>,
                                                   q5_0_group<3>, q5_0_group<4>>},
    IsaInterleavedKernel{T::Q4_1, interleaved_tile<PackedQ4_1, 32, q4_1_group<1>, q4_1_group<2>,
                                                   q4_1_group<3>, q4_1_group<4>>},
    IsaInterleavedKernel{T::Q5_1, interleaved_tile<PackedQ5_1, 32, q5_1_group<1>, q5_1_group<2>,
                                                   q5_1_group<3>, q5_1_group<4>>},
    IsaInterleavedKernel{T::Q8_0, interleaved_tile<PackedQ8_0, 32, q8_0_group<1>, q8_0_group<2>,
                                                   q8_0_group<3>, q8_0_group<4>>},
    IsaInterleavedKernel{T::Q4_K,
                         interleaved_tile<PackedQ4_K, kQK_K, q4_k_group<1>, q4_k_group<2>,
                                          q4_k_group<3>, q4_k_group<4>>,
                         true},
    IsaInterleavedKernel{T::Q5_K,
                         interleaved_tile<PackedQ5_K, kQK_K, q5_k_group<1>, q5_k_group<2>,
                                          q5_k_group<3>, q5_k_group<4>>,
                         true},
    IsaInterleavedKernel{T::Q6_K,
                         interleaved_tile<PackedQ6_K, kQK_K, q6_k_group<1>, q6_k_group<2>,
                                          q6_k_group<3>, q6_k_group<4>>,
                         true},
};

}  // namespace

std::span<const IsaInterleavedKernel> avx2_interleaved_kernels() {
  return kInterleaved;
}

}  // namespace bottega::kernels
