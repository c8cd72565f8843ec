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

}  // namespace

FlopKernel best_flop_kernel() {
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return {2.0 * 8 * kChains, fma_chains};
  }
  return plain_flop_kernel();
}

}  // namespace bottega::hw
