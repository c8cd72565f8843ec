// AVX2 + FMA + F16C dot kernels and activation quantizers. Compiled with -mavx2 -mfma -mf16c on
// x86-64 only (src/kernels/CMakeLists.txt) and called only when cpu_has_avx2() says the CPU runs
// them.
//
// Integer types: a block's quants are widened to 32 signed (or unsigned) bytes in element order,
// multiplied with the activation bytes by maddubs (u8 x s8 -> pairs summed in s16; no saturation:
// |w| <= 128 and |q8| <= 127 keep each pair below 2 * 128 * 127 = 32512) and madd (-> s32), so
// every block's integer sum is exact, as in the reference. Only the order of float additions
// differs from vec_dot_ref.cpp.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "kernels/cpu/row_stream_prefetch.h"
#include "kernels/cpu/vec_dot_impl.h"
#include "tensor/blocks.h"

namespace bottega::kernels {
namespace {

using T = TensorType;

inline float half_to_float(uint16_t h) {
  return _cvtsh_ss(h);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

inline __m256i load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// Sum of 16-bit pairs to 8 int32 lanes.
inline __m256i pairs_to_i32(__m256i v) {
  return _mm256_madd_epi16(v, _mm256_set1_epi16(1));
}

// 8 float lanes, each the exact sum of 4 products w[i] * y[i] of signed bytes (|y| <= 127).
// maddubs wants one unsigned operand: |w| times y with w's sign moved onto y.
inline __m256 dot_i8(__m256i w, __m256i y) {
  const __m256i products = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
  return _mm256_cvtepi32_ps(pairs_to_i32(products));
}

// As dot_i8 for unsigned w (0..63).
inline __m256 dot_u8(__m256i w, __m256i y) {
  return _mm256_cvtepi32_ps(pairs_to_i32(_mm256_maddubs_epi16(w, y)));
}

// 16 packed bytes of nibbles -> 32 values 0..15 in element order (low nibbles are elements
// 0..15, high nibbles 16..31, as Q4_0/Q4_1/Q5_x store them).
inline __m256i unpack_nibbles16(const uint8_t* qs) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// 32 bits (little-endian) -> 32 bytes, 0xff where the bit is set.
inline __m256i bits_to_bytes(const uint8_t* bits) {
  uint32_t word;
  std::memcpy(&word, bits, 4);
  // Byte i of the result takes byte i / 8 of the word, then tests bit i % 8 of it.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(word)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// ---- Blocks of 32 with Q8_0 / Q8_1 activations ----

// Weight quants of a block as signed bytes (the value divided by d).
inline __m256i signed_quants(const BlockQ4_0& b) {
  return _mm256_sub_epi8(unpack_nibbles16(b.qs), _mm256_set1_epi8(8));
}
inline __m256i signed_quants(const BlockQ5_0& b) {
  // q - 16 = nibble | 0xf0 (i.e. nibble - 16 as a signed byte) where bit 4 is clear.
  const __m256i high_clear = _mm256_andnot_si256(bits_to_bytes(b.qh), _mm256_set1_epi8(-16));
  return _mm256_or_si256(unpack_nibbles16(b.qs), high_clear);
}
inline __m256i signed_quants(const BlockQ8_0& b) {
  return load32(b.qs);
}
inline __m256i signed_quants(const BlockQ8_1& b) {
  return load32(b.qs);
}
// MXFP4: each nibble indexes the 16 doubled E2M1 values (-12..12) with one byte shuffle per lane.
inline __m256i signed_quants(const BlockMXFP4& b) {
  const __m256i table =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kMXFP4Doubled)));
  return _mm256_shuffle_epi8(table, unpack_nibbles16(b.qs));
}

// The float factor of a weight block's quants: its half scale d, or MXFP4's 2^(e - 128) (the
// codes are doubled), built from the bits as blocks.h's mxfp4_half_scale (a copy compiled here).
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

// Sum over blocks of d_w * d_y * sum(w * y), for weight blocks with symmetric quants (MXFP4's
// doubled codes included: |w| <= 12).
template <class Block>
float dot_symmetric(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / 32;
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  int64_t b = 0;
  // Two accumulators so consecutive blocks' FMAs do not wait on each other.
  for (; b + 2 <= nb; b += 2) {
    const __m256 d0 = _mm256_set1_ps(weight_scale(x[b]) * half_to_float(y[b].d));
    const __m256 d1 = _mm256_set1_ps(weight_scale(x[b + 1]) * half_to_float(y[b + 1].d));
    acc0 = _mm256_fmadd_ps(d0, dot_i8(signed_quants(x[b]), load32(y[b].qs)), acc0);
    acc1 = _mm256_fmadd_ps(d1, dot_i8(signed_quants(x[b + 1]), load32(y[b + 1].qs)), acc1);
  }
  for (; b < nb; ++b) {
    const __m256 d = _mm256_set1_ps(weight_scale(x[b]) * half_to_float(y[b].d));
    acc0 = _mm256_fmadd_ps(d, dot_i8(signed_quants(x[b]), load32(y[b].qs)), acc0);
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

inline __m256i unsigned_quants(const BlockQ4_1& b) {
  return unpack_nibbles16(b.qs);
}
inline __m256i unsigned_quants(const BlockQ5_1& b) {
  const __m256i high = _mm256_and_si256(bits_to_bytes(b.qh), _mm256_set1_epi8(0x10));
  return _mm256_or_si256(unpack_nibbles16(b.qs), high);
}

// (d q + m) . y summed over blocks: d d_y sum(q q8) + m s_y.
template <class Block>
float dot_affine(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    const __m256 d = _mm256_set1_ps(half_to_float(x[b].d) * half_to_float(y[b].d));
    acc = _mm256_fmadd_ps(d, dot_u8(unsigned_quants(x[b]), load32(y[b].qs)), acc);
    mins += half_to_float(x[b].m) * half_to_float(y[b].s);
  }
  return hsum(acc) + mins;
}

// A tile of RM weight rows x RN activation rows over all blocks: each weight block is widened
// once and used for RN activation rows, each activation block loaded once for RM weight rows.
// RM * RN accumulators + RM widened blocks fit the 16 YMM registers for 4 x 2.
template <class Block, int RM, int RN>
void tile_symmetric_fixed(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a,
                          size_t a_stride, float* y, int64_t y_stride) {
  __m256 acc[RM][RN];
  for (int r = 0; r < RM; ++r) {
    for (int c = 0; c < RN; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m256i wq[RM];
    float dw[RM];
    for (int r = 0; r < RM; ++r) {
      const Block& blk = reinterpret_cast<const Block*>(w + r * w_stride)[b];
      wq[r] = signed_quants(blk);
      dw[r] = weight_scale(blk);
    }
    for (int c = 0; c < RN; ++c) {
      const BlockQ8_0& yb = reinterpret_cast<const BlockQ8_0*>(a + c * a_stride)[b];
      const __m256i yq = load32(yb.qs);
      const float dy = half_to_float(yb.d);
      for (int r = 0; r < RM; ++r) {
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dy), dot_i8(wq[r], yq), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < RM; ++r) {
    for (int c = 0; c < RN; ++c) y[c * y_stride + r] = hsum(acc[r][c]);
  }
}

template <class Block, int RM>
void tile_symmetric_rows(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a,
                         size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  int64_t c = 0;
  for (; c + 2 <= n_cols; c += 2) {
    tile_symmetric_fixed<Block, RM, 2>(nb, w, w_stride, a + c * a_stride, a_stride,
                                       y + c * y_stride, y_stride);
  }
  if (c < n_cols) {
    tile_symmetric_fixed<Block, RM, 1>(nb, w, w_stride, a + c * a_stride, a_stride,
                                       y + c * y_stride, y_stride);
  }
}

template <class Block>
void tile_symmetric(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                    size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const int64_t nb = n / 32;
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) {
    tile_symmetric_rows<Block, 4>(nb, w + r * w_stride, w_stride, a, a_stride, n_cols, y + r,
                                  y_stride);
  }
  const uint8_t* wr = w + r * w_stride;
  switch (n_rows - r) {
    case 3:
      tile_symmetric_rows<Block, 3>(nb, wr, w_stride, a, a_stride, n_cols, y + r, y_stride);
      break;
    case 2:
      tile_symmetric_rows<Block, 2>(nb, wr, w_stride, a, a_stride, n_cols, y + r, y_stride);
      break;
    case 1:
      tile_symmetric_rows<Block, 1>(nb, wr, w_stride, a, a_stride, n_cols, y + r, y_stride);
      break;
    default:
      break;
  }
}

// ---- MXFP4: whole blocks in exact integers ----

// MXFP4 rows are summed block by block as acc = fma(d_w * d_y, float(dot), acc), dot being the
// block's exact integer sum (|dot| <= 32 * 12 * 127), in block order: a definition the AVX-512
// prompt kernel (gemm_avx512.cpp) reproduces bit for bit, so a token's row is the same whether
// its expert ran it alone or with the whole prompt.

// 8 s32 lanes of partial sums of a block's products.
inline __m256i block_partials(__m256i w, __m256i y) {
  return pairs_to_i32(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w)));
}

// Lane r: the sum of the 8 lanes of s[r].
inline __m256i lane_totals8(const __m256i s[8]) {
  const __m256i h01 = _mm256_hadd_epi32(s[0], s[1]);
  const __m256i h23 = _mm256_hadd_epi32(s[2], s[3]);
  const __m256i h45 = _mm256_hadd_epi32(s[4], s[5]);
  const __m256i h67 = _mm256_hadd_epi32(s[6], s[7]);
  const __m256i h0123 = _mm256_hadd_epi32(h01, h23);  // per half: rows 0..3
  const __m256i h4567 = _mm256_hadd_epi32(h45, h67);  // per half: rows 4..7
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                          _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

inline int32_t lane_total(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_hadd_epi32(s, s);
  s = _mm_hadd_epi32(s, s);
  return _mm_cvtsi128_si32(s);
}

// 8 rows (w_stride apart) against RN activation rows.
template <int RN>
void mxfp4_rows8(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride,
                 float* y, int64_t y_stride) {
  RowStreamPrefetch next_rows(w, w_stride, 8, nb);
  __m256 acc[RN];
  for (int c = 0; c < RN; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    next_rows.at_block(b);
    __m256i wq[8];
    alignas(32) float dw[8];
    for (int r = 0; r < 8; ++r) {
      const BlockMXFP4& blk = reinterpret_cast<const BlockMXFP4*>(w + r * w_stride)[b];
      wq[r] = signed_quants(blk);
      dw[r] = weight_scale(blk);
    }
    const __m256 dw8 = _mm256_load_ps(dw);
    for (int c = 0; c < RN; ++c) {
      const BlockQ8_0& yb = reinterpret_cast<const BlockQ8_0*>(a + c * a_stride)[b];
      const __m256i yq = load32(yb.qs);
      __m256i partials[8];
      for (int r = 0; r < 8; ++r) partials[r] = block_partials(wq[r], yq);
      const __m256 scale = _mm256_mul_ps(dw8, _mm256_set1_ps(half_to_float(yb.d)));
      acc[c] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(lane_totals8(partials)), acc[c]);
    }
  }
  for (int c = 0; c < RN; ++c) _mm256_storeu_ps(y + c * y_stride, acc[c]);
}

// One row against one activation row, in the same arithmetic.
float mxfp4_row(int64_t nb, const uint8_t* w, const uint8_t* a) {
  const auto* x = reinterpret_cast<const BlockMXFP4*>(w);
  const auto* yb = reinterpret_cast<const BlockQ8_0*>(a);
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const int32_t dot = lane_total(block_partials(signed_quants(x[b]), load32(yb[b].qs)));
    acc = std::fma(weight_scale(x[b]) * half_to_float(yb[b].d), static_cast<float>(dot), acc);
  }
  return acc;
}

