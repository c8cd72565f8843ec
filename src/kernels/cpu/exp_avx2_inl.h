// exp on AVX2 vectors, for the files compiled with -mavx2 -mfma that need it (attention's softmax,
// SwiGLU's sigmoid). Internal linkage on purpose: only files built with those flags include it.
#pragma once

#include <immintrin.h>

namespace bottega::kernels {
namespace {

// exp(x) for x <= 0, within 2 ulp: x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor series to
// degree 7 (truncation below 1e-8 relative), 2^n built in the exponent bits. Below -87 the true
// value is under FLT_MIN and the result is 0, as for -inf.
__m256 exp_nonpositive(__m256 x) {
  const __m256 floor = _mm256_set1_ps(-87.0f);
  const __m256 underflows = _mm256_cmp_ps(x, floor, _CMP_LT_OQ);
  x = _mm256_max_ps(x, floor);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // ln 2 split in two so that n * ln2_high is exact.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i exponent =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflows, _mm256_mul_ps(p, _mm256_castsi256_ps(exponent)));
}

}  // namespace
}  // namespace bottega::kernels
