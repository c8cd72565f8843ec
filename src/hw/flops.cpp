#include "hw/flops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace bottega::hw {
namespace {

constexpr int kPlainValues = 64;

float plain_chains(int64_t iterations, float seed) {
  float acc[kPlainValues];
  for (int c = 0; c < kPlainValues; ++c) acc[c] = seed + 0.01f * static_cast<float>(c);
  // x * 0.999999 + 1e-6 converges to 1: values stay finite however long the loop runs.
  for (int64_t i = 0; i < iterations; ++i) {
    for (float& a : acc) a = a * 0.999999f + 1e-6f;
  }
  float sum = 0.0f;
  for (float a : acc) sum += a;
  return sum;
}

}  // namespace

FlopKernel plain_flop_kernel() {
  return {2.0 * kPlainValues, plain_chains};
}

double measure_f32_flops(ThreadPool& pool, int repetitions) {
  BOTTEGA_CHECK(repetitions > 0, "repetitions ", repetitions);
  const FlopKernel kernel = best_flop_kernel();
  // About 50 ms per pass on a 3 GHz core: long enough to dwarf waking the threads.
  constexpr int64_t kIterations = 4'000'000;
  std::vector<float> sinks(static_cast<size_t>(pool.size()));
  double best = 0.0;
  for (int rep = 0; rep < repetitions; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    pool.run([&](int index, int) {
      sinks[static_cast<size_t>(index)] = kernel.run(kIterations, 1.0f + 1e-3f * index);
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Checking the results makes them observable, so the compiler cannot drop the work.
    for (float s : sinks) BOTTEGA_CHECK(std::isfinite(s), "FLOP kernel produced ", s);
    const double flops = kernel.flops_per_iteration * static_cast<double>(kIterations) *
                         static_cast<double>(pool.size());
    if (seconds > 0.0) best = std::max(best, flops / seconds);
  }
  return best;
}

}  // namespace bottega::hw