float dot_mxfp4(int64_t n, const void* w, const void* a) {
  return mxfp4_row(n / 32, static_cast<const uint8_t*>(w), static_cast<const uint8_t*>(a));
}

void tile_mxfp4(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const int64_t nb = n / 32;
  int64_t r = 0;
  for (; r + 8 <= n_rows; r += 8) {
    const uint8_t* wr = w + r * w_stride;
    int64_t c = 0;
    for (; c + 2 <= n_cols; c += 2) {
      mxfp4_rows8<2>(nb, wr, w_stride, a + c * a_stride, a_stride, y + c * y_stride + r, y_stride);
    }
    if (c < n_cols) {
      mxfp4_rows8<1>(nb, wr, w_stride, a + c * a_stride, a_stride, y + c * y_stride + r, y_stride);
    }
  }
  for (; r < n_rows; ++r) {
    for (int64_t c = 0; c < n_cols; ++c) {
      y[c * y_stride + r] = mxfp4_row(nb, w + r * w_stride, a + c * a_stride);
    }
  }
}

// ---- K-quants with Q8_K activations ----

// The K-quant dots add each super-block's exact integer sums to one float total in the order
// and with the roundings of the interleaved kernels (gemm_avx2.cpp, gemm_avx512.cpp), so a row
// gives the same bits here as in an interleaved or packed matrix: expert matrices stay in this
// layout for decode and are packed for prompts (matmul.cpp), and a token's logits must not
// depend on how many tokens share its expert.
inline float add_affine_k_block(float acc, float d_act, uint16_t d, uint16_t dmin, int32_t sum,
                                int32_t mins) {
  acc = std::fma(d_act * half_to_float(d), static_cast<float>(sum), acc);
  return std::fma(-(d_act * half_to_float(dmin)), static_cast<float>(mins), acc);
}

