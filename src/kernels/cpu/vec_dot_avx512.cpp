// AVX-512 tiles for the float weight types (F32, F16). Compiled with the AVX-512 flags on x86-64
// only (src/kernels/CMakeLists.txt) and called only when isa_x86.cpp finds the features. The
// integer types use the interleaved kernels of gemm_avx512.cpp; the dots and quantizers this
// file lacks are AVX2's (isa_x86.cpp merges the tables).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/mxfp4_avx512_inl.h"
#include "kernels/cpu/row_stream_prefetch.h"
#include "kernels/cpu/vec_dot_impl.h"
#include "tensor/blocks.h"

namespace bottega::kernels {
namespace {

using T = TensorType;
using namespace mxfp4_avx512;  // NOLINT: this file's MXFP4 helpers

// 16 weights from element i of a row; masked loads read only the lanes a tail has, so no tail
// loop is needed and nothing past the row is touched.
// 16-bit floats, widened exactly: F16 by the conversion instruction, BF16 (the top half of its
// float) by a shift.
struct WidenF16 {
  static __m512 widen(__m256i h) { return _mm512_cvtph_ps(h); }
};
struct WidenBF16 {
  static __m512 widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
};
template <class Widen>
struct Load16 {
  static constexpr size_t kBytes = 2;
  static __m512 full(const uint8_t* row, int64_t i) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + i;
    return Widen::widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
  }
  static __m512 masked(const uint8_t* row, int64_t i, __mmask16 mask) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + i;
    return Widen::widen(_mm256_maskz_loadu_epi16(mask, h));
  }
};
using LoadF16 = Load16<WidenF16>;
using LoadBF16 = Load16<WidenBF16>;
struct LoadF32 {
  static constexpr size_t kBytes = 4;
  static __m512 full(const uint8_t* row, int64_t i) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
  }
  static __m512 masked(const uint8_t* row, int64_t i, __mmask16 mask) {
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + i);
  }
};

