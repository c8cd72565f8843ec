// AVX-512 kernels for the interleaved layouts of repack.h, built on the VNNI byte dot product.
// Compiled with the AVX-512 F/BW/VL/VNNI flags on x86-64 only (src/kernels/CMakeLists.txt) and
// called only when isa_x86.cpp finds those features.
//
// The layout is the AVX2 kernels' 8-row one. A 512-bit register holds the same 4 values of two
// neighbouring row groups (16 rows), so one broadcast activation word serves 16 rows and lane r
// ends with the exact integer dot product of row r; the 16 results are 16 consecutive outputs.
// vpdpbusd (unsigned bytes times signed bytes, 4 products summed into s32) does the work of
// AVX2's maddubs + add + madd, and its s32 sums cannot saturate, so the 5- and 6-bit types need no
// split sums. A group left without a partner (an odd count in a thread's share) goes to the AVX2
// kernel.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/cpu/interleaved_steps_inl.h"
#include "kernels/cpu/mxfp4_avx512_inl.h"
#include "kernels/cpu/repack.h"
#include "kernels/cpu/row_stream_prefetch.h"
#include "kernels/cpu/vec_dot_impl.h"
#include "tensor/blocks.h"

namespace bottega::kernels {
namespace {

using T = TensorType;

// Tokens per tile. Blocks of 32: kBlockTile s32 sums and as many float accumulators stay in the
// 32 ZMM registers beside the unpacked weights. K-quants keep two partial sums per token as well
// (a sub-block's sum is scaled before it joins the total), so they take fewer tokens.
constexpr int kBlockTile = 8;
constexpr int kSuperTile = 4;

// The same 32 bytes of two row groups: group g in the low half, g + 1 in the high half.
inline __m512i load_pair(const uint8_t* first, const uint8_t* second) {
  const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(first));
  const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(second));
  return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}
inline __m512i load_pair(const int8_t* first, const int8_t* second) {
  return load_pair(reinterpret_cast<const uint8_t*>(first),
                   reinterpret_cast<const uint8_t*>(second));
}

// 16 bytes of each group widened: 32 lanes of 16 bits.
inline __m512i widen_u8_pair(const uint8_t* first, const uint8_t* second) {
  const __m128i low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(first));
  const __m128i high = _mm_loadu_si128(reinterpret_cast<const __m128i*>(second));
  return _mm512_cvtepu8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(low), high, 1));
}
inline __m512i widen_s8_pair(const int8_t* first, const int8_t* second) {
  const __m128i low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(first));
  const __m128i high = _mm_loadu_si128(reinterpret_cast<const __m128i*>(second));
  return _mm512_cvtepi8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(low), high, 1));
}

// The 8 half scales of each group as 16 floats, row order.
inline __m512 scales_pair(const uint16_t* first, const uint16_t* second) {
  const __m128i low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(first));
  const __m128i high = _mm_loadu_si128(reinterpret_cast<const __m128i*>(second));
  return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(low), high, 1));
}

// 8 unsigned bytes of each group (one per row) as 16 s32.
inline __m512i bytes_to_i32_pair(const uint8_t* first, const uint8_t* second) {
  const __m128i both =
      _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(first)),
                         _mm_loadl_epi64(reinterpret_cast<const __m128i*>(second)));
  return _mm512_cvtepu8_epi32(both);
}

inline __m512i broadcast4(const void* p) {
  int32_t word;
  std::memcpy(&word, p, 4);
  return _mm512_set1_epi32(word);
}

inline __m512i dot4(__m512i sum, __m512i unsigned_quants, const int8_t* activation) {
  return _mm512_dpbusd_epi32(sum, unsigned_quants, broadcast4(activation));
}

// Blocks of 32 are fetched this many blocks ahead in each of the two streams (the paired groups).
constexpr int64_t kSmallBlocksAhead = 4;

// ---- Blocks of 32: Q4_0, Q5_0, Q4_1, Q5_1 (unsigned quants), Q8_0 (signed) ----

struct FourBitQuants {
  template <class Packed>
  static inline __m512i high_bits(const Packed&, const Packed&) {
    return _mm512_setzero_si512();
  }
  template <class Packed>
  static inline void unpack(const Packed& b0, const Packed& b1, __m512i, int j, __m512i& lo,
                            __m512i& hi) {
    const __m512i low_mask = _mm512_set1_epi8(0x0f);
    const __m512i q = load_pair(b0.qs + 32 * j, b1.qs + 32 * j);
    lo = _mm512_and_si512(q, low_mask);
    hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low_mask);
  }
};

