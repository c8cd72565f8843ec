#include "hw/flops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
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

constexpr int kPlainInts = 64;

int64_t plain_int8_chains(int64_t iterations, int seed) {
  int8_t weights[kPlainInts];
  int8_t activations[kPlainInts];
  for (int i = 0; i < kPlainInts; ++i) {
    weights[i] = static_cast<int8_t>(1 + (seed + i) % 3);
    activations[i] = static_cast<int8_t>(1 + i % 2);
  }
  int32_t acc[kPlainInts / 4] = {};
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < kPlainInts; ++i) acc[i / 4] += weights[i] * activations[i];
    // Rotating the weights each pass keeps the products inside the loop.
    weights[it % kPlainInts] = static_cast<int8_t>(1 + (weights[it % kPlainInts] + 1) % 3);
  }
  int64_t sum = 0;
  for (int32_t a : acc) sum += a;
  return sum;
}

// The rate of each of `passes` passes in which every thread of the pool runs `run(iterations,
// thread index)`, each iteration being `ops_per_iteration` operations; `check` validates the
// threads' results after each pass.
std::vector<double> pass_rates(ThreadPool& pool, int passes, double ops_per_iteration,
                               const std::function<void(int64_t, int)>& run,
                               const std::function<void()>& check) {
  BOTTEGA_CHECK(passes > 0, "passes ", passes);
  // About 50 ms per pass on a 3 GHz core: long enough to dwarf waking the threads.
  constexpr int64_t kIterations = 4'000'000;
  std::vector<double> rates;
  for (int rep = 0; rep < passes; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    pool.run([&](int index, int) { run(kIterations, index); });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    check();
    const double ops =
        ops_per_iteration * static_cast<double>(kIterations) * static_cast<double>(pool.size());
    if (seconds > 0.0) rates.push_back(ops / seconds);
  }
  return rates;
}

}  // namespace

IntOpKernel plain_int8_kernel() {
  return {2.0 * kPlainInts, plain_int8_chains};
}

FlopKernel plain_flop_kernel() {
  return {2.0 * kPlainValues, plain_chains};
}

std::vector<double> f32_flops_passes(ThreadPool& pool, int passes) {
  const FlopKernel kernel = best_flop_kernel();
  std::vector<float> sinks(static_cast<size_t>(pool.size()));
  return pass_rates(
      pool, passes, kernel.flops_per_iteration,
      [&](int64_t iterations, int index) {
        sinks[static_cast<size_t>(index)] = kernel.run(iterations, 1.0f + 1e-3f * index);
      },
      [&] {
        // Checking the results makes them observable, so the compiler cannot drop the work.
        for (float s : sinks) BOTTEGA_CHECK(std::isfinite(s), "FLOP kernel produced ", s);
      });
}

std::vector<double> int8_ops_passes(ThreadPool& pool, int passes) {
  const IntOpKernel kernel = best_int8_kernel();
  std::vector<int64_t> sinks(static_cast<size_t>(pool.size()));
  return pass_rates(
      pool, passes, kernel.ops_per_iteration,
      [&](int64_t iterations, int index) {
        sinks[static_cast<size_t>(index)] = kernel.run(iterations, index);
      },
      [&] {
        for (int64_t s : sinks) BOTTEGA_CHECK(s > 0, "integer kernel produced ", s);
      });
}

}  // namespace bottega::hw
