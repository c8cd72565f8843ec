// F16C conversions for the KV cache rows; compiled with -mavx2 -mfma -mf16c (CMakeLists.txt).
#include <immintrin.h>

#include "core/half.h"
#include "kernels/cpu/kv_rows.h"

namespace bottega::kernels {
namespace {

void half_to_float_f16c(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(halves));
  }
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void float_to_half_f16c(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i halves = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), halves);
  }
  for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

}  // namespace

HalfConverters avx2_half_converters() {
  return {half_to_float_f16c, float_to_half_f16c};
}

}  // namespace bottega::kernels