// Bit `bit` of each byte of bits, moved to bit 4.
inline __m512i bit_to_4(__m512i bits, int bit) {
  const __m512i moved =
      bit < 4 ? _mm512_slli_epi16(bits, 4 - bit) : _mm512_srli_epi16(bits, bit - 4);
  return _mm512_and_si512(moved, _mm512_set1_epi8(0x10));
}

// Bit 4 of the quants from qh, placed as repack.h describes.
struct FiveBitQuants {
  template <class Packed>
  static inline __m512i high_bits(const Packed& b0, const Packed& b1) {
    return load_pair(b0.qh, b1.qh);
  }
  template <class Packed>
  static inline void unpack(const Packed& b0, const Packed& b1, __m512i high, int j, __m512i& lo,
                            __m512i& hi) {
    FourBitQuants::unpack(b0, b1, high, j, lo, hi);
    lo = _mm512_or_si512(lo, bit_to_4(high, j));
    hi = _mm512_or_si512(hi, bit_to_4(high, 4 + j));
  }
};

// Q4_0 / Q5_0: value d (q - kOffset); the offset applies once per block through the activation's
// offset8 = 8 d sum(activation quants).
template <int kOffset>
struct SymmetricOffset {
  using Activation = ActivationQ8;
  template <class Packed>
  static inline __m512 accumulate(const Packed&, const Packed&, __m512 dw, __m512 dot,
                                  const Activation& act, __m512 acc) {
    constexpr float kMultiple = kOffset / 8.0f;
    const __m512 scaled =
        _mm512_fmsub_ps(dot, _mm512_set1_ps(act.d), _mm512_set1_ps(kMultiple * act.offset8));
    return _mm512_fmadd_ps(dw, scaled, acc);
  }
};

// Q4_1 / Q5_1: value d q + m; the minimum applies once per block with the activation's s.
struct BlockMinimum {
  using Activation = ActivationQ8_1;
  template <class Packed>
  static inline __m512 accumulate(const Packed& b0, const Packed& b1, __m512 dw, __m512 dot,
                                  const Activation& act, __m512 acc) {
    acc = _mm512_fmadd_ps(dw, _mm512_mul_ps(dot, _mm512_set1_ps(act.d)), acc);
    return _mm512_fmadd_ps(scales_pair(b0.m, b1.m), _mm512_set1_ps(act.s), acc);
  }
};

