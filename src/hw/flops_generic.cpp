// The FLOP kernel where there is no ISA-specific one: plain floats, which the compiler vectorises
// with the target's baseline SIMD.
#include "hw/flops.h"

namespace bottega::hw {
namespace {

constexpr int kValues = 64;

float plain_chains(int64_t iterations, float seed) {
  float acc[kValues];
  for (int c = 0; c < kValues; ++c) acc[c] = seed + 0.01f * static_cast<float>(c);
  // x * 0.999999 + 1e-6 converges to 1: values stay finite however long the loop runs.
  for (int64_t i = 0; i < iterations; ++i) {
    for (float& a : acc) a = a * 0.999999f + 1e-6f;
  }
  float sum = 0.0f;
  for (float a : acc) sum += a;
  return sum;
}

}  // namespace

FlopKernel best_flop_kernel() {
  return {2.0 * kValues, plain_chains};
}

}  // namespace bottega::hw