// A Q4_K/Q5_K super-block's 6-bit scales and mins (layout in blocks.h) as 16 bytes, scales in
// bytes 0..7 and mins in 8..15, worked out four at a time in 32-bit words.
inline __m128i scales_mins_bytes(const uint8_t* p) {
  uint32_t word[3];
  std::memcpy(word, p, sizeof(word));
  constexpr uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
  const uint32_t scales_low = word[0] & kLow6;
  const uint32_t mins_low = word[1] & kLow6;
  const uint32_t scales_high = (word[2] & kLow4) | (((word[0] >> 6) & kLow2) << 4);
  const uint32_t mins_high = ((word[2] >> 4) & kLow4) | (((word[1] >> 6) & kLow2) << 4);
  return _mm_set_epi32(static_cast<int32_t>(mins_high), static_cast<int32_t>(mins_low),
                       static_cast<int32_t>(scales_high), static_cast<int32_t>(scales_low));
}

// The integer parts of a Q4_K/Q5_K super-block's dot product with a Q8_K block: the quants'
// products summed per sub-block times its scale (sum), and the mins times the activation's
// sub-block sums (mins). `Unpack` gives chunk p's 64 unsigned quants as two registers (low:
// sub-block 2p, high: 2p + 1).
struct AffineKSums {
  int32_t sum;
  int32_t mins;
};