// One pair of row groups (w0, w1: nb blocks each) against NC activation rows.
template <class Packed, class Quants, class Offset, int NC>
void block32_pair(int64_t nb, const Packed* w0, const Packed* w1, const uint8_t* a, size_t a_stride,
                  float* y, int64_t y_stride) {
  using Activation = typename Offset::Activation;
  __m512 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const Packed& b0 = w0[b];
    const Packed& b1 = w1[b];
    prefetch_block(w0, b + kSmallBlocksAhead);
    prefetch_block(w1, b + kSmallBlocksAhead);
    const Activation* act[NC];
    for (int c = 0; c < NC; ++c) act[c] = reinterpret_cast<const Activation*>(a + c * a_stride) + b;
    const __m512i high = Quants::high_bits(b0, b1);
    // A token's 8 vpdpbusd of a block form one dependent chain. With few tokens the chains alone
    // set the pace (decode ran slower than AVX2's), so they are split in two; with 8 tokens there
    // are chains enough, and the registers for the split are not.
    constexpr bool kSplit = NC <= 4;
    __m512i lo_sum[NC], hi_sum[NC];
    for (int c = 0; c < NC; ++c) lo_sum[c] = hi_sum[c] = _mm512_setzero_si512();
    for (int j = 0; j < 4; ++j) {
      __m512i lo, hi;
      Quants::unpack(b0, b1, high, j, lo, hi);
      for (int c = 0; c < NC; ++c) {
        lo_sum[c] = dot4(lo_sum[c], lo, act[c]->qs + 4 * j);
        __m512i& hi_target = kSplit ? hi_sum[c] : lo_sum[c];
        hi_target = dot4(hi_target, hi, act[c]->qs + 16 + 4 * j);
      }
    }
    const __m512 dw = scales_pair(b0.d, b1.d);
    for (int c = 0; c < NC; ++c) {
      const __m512i sum = kSplit ? _mm512_add_epi32(lo_sum[c], hi_sum[c]) : lo_sum[c];
      acc[c] = Offset::accumulate(b0, b1, dw, _mm512_cvtepi32_ps(sum), *act[c], acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm512_storeu_ps(y + c * y_stride, acc[c]);
}

// Q8_0: both operands are signed, and vpdpbusd wants one unsigned. The activations come offset by
// 128 (paired_tile converts them once per call, ActivationQ8Unsigned), so each product needs no
// per-token work; the offset adds 128 times the sum of each row's quants, which one more vpdpbusd
// per weight register (with 128 as the unsigned operand) takes back. The sums are exact.
template <int NC>
void q8_0_pair(int64_t nb, const PackedQ8_0* w0, const PackedQ8_0* w1, const uint8_t* a,
               size_t a_stride, float* y, int64_t y_stride) {
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedQ8_0& b0 = w0[b];
    const PackedQ8_0& b1 = w1[b];
    prefetch_block(w0, b + kSmallBlocksAhead);
    prefetch_block(w1, b + kSmallBlocksAhead);
    const ActivationQ8Unsigned* act[NC];
    for (int c = 0; c < NC; ++c) {
      act[c] = reinterpret_cast<const ActivationQ8Unsigned*>(a + c * a_stride) + b;
    }
    __m512i sum[NC];
    for (int c = 0; c < NC; ++c) sum[c] = _mm512_setzero_si512();
    __m512i offset_sum = _mm512_setzero_si512();
    for (int g = 0; g < 8; ++g) {
      const __m512i q = load_pair(b0.qs + 32 * g, b1.qs + 32 * g);
      offset_sum = _mm512_dpbusd_epi32(offset_sum, offset, q);
      for (int c = 0; c < NC; ++c) {
        sum[c] = _mm512_dpbusd_epi32(sum[c], broadcast4(act[c]->qs + 4 * g), q);
      }
    }
    const __m512 dw = scales_pair(b0.d, b1.d);
    for (int c = 0; c < NC; ++c) {
      acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(act[c]->d)),
                               _mm512_cvtepi32_ps(_mm512_sub_epi32(sum[c], offset_sum)), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm512_storeu_ps(y + c * y_stride, acc[c]);
}

// ---- K-quants: Q4_K, Q5_K (6-bit scales and mins), Q6_K (signed 8-bit scales) ----

// Per chunk p of 64 values the low nibbles belong to sub-block 2p and the high ones to 2p + 1.
// Each sub-block's s32 sums are multiplied by the rows' scales; the mins apply once per
// super-block through the activation's per-16 sums.
struct Q4KQuants {
  using Packed = PackedQ4_K;
  static inline void unpack(const Packed& b0, const Packed& b1, int p, int k, __m512i& lo,
                            __m512i& hi) {
    const __m512i low_mask = _mm512_set1_epi8(0x0f);
    const __m512i q = load_pair(b0.qs[p][k], b1.qs[p][k]);
    lo = _mm512_and_si512(q, low_mask);
    hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low_mask);
  }
};

struct Q5KQuants {
  using Packed = PackedQ5_K;
  static inline void unpack(const Packed& b0, const Packed& b1, int p, int k, __m512i& lo,
                            __m512i& hi) {
    const __m512i low_mask = _mm512_set1_epi8(0x0f);
    const __m512i q = load_pair(b0.qs[p][k], b1.qs[p][k]);
    const __m512i high = load_pair(b0.qh[k], b1.qh[k]);
    lo = _mm512_or_si512(_mm512_and_si512(q, low_mask), bit_to_4(high, 2 * p));
    hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(q, 4), low_mask),
                         bit_to_4(high, 2 * p + 1));
  }
};

