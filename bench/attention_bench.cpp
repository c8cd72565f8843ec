// Attention's inner kernels on the standard model's head (64 wide), one thread: a prompt tile's
// queries (16 tokens x 8 heads of a group) against 256 gathered key and value rows, query by
// query (dot_rows, softmax, accumulate_rows) and in lanes (dot_lanes, softmax_lanes,
// weighted_sum_lanes). Reports float multiply-adds per second (macs), to compare with the
// machine's peak (`bottega hw`).
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
constexpr int64_t kQueries = 128;
// A decoding token of a model whose KV heads serve 4 query heads each (Llama 3 8B).
constexpr int64_t kDecodeQueries = 4;

std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

void report(benchmark::State& state, int64_t n_rows) {
  const double macs = 2.0 * static_cast<double>(kQueries * n_rows * kDim);
  state.counters["macs"] = benchmark::Counter(macs, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_QueryByQuery(benchmark::State& state) {
  const int64_t n_rows = state.range(0);
  std::mt19937 rng(3);
  const auto q = random_floats(static_cast<size_t>(kQueries * kDim), rng);
  const auto keys = random_floats(static_cast<size_t>(n_rows * kDim), rng);
  const auto values = random_floats(static_cast<size_t>(n_rows * kDim), rng);
  std::vector<float> scores(static_cast<size_t>(n_rows));
  std::vector<float> out(static_cast<size_t>(kQueries * kDim));
  const k::AttentionRowKernels& kernels = k::best_attention_row_kernels();
  for (auto _ : state) {
    for (int64_t i = 0; i < kQueries; ++i) {
      kernels.dot_rows(q.data() + i * kDim, keys.data(), n_rows, kDim, 0.125f, scores.data());
      kernels.softmax(scores.data(), n_rows);
      float* o = out.data() + i * kDim;
      std::fill_n(o, kDim, 0.0f);
      kernels.accumulate_rows(scores.data(), values.data(), n_rows, kDim, o);
    }
    benchmark::DoNotOptimize(out.data());
  }
  report(state, n_rows);
}

void BM_Lanes(benchmark::State& state) {
  const int64_t n_rows = state.range(0);
  const int64_t width = state.range(1);
  std::mt19937 rng(3);
  const auto q_t = random_floats(static_cast<size_t>(kQueries * kDim), rng);
  const auto keys = random_floats(static_cast<size_t>(n_rows * kDim), rng);
  const auto values = random_floats(static_cast<size_t>(n_rows * kDim), rng);
  std::vector<float> scores_t(static_cast<size_t>(n_rows * width));
  std::vector<float> out_t(static_cast<size_t>(kQueries * kDim));
  const k::AttentionRowKernels& kernels = k::best_attention_row_kernels();
  if (kernels.dot_lanes == nullptr) {
    state.SkipWithError("no lane kernels on this CPU");
    return;
  }
  for (auto _ : state) {
    for (int64_t first = 0; first < kQueries; first += width) {
      kernels.dot_lanes(q_t.data() + first * kDim, keys.data(), n_rows, kDim, width,
                        scores_t.data());
      kernels.softmax_lanes(scores_t.data(), n_rows, width);
      kernels.weighted_sum_lanes(scores_t.data(), values.data(), n_rows, kDim, width,
                                 out_t.data() + first * kDim);
    }
    benchmark::DoNotOptimize(out_t.data());
  }
  report(state, n_rows);
}

// One token decoding: 4 queries query by query, or in 8 lanes half of which are idle.
void BM_DecodeQueryByQuery(benchmark::State& state) {
  const int64_t n_rows = state.range(0);
  std::mt19937 rng(3);
  const auto q = random_floats(static_cast<size_t>(kDecodeQueries * kDim), rng);
  const auto keys = random_floats(static_cast<size_t>(n_rows * kDim), rng);
  const auto values = random_floats(static_cast<size_t>(n_rows * kDim), rng);
  std::vector<float> scores(static_cast<size_t>(n_rows));
  std::vector<float> out(static_cast<size_t>(kDecodeQueries * kDim));
  const k::AttentionRowKernels& kernels = k::best_attention_row_kernels();
  for (auto _ : state) {
    for (int64_t i = 0; i < kDecodeQueries; ++i) {
      kernels.dot_rows(q.data() + i * kDim, keys.data(), n_rows, kDim, 0.125f, scores.data());
      kernels.softmax(scores.data(), n_rows);
      float* o = out.data() + i * kDim;
      std::fill_n(o, kDim, 0.0f);
      kernels.accumulate_rows(scores.data(), values.data(), n_rows, kDim, o);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["macs"] =
      benchmark::Counter(2.0 * static_cast<double>(kDecodeQueries * n_rows * kDim),
                         benchmark::Counter::kIsIterationInvariantRate);
}

void BM_DecodeLanes(benchmark::State& state) {
  const int64_t n_rows = state.range(0);
  const int64_t width = k::kQueryLanes;
  std::mt19937 rng(3);
  const auto q_t = random_floats(static_cast<size_t>(width * kDim), rng);
  const auto keys = random_floats(static_cast<size_t>(n_rows * kDim), rng);
  const auto values = random_floats(static_cast<size_t>(n_rows * kDim), rng);
  std::vector<float> scores_t(static_cast<size_t>(n_rows * width));
  std::vector<float> out_t(static_cast<size_t>(width * kDim));
  const k::AttentionRowKernels& kernels = k::best_attention_row_kernels();
  if (kernels.dot_lanes == nullptr) {
    state.SkipWithError("no lane kernels on this CPU");
    return;
  }
  for (auto _ : state) {
    kernels.dot_lanes(q_t.data(), keys.data(), n_rows, kDim, width, scores_t.data());
    kernels.softmax_lanes(scores_t.data(), n_rows, width);
    kernels.weighted_sum_lanes(scores_t.data(), values.data(), n_rows, kDim, width, out_t.data());
    benchmark::DoNotOptimize(out_t.data());
  }
  state.counters["macs"] =
      benchmark::Counter(2.0 * static_cast<double>(kDecodeQueries * n_rows * kDim),
                         benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_DecodeQueryByQuery)->Arg(256)->Arg(4096);
BENCHMARK(BM_DecodeLanes)->Arg(256)->Arg(4096);
BENCHMARK(BM_QueryByQuery)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_Lanes)->Args({64, 16})->Args({256, 16})->Args({1024, 16})->Args({256, 8});

}  // namespace

BENCHMARK_MAIN();
