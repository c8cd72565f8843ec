// AVX2 SwiGLU; compiled with -mavx2 -mfma (CMakeLists.txt).
#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/exp_avx2_inl.h"
#include "kernels/cpu/glu.h"

namespace bottega::kernels {
namespace {

// sigmoid(g) from t = exp(-|g|), whose argument is never positive: 1 / (1 + t) for g >= 0 and
// t / (1 + t) below, so that no exp overflows.
__m256 silu(__m256 g) {
  const __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), g);
  const __m256 t = exp_nonpositive(_mm256_sub_ps(_mm256_setzero_ps(), magnitude));
  const __m256 numerator =
      _mm256_blendv_ps(_mm256_set1_ps(1.0f), t, _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_LT_OQ));
  return _mm256_mul_ps(g, _mm256_div_ps(numerator, _mm256_add_ps(_mm256_set1_ps(1.0f), t)));
}

void swiglu_avx2(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 s = silu(_mm256_loadu_ps(gate + i));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  if (i < n) {
    // The tail through the same vector code, so every value gets the same function.
    alignas(32) float g[8] = {}, u[8] = {};
    for (int64_t j = i; j < n; ++j) {
      g[j - i] = gate[j];
      u[j - i] = up[j];
    }
    _mm256_store_ps(g, _mm256_mul_ps(silu(_mm256_load_ps(g)), _mm256_load_ps(u)));
    for (int64_t j = i; j < n; ++j) out[j] = g[j - i];
  }
}

}  // namespace

SwigluFn avx2_swiglu() {
  return swiglu_avx2;
}

}  // namespace bottega::kernels