template <class Quants, int NC>
void affine_k_pair(int64_t nb, const typename Quants::Packed* w0, const typename Quants::Packed* w1,
                   const uint8_t* a, size_t a_stride, float* y, int64_t y_stride) {
  __m512 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const auto& b0 = w0[b];
    const auto& b1 = w1[b];
    prefetch_block(w0, b + 1);
    prefetch_block(w1, b + 1);
    const BlockQ8_K* act[NC];
    for (int c = 0; c < NC; ++c) act[c] = reinterpret_cast<const BlockQ8_K*>(a + c * a_stride) + b;
    const __m512 d = scales_pair(b0.d, b1.d);
    const __m512 dmin = scales_pair(b0.dmin, b1.dmin);
    // The mins' term first, so their integer sums are not live beside the quants' sums; it is
    // applied after them, in the order of the AVX2 kernel, which decode uses: a token's result
    // must not depend on how many tokens it is batched with (batch_invariance_test).
    __m512 min_term[NC];
    {
      __m512i mins[NC];
      for (int c = 0; c < NC; ++c) mins[c] = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) {
        // Row r's mins of sub-blocks 2p and 2p + 1 as the two s16 lanes of its s32 lane.
        const __m512i min_pair = widen_u8_pair(b0.mins[p][0], b1.mins[p][0]);
        for (int c = 0; c < NC; ++c) {
          const int16_t* bsums = act[c]->bsums + 4 * p;
          const auto lo_total = static_cast<uint16_t>(bsums[0] + bsums[1]);
          const auto hi_total = static_cast<uint16_t>(bsums[2] + bsums[3]);
          const __m512i totals =
              _mm512_set1_epi32(static_cast<int32_t>(lo_total | (hi_total << 16)));
          mins[c] = _mm512_add_epi32(mins[c], _mm512_madd_epi16(min_pair, totals));
        }
      }
      for (int c = 0; c < NC; ++c) min_term[c] = _mm512_cvtepi32_ps(mins[c]);
    }
    __m512i sum[NC];
    for (int c = 0; c < NC; ++c) sum[c] = _mm512_setzero_si512();
    for (int p = 0; p < 4; ++p) {
      __m512i lo_sum[NC], hi_sum[NC];
      for (int c = 0; c < NC; ++c) lo_sum[c] = hi_sum[c] = _mm512_setzero_si512();
      for (int k = 0; k < 8; ++k) {
        __m512i lo, hi;
        Quants::unpack(b0, b1, p, k, lo, hi);
        for (int c = 0; c < NC; ++c) {
          const int8_t* yq = act[c]->qs + 64 * p + 4 * k;
          lo_sum[c] = dot4(lo_sum[c], lo, yq);
          hi_sum[c] = dot4(hi_sum[c], hi, yq + 32);
        }
      }
      const __m512i lo_scale = bytes_to_i32_pair(b0.scales[2 * p], b1.scales[2 * p]);
      const __m512i hi_scale = bytes_to_i32_pair(b0.scales[2 * p + 1], b1.scales[2 * p + 1]);
      for (int c = 0; c < NC; ++c) {
        sum[c] = _mm512_add_epi32(sum[c], _mm512_mullo_epi32(lo_sum[c], lo_scale));
        sum[c] = _mm512_add_epi32(sum[c], _mm512_mullo_epi32(hi_sum[c], hi_scale));
      }
    }
    for (int c = 0; c < NC; ++c) {
      const __m512 dy = _mm512_set1_ps(act[c]->d);
      acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(d, dy), _mm512_cvtepi32_ps(sum[c]), acc[c]);
      acc[c] = _mm512_fnmadd_ps(_mm512_mul_ps(dmin, dy), min_term[c], acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm512_storeu_ps(y + c * y_stride, acc[c]);
}

// Row r's scale of the even (first) or odd (second) sub-block of a pair, from the pair as two s16
// lanes of its s32 lane.
inline __m512i even_scale(__m512i pairs) {
  return _mm512_srai_epi32(_mm512_slli_epi32(pairs, 16), 16);
}
inline __m512i odd_scale(__m512i pairs) {
  return _mm512_srai_epi32(pairs, 16);
}