template <class Unpack>
inline AffineKSums affine_k_sums(const uint8_t* scales, const BlockQ8_K& y, Unpack unpack) {
  const __m128i bytes = scales_mins_bytes(scales);
  // Each sub-block's scale in both 16-bit halves of every 32-bit lane, for madd.
  const __m256i scales16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(bytes));
  __m256i sum = _mm256_setzero_si256();
  for (int p = 0; p < 4; ++p) {
    __m256i lo, hi;
    unpack(p, lo, hi);
    const __m256i lo_scale = _mm256_shuffle_epi8(
        scales16, _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * (2 * p))));
    const __m256i hi_scale = _mm256_shuffle_epi8(
        scales16, _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * (2 * p + 1))));
    const __m256i p_lo = _mm256_maddubs_epi16(lo, load32(y.qs + 64 * p));
    const __m256i p_hi = _mm256_maddubs_epi16(hi, load32(y.qs + 64 * p + 32));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p_lo, lo_scale));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p_hi, hi_scale));
  }
  // min j applies to the activation's sums of 16 numbers 2j and 2j + 1.
  const __m128i mins_twice = _mm_shuffle_epi8(
      bytes, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15));
  const __m256i mins =
      _mm256_madd_epi16(_mm256_cvtepu8_epi16(mins_twice),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)));
  return {hsum_i32(sum), hsum_i32(mins)};
}

float dot_q4_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const AffineKSums s = affine_k_sums(x[b].scales, y[b], [&](int p, __m256i& lo, __m256i& hi) {
      const __m256i q = load32(x[b].qs + 32 * p);
      lo = _mm256_and_si256(q, low_mask);
      hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
    });
    acc = add_affine_k_block(acc, y[b].d, x[b].d, x[b].dmin, s.sum, s.mins);
  }
  return acc;
}

