// Matrix-product kernel speed on the standard model's shapes (TinyLlama 1.1B: 2048 wide, FFN
// 5632), one thread, as the engine runs them: weights interleaved when this CPU's kernels prefer
// it, activations quantized inside matmul. Reports integer or float multiply-adds per second
// (macs) so the number compares with the machine's peak (`bottega hw`), and for decode the weight
// bytes streamed per second (bytes), to compare with its read bandwidth.
//
//   build/release/bin/bench_matmul --benchmark_filter='Q4_0'
//
// Weights of 2048 x 5632 are 6-23 MB, more than the caches, so decode streams them from memory.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "core/host_memory.h"
#include "core/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "tensor/types.h"

namespace {

using bottega::TensorType;
using bottega::kernels::WeightMatrix;

// Enough copies of one matrix to overflow the last-level cache, used in turn, so every pass
// reads its weights from memory as a model's decode does (one matrix would stay in L3).
constexpr size_t kStreamBytes = size_t{96} << 20;

struct PreparedMatrices {
  bottega::HostMemory buffer;  // on huge pages, as the CPU backend keeps a model's matrices
  std::vector<WeightMatrix> matrices;
};

// Layouts: as the loader lays out a dense matrix (interleaved where this CPU prefers it), or as
// expert matrices stay (the stored layout, read from the file mapping).
enum class Layout { kDense, kExpert };
// Where the weights come from: memory (copies beyond the last-level cache, used in turn) or the
// cache (one copy, small enough for L2): the kernel's own speed, without waiting on memory.
enum class Source { kMemory, kCache };

PreparedMatrices prepare(TensorType type, int64_t n_in, int64_t n_out, Layout kind, Source source) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(n_in * n_out));
  for (float& v : values) v = normal(rng);
  std::vector<uint8_t> stored(bottega::row_bytes(type, n_in) * static_cast<size_t>(n_out));
  bottega::type_traits(type).quantize(values.data(), stored.data(), n_in * n_out);
  WeightMatrix matrix{type, n_in, n_out, stored.data(), false};
  const bool interleave = kind == Layout::kDense && bottega::kernels::prefers_interleaved(matrix);
  std::vector<uint8_t> layout = stored;
  if (interleave) {
    layout.resize(bottega::kernels::interleaved_bytes(matrix));
    bottega::kernels::interleave(matrix, layout.data());
  }
  PreparedMatrices p;
  const size_t copies =
      source == Source::kCache ? 1 : std::max<size_t>(1, kStreamBytes / layout.size());
  p.buffer = bottega::HostMemory(copies * layout.size());
  for (size_t i = 0; i < copies; ++i) {
    uint8_t* at = p.buffer.data() + i * layout.size();
    std::copy(layout.begin(), layout.end(), at);
    WeightMatrix copy = matrix;
    copy.data = at;
    copy.interleaved = interleave;
    p.matrices.push_back(copy);
  }
  return p;
}

// Arguments: n_in, n_out, tokens, threads.
void run_layout(benchmark::State& state, TensorType type, Layout kind,
                Source source = Source::kMemory) {
  const int64_t n_in = state.range(0);
  const int64_t n_out = state.range(1);
  const int64_t n_tokens = state.range(2);
  const auto n_threads = static_cast<int>(state.range(3));
  const PreparedMatrices p = prepare(type, n_in, n_out, kind, source);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
  for (float& v : x) v = uniform(rng);
  std::vector<float> y(static_cast<size_t>(n_out * n_tokens));
  bottega::ThreadPool pool(n_threads);
  size_t next = 0;
  for (auto _ : state) {
    bottega::kernels::matmul(p.matrices[next], x.data(), n_tokens, y.data(), pool);
    next = (next + 1) % p.matrices.size();
    benchmark::DoNotOptimize(y.data());
  }
  const double macs =
      static_cast<double>(n_in) * static_cast<double>(n_out) * static_cast<double>(n_tokens);
  state.counters["macs"] = benchmark::Counter(macs, benchmark::Counter::kIsIterationInvariantRate);
  const auto weight_bytes = static_cast<double>(bottega::row_bytes(type, n_in) * n_out);
  state.counters["bytes"] =
      benchmark::Counter(weight_bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void run(benchmark::State& state, TensorType type) {
  run_layout(state, type, Layout::kDense);
}

void run_expert(benchmark::State& state, TensorType type) {
  run_layout(state, type, Layout::kExpert);
}

void run_cached(benchmark::State& state, TensorType type) {
  run_layout(state, type, Layout::kDense, Source::kCache);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"in", "out", "tokens", "threads"});
  b->Args({2048, 5632, 64, 1});  // ffn_gate/ffn_up, a prompt chunk
  b->Args({5632, 2048, 64, 1});  // ffn_down
  b->Args({2048, 5632, 16, 1});  // 16 sequences decoding together (serve)
  b->Args({2048, 5632, 1, 1});   // decode
  b->Args({2048, 5632, 1, 2});   // decode on two threads: bound by memory bandwidth
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// One expert's matrix of gpt-oss-20b (2880 x 2880), with the token counts an expert sees: a
// prompt's share (512 tokens x 4 of 32 experts = 64), a few, one.
void expert_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"in", "out", "tokens", "threads"});
  b->Args({2880, 2880, 64, 1});
  b->Args({2880, 2880, 8, 1});
  b->Args({2880, 2880, 4, 1});
  b->Args({2880, 2880, 2, 1});
  b->Args({2880, 2880, 1, 1});
  b->Args({2880, 2880, 1, 2});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// One expert's gate/up matrix of Qwen3-30B-A3B (2048 in, 768 out; 128 experts, 8 used), with a