// Q6_K: quants q in 0..63 with value d * scale * (q - 32). The offset applies once per
// super-block: 32 * sum_j scale_j * bsum_j, by madd of the rows' scale pairs with the activation's
// per-16 sums. Chunk p's low nibbles are sub-blocks 4p (groups 0..3) and 4p + 1 (4..7), its high
// nibbles 4p + 2 and 4p + 3.
template <int NC>
void q6_k_pair(int64_t nb, const PackedQ6_K* w0, const PackedQ6_K* w1, const uint8_t* a,
               size_t a_stride, float* y, int64_t y_stride) {
  const __m512i low_mask = _mm512_set1_epi8(0x0f);
  const __m512i two_bits = _mm512_set1_epi8(3);
  __m512 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedQ6_K& b0 = w0[b];
    const PackedQ6_K& b1 = w1[b];
    prefetch_block(w0, b + 1);
    prefetch_block(w1, b + 1);
    const BlockQ8_K* act[NC];
    for (int c = 0; c < NC; ++c) act[c] = reinterpret_cast<const BlockQ8_K*>(a + c * a_stride) + b;
    __m512i pairs[8];
    __m512i sum[NC];
    for (int c = 0; c < NC; ++c) sum[c] = _mm512_setzero_si512();
    for (int m = 0; m < 8; ++m) {
      pairs[m] = widen_s8_pair(b0.scales[m][0], b1.scales[m][0]);
      for (int c = 0; c < NC; ++c) {
        const auto lo = static_cast<uint16_t>(act[c]->bsums[2 * m]);
        const auto hi = static_cast<uint16_t>(act[c]->bsums[2 * m + 1]);
        // The offset's contribution, subtracted: -32 * (scale pair . bsum pair).
        const __m512i offset = _mm512_madd_epi16(pairs[m], _mm512_set1_epi32(lo | (hi << 16)));
        sum[c] = _mm512_sub_epi32(sum[c], _mm512_slli_epi32(offset, 5));
      }
    }
    for (int p = 0; p < 4; ++p) {
      for (int h = 0; h < 2; ++h) {
        const __m512i lo_scale = h == 0 ? even_scale(pairs[2 * p]) : odd_scale(pairs[2 * p]);
        const __m512i hi_scale =
            h == 0 ? even_scale(pairs[2 * p + 1]) : odd_scale(pairs[2 * p + 1]);
        __m512i lo_sum[NC], hi_sum[NC];
        for (int c = 0; c < NC; ++c) lo_sum[c] = hi_sum[c] = _mm512_setzero_si512();
        for (int k = 4 * h; k < 4 * h + 4; ++k) {
          const __m512i ql = load_pair(b0.ql[p][k], b1.ql[p][k]);
          const __m512i qh =
              _mm512_srli_epi16(load_pair(b0.qh[p / 2][k], b1.qh[p / 2][k]), 4 * (p % 2));
          const __m512i lo = _mm512_or_si512(_mm512_and_si512(ql, low_mask),
                                             _mm512_slli_epi16(_mm512_and_si512(qh, two_bits), 4));
          const __m512i hi = _mm512_or_si512(
              _mm512_and_si512(_mm512_srli_epi16(ql, 4), low_mask),
              _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh, 2), two_bits), 4));
          for (int c = 0; c < NC; ++c) {
            const int8_t* yq = act[c]->qs + 64 * p + 4 * k;
            lo_sum[c] = dot4(lo_sum[c], lo, yq);
            hi_sum[c] = dot4(hi_sum[c], hi, yq + 32);
          }
        }
        for (int c = 0; c < NC; ++c) {
          sum[c] = _mm512_add_epi32(sum[c], _mm512_mullo_epi32(lo_sum[c], lo_scale));
          sum[c] = _mm512_add_epi32(sum[c], _mm512_mullo_epi32(hi_sum[c], hi_scale));
        }
      }
    }
    const __m512 d = scales_pair(b0.d, b1.d);
    for (int c = 0; c < NC; ++c) {
      acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(act[c]->d)),
                               _mm512_cvtepi32_ps(sum[c]), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm512_storeu_ps(y + c * y_stride, acc[c]);
}

// ---- The tile: pairs of row groups against tiles of tokens ----

template <class Packed>
using PairFn = void (*)(int64_t nb, const Packed* w0, const Packed* w1, const uint8_t* a,
                        size_t a_stride, float* y, int64_t y_stride);

// Kernel<NC>::run for NC = 1..kMaxCols, indexed by NC - 1.
template <class Packed, int kMaxCols, template <int> class Kernel>
constexpr std::array<PairFn<Packed>, kMaxCols> pair_kernels() {
  return []<size_t... I>(std::index_sequence<I...>) {
    return std::array<PairFn<Packed>, kMaxCols>{&Kernel<static_cast<int>(I) + 1>::run...};
  }
  (std::make_index_sequence<kMaxCols>{});
}

InterleavedTileFn avx2_tile(TensorType type) {
  for (const IsaInterleavedKernel& k : avx2_interleaved_kernels()) {
    if (k.weight == type) return k.tile;
  }
  return nullptr;
}

// One token: gemv_avx512.cpp's one-group kernel where it has one, else AVX2's.
InterleavedTileFn decode_tile(TensorType type) {
  for (const IsaInterleavedKernel& k : avx512_decode_kernels()) {
    if (k.weight == type) return k.tile;
  }
  return avx2_tile(type);
}

// n_cols rows of nb ActivationQ8 blocks (a_stride bytes apart) with their quants offset by 128.
std::vector<ActivationQ8Unsigned> offset_activations(const uint8_t* a, size_t a_stride, int64_t nb,
                                                     int64_t n_cols) {
  std::vector<ActivationQ8Unsigned> out(static_cast<size_t>(nb * n_cols));
  const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t c = 0; c < n_cols; ++c) {
    const auto* row = reinterpret_cast<const ActivationQ8*>(a + static_cast<size_t>(c) * a_stride);
    for (int64_t b = 0; b < nb; ++b) {
      ActivationQ8Unsigned& o = out[static_cast<size_t>(c * nb + b)];
      o.d = row[b].d;
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row[b].qs));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs), _mm256_xor_si256(q, offset));
    }
  }
  return out;
}