// RM weight rows x RN activation rows over n values: each 16 weights are loaded and widened once
// for RN tokens. 4 x 6 keeps 24 accumulators, 4 weight registers and an activation in the 32 ZMM
// registers.
template <class Load, int RM, int RN>
void tile_float_fixed(int64_t n, const uint8_t* w, size_t w_stride, const float* a,
                      int64_t a_stride, float* y, int64_t y_stride) {
  __m512 acc[RM][RN];
  for (int r = 0; r < RM; ++r) {
    for (int c = 0; c < RN; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  // One token (decode) streams the rows once. Each row is its own memory stream, a few KB long,
  // which the hardware prefetchers barely pick up before it ends (F16 decode streamed 12.5 GB/s
  // on one Zen 5 core that reads 30): the next RM rows, one contiguous region, are fetched while
  // these are computed.
  RowStreamPrefetch next_rows(w, w_stride, RM, std::max<int64_t>(1, n / 16));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if constexpr (RN == 1) next_rows.at_block(i / 16);
    __m512 wv[RM];
    for (int r = 0; r < RM; ++r) wv[r] = Load::full(w + r * w_stride, i);
    for (int c = 0; c < RN; ++c) {
      const __m512 x = _mm512_loadu_ps(a + c * a_stride + i);
      for (int r = 0; r < RM; ++r) acc[r][c] = _mm512_fmadd_ps(wv[r], x, acc[r][c]);
    }
  }
  if (i < n) {
    const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 wv[RM];
    for (int r = 0; r < RM; ++r) wv[r] = Load::masked(w + r * w_stride, i, mask);
    for (int c = 0; c < RN; ++c) {
      const __m512 x = _mm512_maskz_loadu_ps(mask, a + c * a_stride + i);
      for (int r = 0; r < RM; ++r) acc[r][c] = _mm512_fmadd_ps(wv[r], x, acc[r][c]);
    }
  }
  for (int r = 0; r < RM; ++r) {
    for (int c = 0; c < RN; ++c) y[c * y_stride + r] = _mm512_reduce_add_ps(acc[r][c]);
  }
}

constexpr int kRows = 4;
constexpr int kCols = 6;

template <class Load, int RM>
void tile_float_rows(int64_t n, const uint8_t* w, size_t w_stride, const float* a, int64_t a_stride,
                     int64_t n_cols, float* y, int64_t y_stride) {
  int64_t c = 0;
  for (; c + kCols <= n_cols; c += kCols) {
    tile_float_fixed<Load, RM, kCols>(n, w, w_stride, a + c * a_stride, a_stride, y + c * y_stride,
                                      y_stride);
  }
  for (; c + 2 <= n_cols; c += 2) {
    tile_float_fixed<Load, RM, 2>(n, w, w_stride, a + c * a_stride, a_stride, y + c * y_stride,
                                  y_stride);
  }
  for (; c < n_cols; ++c) {
    tile_float_fixed<Load, RM, 1>(n, w, w_stride, a + c * a_stride, a_stride, y + c * y_stride,
                                  y_stride);
  }
}

template <class Load>
void tile_float(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const auto* x = reinterpret_cast<const float*>(a);
  const auto x_stride = static_cast<int64_t>(a_stride / sizeof(float));
  int64_t r = 0;
  for (; r + kRows <= n_rows; r += kRows) {
    tile_float_rows<Load, kRows>(n, w + r * w_stride, w_stride, x, x_stride, n_cols, y + r,
                                 y_stride);
  }
  for (; r < n_rows; ++r) {
    tile_float_rows<Load, 1>(n, w + r * w_stride, w_stride, x, x_stride, n_cols, y + r, y_stride);
  }
}

// ---- MXFP4 rows against a few tokens (decode) ----
//
// Four rows' blocks share a register, one 128-bit lane each: the low nibbles (elements 0..15) in
// one register, the high ones (16..31) in another, looked up as unsigned values (doubled E2M1
// codes + 12, so 0..24) for vpdpbusd with the activation's signed bytes; the 12 * sum(activation
// block) that adds is taken off once per block. Each block's sum is exact and the float steps are
// the AVX2 kernel's (vec_dot_avx2.cpp), so the bits are the same as there and as the packing
// kernel's (gemm_avx512.cpp): a token's row does not depend on how many tokens an expert ran.

constexpr std::array<int8_t, 16> kMxfp4Unsigned = [] {
  std::array<int8_t, 16> table{};
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int8_t>(kMXFP4Doubled[i] + 12);
  return table;
}();

// 16 rows (w_stride apart) against NC activation rows; offsets12[c][b] = 12 * sum of block b of
// activation row c.
template <int NC>
void mxfp4_rows16(int64_t nb, const uint8_t* w, size_t w_stride, const BlockQ8_0* const* act,
                  const int32_t* const* offsets12, float* y, int64_t y_stride) {
  const __m512i table = _mm512_broadcast_i32x4(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(kMxfp4Unsigned.data())));
  const __m512i low_mask = _mm512_set1_epi8(0x0f);
  const __m512i gather_index = row_offsets_by_lane(w_stride);
  RowStreamPrefetch next_rows(w, w_stride, 16, nb);  // 16 streams read, the next 16 rows fetched
  __m512 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* block = w + static_cast<size_t>(b) * sizeof(BlockMXFP4);
    next_rows.at_block(b);
    __m512i lo[4], hi[4];
    for (int k = 0; k < 4; ++k) {
      const __m512i q = load_rows4(block + offsetof(BlockMXFP4, qs) + 4 * k * w_stride, w_stride);
      lo[k] = _mm512_shuffle_epi8(table, _mm512_and_si512(q, low_mask));
      hi[k] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q, 4), low_mask));
    }
    // Each lane's word starts at its row's exponent byte; the 3 bytes after it are the block's.
    const __m512 dw = mxfp4_scales(_mm512_i32gather_epi32(gather_index, block, 1));
    for (int c = 0; c < NC; ++c) {
      const BlockQ8_0& x = act[c][b];
      const __m512i x_lo =
          _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.qs)));
      const __m512i x_hi =
          _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.qs + 16)));
      __m512i s[4];
      for (int k = 0; k < 4; ++k) {
        s[k] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[k], x_lo), hi[k],
                                   x_hi);
      }
      const __m512i s01 =
          _mm512_add_epi32(_mm512_unpacklo_epi32(s[0], s[1]), _mm512_unpackhi_epi32(s[0], s[1]));
      const __m512i s23 =
          _mm512_add_epi32(_mm512_unpacklo_epi32(s[2], s[3]), _mm512_unpackhi_epi32(s[2], s[3]));
      const __m512i totals =
          _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
      const __m512i exact = _mm512_sub_epi32(totals, _mm512_set1_epi32(offsets12[c][b]));
      const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(_cvtsh_ss(x.d)));
      acc[c] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(exact), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm512_storeu_ps(y + c * y_stride, in_row_order(acc[c]));
}