float dot_q5_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i one = _mm256_set1_epi8(1);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    // Bits 2p and 2p + 1 of qh[l] are bit 4 of chunk p's values l (low) and 32 + l (high). Bits
    // are masked per byte before shifting 16-bit lanes, so no bit crosses a byte.
    const __m256i high = load32(x[b].qh);
    const AffineKSums s = affine_k_sums(x[b].scales, y[b], [&](int p, __m256i& lo, __m256i& hi) {
      const __m256i q = load32(x[b].qs + 32 * p);
      const __m256i bits = _mm256_srl_epi16(high, _mm_cvtsi32_si128(2 * p));
      const __m256i h_lo = _mm256_slli_epi16(_mm256_and_si256(bits, one), 4);
      const __m256i h_hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bits, 1), one), 4);
      lo = _mm256_or_si256(_mm256_and_si256(q, low_mask), h_lo);
      hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask), h_hi);
    });
    acc = add_affine_k_block(acc, y[b].d, x[b].d, x[b].dmin, s.sum, s.mins);
  }
  return acc;
}

float dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i two_bits = _mm256_set1_epi8(3);
  const __m256i offset = _mm256_set1_epi8(32);
  float acc = 0.0f;  // in the interleaved kernels' order (add_affine_k_block)
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    __m256i sum = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i ql0 = load32(x[b].ql + 64 * half);       // k = 0 (low), 2 (high nibbles)
      const __m256i ql1 = load32(x[b].ql + 64 * half + 32);  // k = 1, 3
      const __m256i qh = load32(x[b].qh + 32 * half);
      const __m256i lows[4] = {_mm256_and_si256(ql0, low_mask), _mm256_and_si256(ql1, low_mask),
                               _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_mask),
                               _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_mask)};
      __m256i high = qh;
      for (int k = 0; k < 4; ++k) {
        const __m256i q = _mm256_or_si256(
            lows[k], _mm256_slli_epi16(_mm256_and_si256(high, two_bits), 4));  // 0..63
        high = _mm256_srli_epi16(high, 2);
        const __m256i yq = load32(y[b].qs + 128 * half + 32 * k);
        // (q - 32) * y in pairs: q * y - 32 * y, each below 2^15 in magnitude.
        const __m256i products =
            _mm256_sub_epi16(_mm256_maddubs_epi16(q, yq), _mm256_maddubs_epi16(offset, yq));
        // Elements 0..15 belong to sub-block j, 16..31 to j + 1 (one 128-bit lane each).
        const int j = 8 * half + 2 * k;
        const __m256i scales =
            _mm256_set_m128i(_mm_set1_epi16(x[b].scales[j + 1]), _mm_set1_epi16(x[b].scales[j]));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(products, scales));
      }
    }
    acc = std::fma(y[b].d * half_to_float(x[b].d), static_cast<float>(hsum_i32(sum)), acc);
  }
  return acc;
}

// ---- Float weights with float activations ----

// sum of load(i) * y[i..i+8) over n values, n a multiple of 8; the caller adds the tail.
template <class Load>
float dot_float(int64_t n, Load load, const float* y) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm256_fmadd_ps(load(i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
    }
  }
  for (; i < n; i += 8) acc[0] = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(y + i), acc[0]);
  return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

float dot_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  const int64_t body = n - n % 8;
  float sum = dot_float(
      body, [x](int64_t i) { return _mm256_loadu_ps(x + i); }, y);
  for (int64_t i = body; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

float dot_f16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  const int64_t body = n - n % 8;
  float sum = dot_float(
      body,
      [x](int64_t i) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
      },
      y);
  for (int64_t i = body; i < n; ++i) sum += half_to_float(x[i]) * y[i];
  return sum;
}

__m256 widen_bf16(const uint16_t* x) {  // a BF16 value is the top half of its float
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

float dot_bf16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  const int64_t body = n - n % 8;
  float sum = dot_float(
      body, [x](int64_t i) { return widen_bf16(x + i); }, y);
  for (int64_t i = body; i < n; ++i) sum += bf16_to_f32(x[i]) * y[i];
  return sum;
}