// Every pair of groups against every activation row, kMaxCols rows at a time; a pair's weights
// (a few KB to a few tens of KB) stay in L1 while the token tiles pass over them.
template <TensorType kType, class Packed, int kValues, int kMaxCols, template <int> class Kernel>
void paired_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                 size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  static constexpr std::array<PairFn<Packed>, kMaxCols> kKernels =
      pair_kernels<Packed, kMaxCols, Kernel>();
  if (n_cols == 1) {
    // Decode streams each weight once for one token: one-group kernels read one stream, and
    // AVX2's streamed 20 to 40% faster than the pairs here (bench_matmul, tokens:1, on Zen 5).
    static const InterleavedTileFn kDecode = decode_tile(kType);
    kDecode(n_in, w, n_groups, a, a_stride, n_cols, y, y_stride);
    return;
  }
  const int64_t nb = n_in / kValues;
  const auto* groups = reinterpret_cast<const Packed*>(w);
  // The Q8_0 kernel takes its activations offset by 128 (q8_0_pair); the AVX2 kernel below, the
  // signed ones.
  const uint8_t* pair_act = a;
  size_t pair_stride = a_stride;
  std::vector<ActivationQ8Unsigned> offset_act;
  if constexpr (kType == T::Q8_0) {
    offset_act = offset_activations(a, a_stride, nb, n_cols);
    pair_act = reinterpret_cast<const uint8_t*>(offset_act.data());
    pair_stride = static_cast<size_t>(nb) * sizeof(ActivationQ8Unsigned);
  }
  int64_t g = 0;
  for (; g + 2 <= n_groups; g += 2) {
    const Packed* w0 = groups + g * nb;
    float* yg = y + g * kRowGroup;
    for (int64_t c = 0; c < n_cols; c += kMaxCols) {
      const auto cols = static_cast<int>(std::min<int64_t>(kMaxCols, n_cols - c));
      kKernels[cols - 1](nb, w0, w0 + nb, pair_act + c * pair_stride, pair_stride,
                         yg + c * y_stride, y_stride);
    }
  }
  if (g < n_groups) {
    avx2_tile(kType)(n_in, reinterpret_cast<const uint8_t*>(groups + g * nb), 1, a, a_stride,
                     n_cols, y + g * kRowGroup, y_stride);
  }
}

template <int NC>
struct Q4_0Pair {
  static void run(int64_t nb, const PackedQ4_0* w0, const PackedQ4_0* w1, const uint8_t* a,
                  size_t s, float* y, int64_t ys) {
    block32_pair<PackedQ4_0, FourBitQuants, SymmetricOffset<8>, NC>(nb, w0, w1, a, s, y, ys);
  }
};
template <int NC>
struct Q5_0Pair {
  static void run(int64_t nb, const PackedQ5_0* w0, const PackedQ5_0* w1, const uint8_t* a,
                  size_t s, float* y, int64_t ys) {
    block32_pair<PackedQ5_0, FiveBitQuants, SymmetricOffset<16>, NC>(nb, w0, w1, a, s, y, ys);
  }
};
template <int NC>
struct Q4_1Pair {
  static void run(int64_t nb, const PackedQ4_1* w0, const PackedQ4_1* w1, const uint8_t* a,
                  size_t s, float* y, int64_t ys) {
    block32_pair<PackedQ4_1, FourBitQuants, BlockMinimum, NC>(nb, w0, w1, a, s, y, ys);
  }
};
template <int NC>
struct Q5_1Pair {
  static void run(int64_t nb, const PackedQ5_1* w0, const PackedQ5_1* w1, const uint8_t* a,
                  size_t s, float* y, int64_t ys) {
    block32_pair<PackedQ5_1, FiveBitQuants, BlockMinimum, NC>(nb, w0, w1, a, s, y, ys);
  }
};
template <int NC>
struct Q8_0Pair {
  static void run(int64_t nb, const PackedQ8_0* w0, const PackedQ8_0* w1, const uint8_t* a,
                  size_t s, float* y, int64_t ys) {
    q8_0_pair<NC>(nb, w0, w1, a, s, y, ys);
  }
};
template <int NC>
struct Q4_KPair {
  static void run(int64_t nb, const PackedQ4_K* w0, const PackedQ4_K* w1, const uint8_t* a,
                  size_t s, float* y, int64_t ys) {
    affine_k_pair<Q4KQuants, NC>(nb, w0, w1, a, s, y, ys);
  }
};
template <int NC>
struct Q5_KPair {
  static void run(int64_t nb, const PackedQ5_K* w0, const PackedQ5_K* w1, const uint8_t* a,
                  size_t s, float* y, int64_t ys) {
    affine_k_pair<Q5KQuants, NC>(nb, w0, w1, a, s, y, ys);
  }
};
template <int NC>
struct Q6_KPair {
  static void run(int64_t nb, const PackedQ6_K* w0, const PackedQ6_K* w1, const uint8_t* a,
                  size_t s, float* y, int64_t ys) {
    q6_k_pair<NC>(nb, w0, w1, a, s, y, ys);
  }
};

