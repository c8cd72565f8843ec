// MXFP4 helpers shared by the AVX-512 kernels (vec_dot_avx512.cpp: decode; gemm_avx512.cpp:
// prompts), included only by files compiled with the AVX-512 flags.
//
// Both put 16 rows of a block in one register's 32-bit lanes in the order that falls out of
// loading four rows per register (one per 128-bit lane) and reducing or transposing them with
// in-lane unpacks: lane 4 m + k holds row 4 k + m.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace bottega::kernels::mxfp4_avx512 {

// Bytes 0..15 of rows first, first + stride, ... (one 128-bit lane each).
inline __m512i load_rows4(const uint8_t* first, size_t stride) {
  __m512i q = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(first)));
  q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(first + stride)), 1);
  q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(first + 2 * stride)),
                         2);
  return _mm512_inserti32x4(
      q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(first + 3 * stride)), 3);
}

// Lane L's row times the row stride, to gather the 16 rows' exponents in lane order (the stride
// times 15 must fit an int32).
inline __m512i row_offsets_by_lane(size_t w_stride) {
  const __m512i row_of_lane =
      _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_mullo_epi32(row_of_lane, _mm512_set1_epi32(static_cast<int32_t>(w_stride)));
}

// Lane order to row order.
inline __m512 in_row_order(__m512 by_lane) {
  const __m512i lane_of_row =
      _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(lane_of_row, by_lane);
}

// 2^(e - 128) for 16 E8M0 exponents (the low byte of each lane), as blocks.h's mxfp4_half_scale.
inline __m512 mxfp4_scales(__m512i words) {
  const __m512i e = _mm512_and_si512(words, _mm512_set1_epi32(0xff));
  const __m512i normal = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), 23);
  const __m512i tiny = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), e);
  const __mmask16 is_normal = _mm512_cmpge_epu32_mask(e, _mm512_set1_epi32(2));
  return _mm512_castsi512_ps(_mm512_mask_blend_epi32(is_normal, tiny, normal));
}

}  // namespace bottega::kernels::mxfp4_avx512