TileFn avx2_tile(TensorType type) {
  for (const IsaKernel& k : avx2_kernels()) {
    if (k.weight == type) return k.tile;
  }
  return nullptr;
}

void tile_mxfp4(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const int64_t nb = n / 32;
  int64_t r = 0;
  if (n_rows >= 16 && 15 * w_stride <= static_cast<size_t>(INT32_MAX)) {
    std::vector<int32_t> offsets(static_cast<size_t>(n_cols * nb));
    std::vector<const BlockQ8_0*> rows(static_cast<size_t>(n_cols));
    std::vector<const int32_t*> row_offsets(static_cast<size_t>(n_cols));
    for (int64_t c = 0; c < n_cols; ++c) {
      rows[c] = reinterpret_cast<const BlockQ8_0*>(a + c * a_stride);
      row_offsets[c] = offsets.data() + c * nb;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t sum = 0;
        for (int8_t q : rows[c][b].qs) sum += q;
        offsets[static_cast<size_t>(c * nb + b)] = 12 * sum;
      }
    }
    for (; r + 16 <= n_rows; r += 16) {
      int64_t c = 0;
      for (; c + 3 <= n_cols; c += 3) {
        mxfp4_rows16<3>(nb, w + r * w_stride, w_stride, &rows[c], &row_offsets[c],
                        y + c * y_stride + r, y_stride);
      }
      if (n_cols - c == 2) {
        mxfp4_rows16<2>(nb, w + r * w_stride, w_stride, &rows[c], &row_offsets[c],
                        y + c * y_stride + r, y_stride);
      } else if (n_cols - c == 1) {
        mxfp4_rows16<1>(nb, w + r * w_stride, w_stride, &rows[c], &row_offsets[c],
                        y + c * y_stride + r, y_stride);
      }
    }
  }
  if (r < n_rows) {
    avx2_tile(T::MXFP4)(n, w + r * w_stride, w_stride, n_rows - r, a, a_stride, n_cols, y + r,
                        y_stride);
  }
}

// ---- Q4_K in the stored row layout (experts): the products of few tokens ----

// A chunk p of 64 values: the row's 32 bytes hold sub-block 2p in the low nibbles and 2p + 1 in
// the high ones. With the low nibbles in the lower 256 bits and the high ones above, a register
// lines up with the activation's 64 values as stored, and vpdpbusd leaves lanes 0..7 with partial
// sums of sub-block 2p and lanes 8..15 with those of 2p + 1. A lane's sum (4 products of at most
// 15 x 127) fits 16 bits, so vpmaddwd against the scales (in the low half of each lane) scales it
// exactly. The integers and the float steps are the AVX2 row dot's (vec_dot_avx2.cpp,
// add_affine_k_block), so a row gets the same bits on either ISA and in the interleaved kernels.
struct AffineKSums {
  int32_t sum;
  int32_t mins;
};