// prompt's share (512 tokens x 8 of 128 = 32), a few, one.
void small_expert_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"in", "out", "tokens", "threads"});
  b->Args({2048, 768, 32, 1});
  b->Args({2048, 768, 8, 1});
  b->Args({2048, 768, 4, 1});
  b->Args({2048, 768, 2, 1});
  b->Args({2048, 768, 1, 1});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Decode of a matrix that stays in L2 (256 KB to 1 MB): the kernel's compute rate, which has to
// exceed a core's share of the memory bandwidth by a margin for decode to stream at it.
void cached_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"in", "out", "tokens", "threads"});
  b->Args({2048, 256, 1, 1});
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

}  // namespace

BENCHMARK_CAPTURE(run, Q4_0, TensorType::Q4_0)->Apply(shapes);
BENCHMARK_CAPTURE(run, Q8_0, TensorType::Q8_0)->Apply(shapes);
BENCHMARK_CAPTURE(run, Q4_K, TensorType::Q4_K)->Apply(shapes);
BENCHMARK_CAPTURE(run, Q5_K, TensorType::Q5_K)->Apply(shapes);
BENCHMARK_CAPTURE(run, Q6_K, TensorType::Q6_K)->Apply(shapes);
BENCHMARK_CAPTURE(run, F16, TensorType::F16)->Apply(shapes);
BENCHMARK_CAPTURE(run, BF16, TensorType::BF16)->Apply(shapes);
BENCHMARK_CAPTURE(run, MXFP4, TensorType::MXFP4)->Apply(expert_shapes);
BENCHMARK_CAPTURE(run_expert, Q4_K_expert, TensorType::Q4_K)->Apply(small_expert_shapes);
BENCHMARK_CAPTURE(run_expert, Q6_K_expert, TensorType::Q6_K)->Apply(small_expert_shapes);

BENCHMARK_CAPTURE(run_cached, Q4_0_cached, TensorType::Q4_0)->Apply(cached_shapes);
BENCHMARK_CAPTURE(run_cached, Q5_0_cached, TensorType::Q5_0)->Apply(cached_shapes);
BENCHMARK_CAPTURE(run_cached, Q4_1_cached, TensorType::Q4_1)->Apply(cached_shapes);
BENCHMARK_CAPTURE(run_cached, Q5_1_cached, TensorType::Q5_1)->Apply(cached_shapes);
BENCHMARK_CAPTURE(run_cached, Q8_0_cached, TensorType::Q8_0)->Apply(cached_shapes);
BENCHMARK_CAPTURE(run_cached, Q4_K_cached, TensorType::Q4_K)->Apply(cached_shapes);
BENCHMARK_CAPTURE(run_cached, Q5_K_cached, TensorType::Q5_K)->Apply(cached_shapes);
BENCHMARK_CAPTURE(run_cached, Q6_K_cached, TensorType::Q6_K)->Apply(cached_shapes);
BENCHMARK_CAPTURE(run_cached, F16_cached, TensorType::F16)->Apply(cached_shapes);

BENCHMARK_MAIN();