// ---- MXFP4 in the stored row layout, packed on the fly ----

// One block of 16 rows as the kernel wants it, rows in the lane order of mxfp4_avx512_inl.h: the
// values (doubled E2M1 codes, -12..12), 4 consecutive ones of each row per 32-bit lane, the rows'
// scales as floats, and the term the activations' offset of 128 adds to each row's sum.
struct PackedMxfp4Block {
  float d[16];
  int32_t offset[16];  // 128 * sum of the row's 32 values
  int8_t q[8][64];     // [word j][lane]: the lane's row's values 4 j .. 4 j + 3
};

// Per 128-bit lane, a[k] holds 4 words of the row of that lane; afterwards word k of lane m of
// a[j] is word j of lane m of the input a[k] (in-lane 4 x 4 transposes).
inline void transpose_lanes4(__m512i a[4]) {
  const __m512i t0 = _mm512_unpacklo_epi32(a[0], a[1]);
  const __m512i t1 = _mm512_unpackhi_epi32(a[0], a[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(a[2], a[3]);
  const __m512i t3 = _mm512_unpackhi_epi32(a[2], a[3]);
  a[0] = _mm512_unpacklo_epi64(t0, t2);
  a[1] = _mm512_unpackhi_epi64(t0, t2);
  a[2] = _mm512_unpacklo_epi64(t1, t3);
  a[3] = _mm512_unpackhi_epi64(t1, t3);
}

void pack_mxfp4_rows16(int64_t nb, const uint8_t* w, size_t w_stride, PackedMxfp4Block* out) {
  using namespace mxfp4_avx512;  // NOLINT
  const __m512i table =
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kMXFP4Doubled)));
  const __m512i low_mask = _mm512_set1_epi8(0x0f);
  const __m512i ones = _mm512_set1_epi8(1);
  const __m512i gather_index = row_offsets_by_lane(w_stride);
  RowStreamPrefetch next_rows(w, w_stride, 16, nb);
  for (int64_t b = 0; b < nb; ++b) {
    PackedMxfp4Block& p = out[b];
    const uint8_t* block = w + static_cast<size_t>(b) * sizeof(BlockMXFP4);
    next_rows.at_block(b);
    // Register k, lane m: row 4 k + m; low nibbles are elements 0..15, high ones 16..31.
    __m512i lo[4], hi[4];
    for (int k = 0; k < 4; ++k) {
      const __m512i q = load_rows4(block + offsetof(BlockMXFP4, qs) + 4 * k * w_stride, w_stride);
      lo[k] = _mm512_shuffle_epi8(table, _mm512_and_si512(q, low_mask));
      hi[k] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q, 4), low_mask));
    }
    transpose_lanes4(lo);  // lo[j]: words j (elements 4 j ..) of every row, lane 4 m + k
    transpose_lanes4(hi);  // hi[j]: words 4 + j
    __m512i sum = _mm512_setzero_si512();
    for (int j = 0; j < 4; ++j) {
      _mm512_storeu_si512(p.q[j], lo[j]);
      _mm512_storeu_si512(p.q[4 + j], hi[j]);
      sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(sum, ones, lo[j]), ones, hi[j]);
    }
    _mm512_storeu_si512(p.offset, _mm512_slli_epi32(sum, 7));
    _mm512_storeu_ps(p.d, mxfp4_scales(_mm512_i32gather_epi32(gather_index, block, 1)));
  }
}

