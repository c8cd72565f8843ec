// AVX-512 tiles for the float weight types (F32, F16). Compiled with the AVX-512 flags on x86-64
// only (src/kernels/CMakeLists.txt) and called only when isa_x86.cpp finds the features. The
// integer types use the interleaved kernels of gemm_avx512.cpp; the dots and quantizers this
// file lacks are AVX2's (isa_x86.cpp merges the tables).
#include <immintrin.h>

#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
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
struct LoadF16 {
  static constexpr size_t kBytes = 2;
  static __m512 full(const uint8_t* row, int64_t i) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + i;
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
  }
  static __m512 masked(const uint8_t* row, int64_t i, __mmask16 mask) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + i;
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, h));
  }
};
struct LoadF32 {
  static constexpr size_t kBytes = 4;
  static __m512 full(const uint8_t* row, int64_t i) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
  }
  static __m512 masked(const uint8_t* row, int64_t i, __mmask16 mask) {
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + i);
  }
};

// How far ahead of the FMAs a one-token tile fetches its rows.
constexpr int64_t kPrefetchValues = 512;

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
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if constexpr (RN == 1) {
      // One token (decode) streams the rows once; the prefetcher alone left F16 decode at 27 GB/s
      // where the machine reads 45. The address is an integer: it may lie past the row.
      for (int r = 0; r < RM; ++r) {
        const uintptr_t ahead = reinterpret_cast<uintptr_t>(w + r * w_stride) +
                                static_cast<uintptr_t>(i + kPrefetchValues) * Load::kBytes;
        _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
      }
    }
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

constexpr std::array kKernels = {
    IsaKernel{T::F32, nullptr, tile_float<LoadF32>},
    IsaKernel{T::F16, nullptr, tile_float<LoadF16>},
    IsaKernel{T::MXFP4, nullptr, tile_mxfp4},
};

}  // namespace

std::span<const IsaKernel> avx512_kernels() {
  return kKernels;
}

}  // namespace bottega::kernels