inline AffineKSums q4_k_block_sums(const BlockQ4_K& x, const BlockQ8_K& y) {
  uint32_t word[3];
  std::memcpy(word, x.scales, sizeof(word));
  constexpr uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
  const __m128i bytes = _mm_set_epi32(
      static_cast<int32_t>(((word[2] >> 4) & kLow4) | (((word[1] >> 6) & kLow2) << 4)),
      static_cast<int32_t>(word[1] & kLow6),
      static_cast<int32_t>((word[2] & kLow4) | (((word[0] >> 6) & kLow2) << 4)),
      static_cast<int32_t>(word[0] & kLow6));
  const __m512i scales = _mm512_cvtepu8_epi32(bytes);  // lanes 0..7 the scales, 8..15 the mins
  const __m512i low_mask = _mm512_set1_epi8(0x0f);
  __m512i sum = _mm512_setzero_si512();
  for (int p = 0; p < 4; ++p) {
    const __m512i q =
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * p)));
    const __m512i quants =
        _mm512_and_si512(_mm512_mask_blend_epi64(0xf0, q, _mm512_srli_epi16(q, 4)), low_mask);
    const __m512i partial =
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), quants, _mm512_loadu_si512(y.qs + 64 * p));
    const __m512i scale = _mm512_permutexvar_epi32(
        _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(2 * p), _mm512_set1_epi32(2 * p + 1)),
        scales);
    sum = _mm512_add_epi32(sum, _mm512_madd_epi16(partial, scale));
  }
  // min j applies to the activation's sums of 16 numbers 2j and 2j + 1.
  const __m128i mins_twice = _mm_shuffle_epi8(
      bytes, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15));
  const __m256i mins =
      _mm256_madd_epi16(_mm256_cvtepu8_epi16(mins_twice),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)));
  __m128i mins4 = _mm_add_epi32(_mm256_castsi256_si128(mins), _mm256_extracti128_si256(mins, 1));
  mins4 = _mm_add_epi32(mins4, _mm_unpackhi_epi64(mins4, mins4));
  mins4 = _mm_add_epi32(mins4, _mm_shuffle_epi32(mins4, 1));
  return {_mm512_reduce_add_epi32(sum), _mm_cvtsi128_si32(mins4)};
}

void tile_q4_k(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
               size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const int64_t nb = n / kQK_K;
  for (int64_t c = 0; c < n_cols; ++c) {
    const auto* act = reinterpret_cast<const BlockQ8_K*>(a + static_cast<size_t>(c) * a_stride);
    for (int64_t r = 0; r < n_rows; ++r) {
      const auto* x = reinterpret_cast<const BlockQ4_K*>(w + static_cast<size_t>(r) * w_stride);
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const AffineKSums s = q4_k_block_sums(x[b], act[b]);
        acc = std::fma(act[b].d * _cvtsh_ss(x[b].d), static_cast<float>(s.sum), acc);
        acc = std::fma(-(act[b].d * _cvtsh_ss(x[b].dmin)), static_cast<float>(s.mins), acc);
      }
      y[c * y_stride + r] = acc;
    }
  }
}

// ---- Q6_K in the stored row layout: the same for its 6-bit quants ----

