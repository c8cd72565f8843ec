// Attention's inner kernels on the standard model's head (64 wide), one thread: Q queries against
// N gathered key and value rows, query by query (dot_rows, softmax, accumulate_rows) and in lanes
// (dot_lanes, softmax_lanes, weighted_sum_lanes, blocks of `width` queries). Q = 128 is a prompt
// tile (16 tokens x 8 heads of a group); Q = 4 a decoding token of a model with 4 query heads per
// KV head (Llama 3 8B), which fills half a block of 8 lanes. Reports float multiply-adds per
// second (macs, the useful ones), to compare with the machine's peak (`bottega hw`).
//
//   build/release/bin/bench_attention
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/attention_rows.h"

namespace {

namespace k = bottega::kernels;

constexpr int64_t kDim = 64;

struct Operands {
  std::vector<float> queries, keys, values;
};

Operands random_operands(int64_t n_queries, int64_t n_rows) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const auto floats = [&](int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = normal(rng);
    return v;
  };
  return {floats(n_queries * kDim), floats(n_rows * kDim), floats(n_rows * kDim)};
}

void report(benchmark::State& state, int64_t n_queries, int64_t n_rows) {
  state.counters["macs"] = benchmark::Counter(2.0 * static_cast<double>(n_queries * n_rows * kDim),
                                              benchmark::Counter::kIsIterationInvariantRate);
}

// Args: rows, queries.
void BM_QueryByQuery(benchmark::State& state) {
  const int64_t n_rows = state.range(0);
  const int64_t n_queries = state.range(1);
  const Operands in = random_operands(n_queries, n_rows);
  std::vector<float> scores(static_cast<size_t>(n_rows));
  std::vector<float> out(static_cast<size_t>(n_queries * kDim));
  const k::AttentionRowKernels& kernels = k::best_attention_row_kernels();
  for (auto _ : state) {
    for (int64_t i = 0; i < n_queries; ++i) {
      kernels.dot_rows(in.queries.data() + i * kDim, in.keys.data(), n_rows, kDim, 0.125f,
                       scores.data());
      kernels.softmax(scores.data(), n_rows);
      float* o = out.data() + i * kDim;
      std::fill_n(o, kDim, 0.0f);
      kernels.accumulate_rows(scores.data(), in.values.data(), n_rows, kDim, o);
    }
    benchmark::DoNotOptimize(out.data());
  }
  report(state, n_queries, n_rows);
}

// Args: rows, queries, lanes a block (a multiple of 8, at least the queries).
void BM_Lanes(benchmark::State& state) {
  const int64_t n_rows = state.range(0);
  const int64_t n_queries = state.range(1);
  const int64_t width = state.range(2);
  const int64_t n_blocks = (n_queries + width - 1) / width;
  const Operands in = random_operands(n_blocks * width, n_rows);
  std::vector<float> scores_t(static_cast<size_t>(n_rows * width));
  std::vector<float> out_t(static_cast<size_t>(n_blocks * width * kDim));
  const k::AttentionRowKernels& kernels = k::best_attention_row_kernels();
  if (kernels.dot_lanes == nullptr) {
    state.SkipWithError("no lane kernels on this CPU");
    return;
  }
  for (auto _ : state) {
    for (int64_t b = 0; b < n_blocks; ++b) {
      const int64_t first = b * width;
      kernels.dot_lanes(in.queries.data() + first * kDim, in.keys.data(), n_rows, kDim, width,
                        scores_t.data());
      kernels.softmax_lanes(scores_t.data(), n_rows, width, nullptr, nullptr);
      std::fill_n(out_t.data() + first * kDim, width * kDim, 0.0f);
      kernels.weighted_sum_lanes(scores_t.data(), in.values.data(), n_rows, kDim, width,
                                 out_t.data() + first * kDim);
    }
    benchmark::DoNotOptimize(out_t.data());
  }
  report(state, n_queries, n_rows);
}

BENCHMARK(BM_QueryByQuery)->Args({64, 128})->Args({256, 128})->Args({1024, 128});
BENCHMARK(BM_Lanes)->Args({64, 128, 16})->Args({256, 128, 16})->Args({1024, 128, 16});
BENCHMARK(BM_Lanes)->Args({256, 128, 8});
BENCHMARK(BM_QueryByQuery)->Args({256, 4})->Args({4096, 4});
BENCHMARK(BM_Lanes)->Args({256, 4, 8})->Args({4096, 4, 8});

}  // namespace

BENCHMARK_MAIN();