// A tile of float-weight rows (RM) x float activation rows (RN): each 8 weights are loaded and
// widened once for RN tokens; the activations come straight from memory into the FMAs, so the
// RM * RN accumulators and RM weight registers fit the 16 YMM registers for 3 x 4.
template <class Load, int RM, int RN>
void tile_float_fixed(int64_t n, Load load, const uint8_t* w, size_t w_stride, const float* a,
                      int64_t a_stride, float* y, int64_t y_stride) {
  const int64_t body = n - n % 8;
  __m256 acc[RM][RN];
  for (int r = 0; r < RM; ++r) {
    for (int c = 0; c < RN; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  // One token (decode) streams the rows once, each row a short stream of its own that the
  // hardware prefetchers barely pick up: the next RM rows, one contiguous region, are fetched
  // while these are computed (as in vec_dot_avx512.cpp).
  RowStreamPrefetch next_rows(w, w_stride, RM, std::max<int64_t>(1, body / 8));
  for (int64_t i = 0; i < body; i += 8) {
    if constexpr (RN == 1) next_rows.at_block(i / 8);
    __m256 wv[RM];
    for (int r = 0; r < RM; ++r) wv[r] = load(w + r * w_stride, i);
    for (int c = 0; c < RN; ++c) {
      const __m256 x = _mm256_loadu_ps(a + c * a_stride + i);
      for (int r = 0; r < RM; ++r) acc[r][c] = _mm256_fmadd_ps(wv[r], x, acc[r][c]);
    }
  }
  for (int r = 0; r < RM; ++r) {
    for (int c = 0; c < RN; ++c) {
      float sum = hsum(acc[r][c]);
      for (int64_t i = body; i < n; ++i) {
        sum += load.one(w + r * w_stride, i) * a[c * a_stride + i];
      }
      y[c * y_stride + r] = sum;
    }
  }
}

template <class Load, int RM>
void tile_float_rows(int64_t n, Load load, const uint8_t* w, size_t w_stride, const float* a,
                     int64_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  int64_t c = 0;
  for (; c + 4 <= n_cols; c += 4) {
    tile_float_fixed<Load, RM, 4>(n, load, w, w_stride, a + c * a_stride, a_stride,
                                  y + c * y_stride, y_stride);
  }
  for (; c < n_cols; ++c) {
    tile_float_fixed<Load, RM, 1>(n, load, w, w_stride, a + c * a_stride, a_stride,
                                  y + c * y_stride, y_stride);
  }
}

template <class Load>
void tile_float(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const auto* x = reinterpret_cast<const float*>(a);
  const auto x_stride = static_cast<int64_t>(a_stride / sizeof(float));
  int64_t r = 0;
  for (; r + 3 <= n_rows; r += 3) {
    tile_float_rows<Load, 3>(n, Load{}, w + r * w_stride, w_stride, x, x_stride, n_cols, y + r,
                             y_stride);
  }
  for (; r < n_rows; ++r) {
    tile_float_rows<Load, 1>(n, Load{}, w + r * w_stride, w_stride, x, x_stride, n_cols, y + r,
                             y_stride);
  }
}

// 8 weights from element i of a row, and one weight for the tails.
struct LoadF16 {
  __m256 operator()(const uint8_t* row, int64_t i) const {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + i;
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
  }
  float one(const uint8_t* row, int64_t i) const {
    return half_to_float(reinterpret_cast<const uint16_t*>(row)[i]);
  }
};
struct LoadBF16 {
  __m256 operator()(const uint8_t* row, int64_t i) const {
    return widen_bf16(reinterpret_cast<const uint16_t*>(row) + i);
  }
  float one(const uint8_t* row, int64_t i) const {
    return bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[i]);
  }
};
struct LoadF32 {
  __m256 operator()(const uint8_t* row, int64_t i) const {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  }
  float one(const uint8_t* row, int64_t i) const { return reinterpret_cast<const float*>(row)[i]; }
};

// ---- Activation quantizers, byte-identical to quant_ref's ----

inline __m256 abs_ps(__m256 v) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// 4 x 8 int32 (elements 0..31 in order) -> 32 int8 in order. packs interleaves 128-bit lanes;
// the final permutation puts the 4-byte groups back in element order.
inline __m256i pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b);
  const __m256i cd = _mm256_packs_epi32(c, d);
  return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd),
                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Round half away from zero (C's round) of v already limited to [-127, 127].
inline __m256i round_away(__m256 v) {
  const __m256 truncated = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 fraction = abs_ps(_mm256_sub_ps(v, truncated));  // exact
  const __m256 away =
      _mm256_and_ps(_mm256_cmp_ps(fraction, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                    _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f))));
  return _mm256_cvttps_epi32(_mm256_add_ps(truncated, away));
}

inline __m256 clamp127(__m256 v) {
  return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
}