// Half h of a super-block (128 values) as two registers of 64: values 0..63 (groups k = 0, 1 of
// 32) and 64..127 (k = 2, 3). ql bytes 64 h .. 64 h + 63 hold k = 0 and 1 in their low nibbles and
// k = 2 and 3 in their high ones; qh byte 32 h + l holds the top two bits of value 32 k + l at
// bits 2k, 2k + 1. vpdpbusd's lane i then sums 4 values of sub-block 8h + i / 4 (first register)
// or 8h + 4 + i / 4 (second); a lane's sum (at most 4 x 63 x 127) fits 16 bits, and the signed
// scales sit in the low halves only, so vpmaddwd scales it exactly. The offset of 32 applies once
// per super-block through the activation's sums of 16. The integer and the float step are the
// AVX2 row dot's (dot_q6_k), so a row gets the same bits on either ISA and interleaved.
inline int32_t q6_k_block_sum(const BlockQ6_K& x, const BlockQ8_K& y) {
  const __m128i scale_bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
  const __m512i scales =
      _mm512_and_si512(_mm512_cvtepi8_epi32(scale_bytes), _mm512_set1_epi32(0xffff));
  const __m512i low_mask = _mm512_set1_epi8(0x0f);
  const __m512i two_bits = _mm512_set1_epi8(3);
  const __m512i quarter = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  __m512i sum = _mm512_setzero_si512();
  for (int h = 0; h < 2; ++h) {
    const __m512i ql = _mm512_loadu_si512(x.ql + 64 * h);
    const __m512i qh =
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh + 32 * h)));
    const __m512i high_first =
        _mm512_and_si512(_mm512_mask_blend_epi64(0xf0, qh, _mm512_srli_epi16(qh, 2)), two_bits);
    const __m512i high_second = _mm512_and_si512(
        _mm512_mask_blend_epi64(0xf0, _mm512_srli_epi16(qh, 4), _mm512_srli_epi16(qh, 6)),
        two_bits);
    const __m512i first =
        _mm512_or_si512(_mm512_and_si512(ql, low_mask), _mm512_slli_epi16(high_first, 4));
    const __m512i second = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low_mask),
                                           _mm512_slli_epi16(high_second, 4));
    const __m512i partial_first =
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), first, _mm512_loadu_si512(y.qs + 128 * h));
    const __m512i partial_second = _mm512_dpbusd_epi32(_mm512_setzero_si512(), second,
                                                       _mm512_loadu_si512(y.qs + 128 * h + 64));
    const __m512i scale_first =
        _mm512_permutexvar_epi32(_mm512_add_epi32(quarter, _mm512_set1_epi32(8 * h)), scales);
    const __m512i scale_second =
        _mm512_permutexvar_epi32(_mm512_add_epi32(quarter, _mm512_set1_epi32(8 * h + 4)), scales);
    sum = _mm512_add_epi32(sum, _mm512_madd_epi16(partial_first, scale_first));
    sum = _mm512_add_epi32(sum, _mm512_madd_epi16(partial_second, scale_second));
  }
  const __m256i offset =
      _mm256_madd_epi16(_mm256_cvtepi8_epi16(scale_bytes),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)));
  __m128i offset4 =
      _mm_add_epi32(_mm256_castsi256_si128(offset), _mm256_extracti128_si256(offset, 1));
  offset4 = _mm_add_epi32(offset4, _mm_unpackhi_epi64(offset4, offset4));
  offset4 = _mm_add_epi32(offset4, _mm_shuffle_epi32(offset4, 1));
  return _mm512_reduce_add_epi32(sum) - 32 * _mm_cvtsi128_si32(offset4);
}

void tile_q6_k(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
               size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const int64_t nb = n / kQK_K;
  for (int64_t c = 0; c < n_cols; ++c) {
    const auto* act = reinterpret_cast<const BlockQ8_K*>(a + static_cast<size_t>(c) * a_stride);
    for (int64_t r = 0; r < n_rows; ++r) {
      const auto* x = reinterpret_cast<const BlockQ6_K*>(w + static_cast<size_t>(r) * w_stride);
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        acc = std::fma(act[b].d * _cvtsh_ss(x[b].d),
                       static_cast<float>(q6_k_block_sum(x[b], act[b])), acc);
      }
      y[c * y_stride + r] = acc;
    }
  }
}

constexpr std::array kKernels = {
    IsaKernel{T::F32, nullptr, tile_float<LoadF32>},
    IsaKernel{T::F16, nullptr, tile_float<LoadF16>},
    IsaKernel{T::BF16, nullptr, tile_float<LoadBF16>},
    IsaKernel{T::MXFP4, nullptr, tile_mxfp4},
    IsaKernel{T::Q4_K, nullptr, tile_q4_k},
    IsaKernel{T::Q6_K, nullptr, tile_q6_k},
};

}  // namespace

std::span<const IsaKernel> avx512_kernels() {
  return kKernels;
}

}  // namespace bottega::kernels
