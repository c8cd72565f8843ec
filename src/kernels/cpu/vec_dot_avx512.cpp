// AVX-512 tiles for the float weight types (F32, F16). Compiled with the AVX-512 flags on x86-64
// only (src/kernels/CMakeLists.txt) and called only when isa_x86.cpp finds the features. The
// integer types use the interleaved kernels of gemm_avx512.cpp; the dots and quantizers this
// file lacks are AVX2's (isa_x86.cpp merges the tables).
#include <immintrin.h>

#include <array>
#include <cstdint>

#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {
namespace {

using T = TensorType;

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

constexpr std::array kKernels = {
    IsaKernel{T::F32, nullptr, tile_float<LoadF32>},
    IsaKernel{T::F16, nullptr, tile_float<LoadF16>},
};

}  // namespace

std::span<const IsaKernel> avx512_kernels() {
  return kKernels;
}

}  // namespace bottega::kernels