// 16 packed rows against NC activation rows: per block the exact integer sum, then
// acc = fma(d_w * d_y, sum, acc), the arithmetic of the AVX2 MXFP4 kernels (vec_dot_avx2.cpp).
template <int NC>
void mxfp4_packed_tokens(int64_t nb, const PackedMxfp4Block* packed, const uint8_t* a,
                         size_t a_stride, float* y, int64_t y_stride) {
  constexpr bool kSplit = NC <= 4;  // as block32_pair: two chains when few tokens
  __m512 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedMxfp4Block& p = packed[b];
    const ActivationQ8Unsigned* act[NC];
    for (int c = 0; c < NC; ++c) {
      act[c] = reinterpret_cast<const ActivationQ8Unsigned*>(a + c * a_stride) + b;
    }
    __m512i sum[NC], sum2[NC];
    for (int c = 0; c < NC; ++c) sum[c] = sum2[c] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      const __m512i values = _mm512_loadu_si512(p.q[j]);
      for (int c = 0; c < NC; ++c) {
        int32_t word;
        std::memcpy(&word, act[c]->qs + 4 * j, 4);
        __m512i& target = kSplit && (j & 1) ? sum2[c] : sum[c];
        target = _mm512_dpbusd_epi32(target, _mm512_set1_epi32(word), values);
      }
    }
    const __m512 dw = _mm512_loadu_ps(p.d);
    const __m512i offset = _mm512_loadu_si512(p.offset);
    for (int c = 0; c < NC; ++c) {
      const __m512i total = kSplit ? _mm512_add_epi32(sum[c], sum2[c]) : sum[c];
      const __m512i exact = _mm512_sub_epi32(total, offset);
      acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(act[c]->d)),
                               _mm512_cvtepi32_ps(exact), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) {
    _mm512_storeu_ps(y + c * y_stride, mxfp4_avx512::in_row_order(acc[c]));
  }
}

using Mxfp4TokensFn = void (*)(int64_t, const PackedMxfp4Block*, const uint8_t*, size_t, float*,
                               int64_t);
constexpr std::array<Mxfp4TokensFn, kBlockTile> kMxfp4Tokens =
    []<size_t... I>(std::index_sequence<I...>) {
  return std::array<Mxfp4TokensFn, kBlockTile>{&mxfp4_packed_tokens<static_cast<int>(I) + 1>...};
}
(std::make_index_sequence<kBlockTile>{});

void mxfp4_packing_tile(int64_t n_in, const uint8_t* w, size_t w_stride, int64_t n_pairs,
                        const uint8_t* a, size_t a_stride, int64_t n_cols, float* y,
                        int64_t y_stride) {
  const int64_t nb = n_in / 32;
  std::vector<PackedMxfp4Block> packed(static_cast<size_t>(nb));
  for (int64_t pair = 0; pair < n_pairs; ++pair) {
    pack_mxfp4_rows16(nb, w + static_cast<size_t>(16 * pair) * w_stride, w_stride, packed.data());
    for (int64_t c = 0; c < n_cols; c += kBlockTile) {
      const auto cols = static_cast<int>(std::min<int64_t>(kBlockTile, n_cols - c));
      kMxfp4Tokens[cols - 1](nb, packed.data(), a + c * a_stride, a_stride,
                             y + c * y_stride + 16 * pair, y_stride);
    }
  }
}

constexpr std::array kPacking = {IsaPackingKernel{T::MXFP4, mxfp4_packing_tile}};

constexpr std::array kInterleaved = {
    IsaInterleavedKernel{T::F16, avx512_f16_interleaved_tile, false, nullptr,
                         kFloat16DecodeGroupsAvx512},
    IsaInterleavedKernel{T::BF16, avx512_bf16_interleaved_tile, false, nullptr,
                         kFloat16DecodeGroupsAvx512},
    IsaInterleavedKernel{T::Q4_0, paired_tile<T::Q4_0, PackedQ4_0, 32, kBlockTile, Q4_0Pair>},
    IsaInterleavedKernel{T::Q5_0, paired_tile<T::Q5_0, PackedQ5_0, 32, kBlockTile, Q5_0Pair>},
    IsaInterleavedKernel{T::Q4_1, paired_tile<T::Q4_1, PackedQ4_1, 32, kBlockTile, Q4_1Pair>},
    IsaInterleavedKernel{T::Q5_1, paired_tile<T::Q5_1, PackedQ5_1, 32, kBlockTile, Q5_1Pair>},
    IsaInterleavedKernel{T::Q8_0, paired_tile<T::Q8_0, PackedQ8_0, 32, kBlockTile, Q8_0Pair>},
    IsaInterleavedKernel{T::Q4_K, paired_tile<T::Q4_K, PackedQ4_K, kQK_K, kSuperTile, Q4_KPair>,
                         true},
    IsaInterleavedKernel{T::Q5_K, paired_tile<T::Q5_K, PackedQ5_K, kQK_K, kSuperTile, Q5_KPair>,
                         true},
    IsaInterleavedKernel{T::Q6_K, paired_tile<T::Q6_K, PackedQ6_K, kQK_K, kSuperTile, Q6_KPair>,
                         true},
};

}  // namespace

std::span<const IsaInterleavedKernel> avx512_interleaved_kernels() {
  return kInterleaved;
}

std::span<const IsaPackingKernel> avx512_packing_kernels() {
  return kPacking;
}

}  // namespace bottega::kernels
