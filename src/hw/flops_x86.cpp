// The FLOP kernel for x86-64: AVX2 FMA chains, compiled for that target function by function
// (gnu::target) and used only when the CPU supports it, else the plain kernel on the SSE2 baseline.
#include <immintrin.h>

#include "hw/flops.h"

namespace bottega::hw {
namespace {

// Ten independent accumulators cover the FMA latency (4-5 cycles) on two ports.
constexpr int kChains = 10;

[[gnu::target("avx2,fma")]] float fma_chains(int64_t iterations, float seed) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(seed + 0.01f * static_cast<float>(c));
  // x * 0.999999 + 1e-6 converges to 1: values stay finite however long the loop runs.
  const __m256 scale = _mm256_set1_ps(0.999999f);
  const __m256 shift = _mm256_set1_ps(1e-6f);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], scale, shift);
  }
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  return _mm256_cvtss_f32(sum);
}

// Six chains of maddubs -> madd -> add keep both multiply pipes busy (each step is two multiply
// instructions for 32 multiply-adds, as in the quantized kernels).
constexpr int kIntChains = 6;

[[gnu::target("avx2")]] inline __m256i int8_step(__m256i acc, __m256i& weights, __m256i activations,
                                                 __m256i ones) {
  // The empty asm makes the weights opaque before every step, so the products are neither
  // hoisted out of the loop nor shared between chains; it emits no instruction.
  __asm__("" : "+x"(weights));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(weights, activations), ones));
}

// Named variables rather than an array: GCC keeps an array that the asm touches in memory.
[[gnu::target("avx2")]] int64_t maddubs_chains(int64_t iterations, int seed) {
  __m256i weights = _mm256_set1_epi8(static_cast<char>(1 + seed % 3));
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  const __m256i activations = _mm256_set1_epi8(1);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < iterations; ++i) {
    a0 = int8_step(a0, weights, activations, ones);
    a1 = int8_step(a1, weights, activations, ones);
    a2 = int8_step(a2, weights, activations, ones);
    a3 = int8_step(a3, weights, activations, ones);
    a4 = int8_step(a4, weights, activations, ones);
    a5 = int8_step(a5, weights, activations, ones);
  }
  const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), a2),
                                       _mm256_add_epi32(_mm256_add_epi32(a3, a4), a5));
  return _mm256_extract_epi32(sum, 0);
}

}  // namespace

IntOpKernel best_int8_kernel() {
  if (__builtin_cpu_supports("avx2")) return {2.0 * 32 * kIntChains, maddubs_chains};
  return plain_int8_kernel();
}

FlopKernel best_flop_kernel() {
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return {2.0 * 8 * kChains, fma_chains};
  }
  return plain_flop_kernel();
}

}  // namespace bottega::hw