// One block of 32 as the reference quantizes it: qs = round(x / d) with d = max |x| / 127. Returns
// d (unrounded) and the quants as s32 lanes, whose sum Q8_1 keeps.
inline float quantize_block32(const float* x, __m256i q[4]) {
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    amax = _mm256_max_ps(amax, abs_ps(v[k]));
  }
  const float d = hmax(amax) / 127.0f;
  const __m256 inverse = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
  for (int k = 0; k < 4; ++k) q[k] = round_away(clamp127(_mm256_mul_ps(v[k], inverse)));
  return d;
}

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    __m256i q[4];
    const float d = quantize_block32(src + b * kQK8_0, q);
    blocks[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(blocks[b].qs),
                        pack_i32_to_i8(q[0], q[1], q[2], q[3]));
  }
}

// Q4_1 and Q5_1's activations: the scalar reference took more time than the weights' dot product
// of a decoding Q4_1 matrix (bench_matmul Q4_1_cached).
void quantize_q8_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / kQK8_1; ++b) {
    __m256i q[4];
    const float d = quantize_block32(src + b * kQK8_1, q);
    const int32_t sum =
        hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    blocks[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    blocks[b].s = _cvtss_sh(static_cast<float>(sum) * d, _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(blocks[b].qs),
                        pack_i32_to_i8(q[0], q[1], q[2], q[3]));
  }
}

void quantize_q8_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    BlockQ8_K& block = blocks[b];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < kQK_K; i += 8) amax = _mm256_max_ps(amax, abs_ps(_mm256_loadu_ps(x + i)));
    const float magnitude = hmax(amax);
    if (magnitude == 0.0f) {
      std::memset(&block, 0, sizeof(block));
      continue;
    }
    // The reference keeps the sign of the first value of largest magnitude.
    float extreme = magnitude;
    for (int i = 0; i < kQK_K; ++i) {
      if (std::fabs(x[i]) == magnitude) {
        extreme = x[i];
        break;
      }
    }
    const float inverse = -127.0f / extreme;
    const __m256 scale = _mm256_set1_ps(inverse);
    for (int i = 0; i < kQK_K; i += 32) {
      __m256i q[4];
      for (int k = 0; k < 4; ++k) {
        const __m256 v = clamp127(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), scale));
        // Ties to even, as the reference's nearbyint under the default rounding mode.
        q[k] =
            _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(block.qs + i),
                          pack_i32_to_i8(q[0], q[1], q[2], q[3]));
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      // 16 quants -> 16 int16 -> summed.
      const __m256i wide = _mm256_cvtepi8_epi16(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.qs + 16 * j)));
      const __m256i s = pairs_to_i32(wide);
      __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      t = _mm_hadd_epi32(t, t);
      t = _mm_hadd_epi32(t, t);
      block.bsums[j] = static_cast<int16_t>(_mm_cvtsi128_si32(t));
    }
    block.d = 1.0f / inverse;
  }
}

constexpr std::array kKernels = {
    IsaKernel{T::Q4_0, dot_symmetric<BlockQ4_0>, tile_symmetric<BlockQ4_0>},
    IsaKernel{T::Q5_0, dot_symmetric<BlockQ5_0>, tile_symmetric<BlockQ5_0>},
    IsaKernel{T::Q8_0, dot_symmetric<BlockQ8_0>, tile_symmetric<BlockQ8_0>},
    IsaKernel{T::Q8_1, dot_symmetric<BlockQ8_1>, tile_symmetric<BlockQ8_1>},
    IsaKernel{T::MXFP4, dot_mxfp4, tile_mxfp4},
    IsaKernel{T::Q4_1, dot_affine<BlockQ4_1>, nullptr},
    IsaKernel{T::Q5_1, dot_affine<BlockQ5_1>, nullptr},
    IsaKernel{T::Q4_K, dot_q4_k, nullptr},
    IsaKernel{T::Q5_K, dot_q5_k, nullptr},
    IsaKernel{T::Q6_K, dot_q6_k, nullptr},
    IsaKernel{T::F32, dot_f32, tile_float<LoadF32>},
    IsaKernel{T::F16, dot_f16, tile_float<LoadF16>},
    IsaKernel{T::BF16, dot_bf16, tile_float<LoadBF16>},
};

constexpr std::array kQuantizers = {
    IsaQuantizer{T::Q8_0, quantize_q8_0},
    IsaQuantizer{T::Q8_1, quantize_q8_1},
    IsaQuantizer{T::Q8_K, quantize_q8_k},
};

}  // namespace

std::span<const IsaKernel> avx2_kernels() {
  return kKernels;
}
std::span<const IsaQuantizer> avx2_quantizers() {
  return kQuantizers;
}

}  // namespace bottega::kernels
