// The CPU backend's attention op over a paged F16 cache, on the standard model's shape (32 query
// heads, 4 KV heads, 64 wide) and on a multi-query one (32 heads sharing 1 KV head), with the
// pool's threads: one token decoding at a depth, and a 512-token prompt chunk after a depth.
// Reports the useful float multiply-adds per second (scores and weighted sums, the causal half
// of a prompt chunk's own positions included).
//
//   build/release/bin/bench_paged_attention [--benchmark_filter=Decode]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "backend/backend.h"

namespace {

using namespace bottega;
using namespace bottega::backend;

constexpr int64_t kHeads = 32;
constexpr int64_t kDim = 64;
constexpr int32_t kBlock = 16;

std::vector<float> normal_values(std::mt19937& rng, int64_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

// Args: KV heads, depth (cached positions before the batch), batch tokens, threads.
void BM_PagedAttention(benchmark::State& state) {
  const int64_t n_kv = state.range(0);
  const auto depth = static_cast<int32_t>(state.range(1));
  const auto n_tokens = static_cast<int32_t>(state.range(2));
  const int64_t kv_dim = n_kv * kDim;
  const int32_t n_pos = depth + n_tokens;
  const int32_t n_blocks = (n_pos + kBlock - 1) / kBlock;
  ThreadPool pool(static_cast<int>(state.range(3)));
  const std::unique_ptr<Backend> cpu = make_cpu_backend();
  KvCache cache(1, kv_dim, n_blocks, kBlock, {TensorType::F16, TensorType::F16},
                static_cast<int>(n_kv));
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  for (int32_t b = 0; b < n_blocks; ++b) table[static_cast<size_t>(b)] = b;
  const std::vector<std::span<const int32_t>> tables = {table};
  std::mt19937 rng(5);
  // Every position's keys and values, written by one pass.
  std::vector<BatchToken> all;
  for (int32_t p = 0; p < n_pos; ++p) all.push_back({0, p, 0, false});
  const auto keys = cpu->upload(normal_values(rng, n_pos * kv_dim));
  const auto values = cpu->upload(normal_values(rng, n_pos * kv_dim));
  cpu->begin(all, tables, cache, pool)
      ->store_kv(0, keys->tensor(n_pos, kv_dim), values->tensor(n_pos, kv_dim));
  std::vector<BatchToken> batch;
  for (int32_t p = depth; p < n_pos; ++p) batch.push_back({0, p, 0, false});
  const auto q = cpu->upload(normal_values(rng, n_tokens * kHeads * kDim));
  const auto out = cpu->allocate(n_tokens * kHeads * kDim);
  const AttentionParams params{kHeads, n_kv, kDim, 0.125f, 0, 0.0f, {}};
  for (auto _ : state) {
    cpu->begin(batch, tables, cache, pool)
        ->attention(0, params, q->tensor(n_tokens, kHeads * kDim),
                    out->tensor(n_tokens, kHeads * kDim));
  }
  // Token t sees depth + t + 1 positions.
  const double seen =
      static_cast<double>(n_tokens) * depth + static_cast<double>(n_tokens) * (n_tokens + 1) / 2.0;
  state.counters["macs"] =
      benchmark::Counter(2.0 * seen * kHeads * kDim, benchmark::Counter::kIsIterationInvariantRate);
}

const int kThreads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

BENCHMARK(BM_PagedAttention)
    ->Name("Decode")
    ->ArgNames({"kv_heads", "depth", "tokens", "threads"})
    ->Args({4, 4096, 1, kThreads})
    ->Args({1, 4096, 1, kThreads})
    ->Args({4, 1024, 1, kThreads})
    ->UseRealTime();
BENCHMARK(BM_PagedAttention)
    ->Name("Prompt")
    ->ArgNames({"kv_heads", "depth", "tokens", "threads"})
    ->Args({4, 2048, 512, kThreads})
    ->Args({4, 0, 512, kThreads})
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
