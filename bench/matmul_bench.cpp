// Matrix-product kernel speed on the standard model's shapes (TinyLlama 1.1B: 2048 wide, FFN
// 5632), one thread, as the engine runs them: weights interleaved when this CPU's kernels prefer
// it, activations quantized inside matmul. Reports integer or float multiply-adds per second
// (macs) so the number compares with the machine's peak (`bottega hw`).
//
//   build/release/bin/bench_matmul --benchmark_filter='Q4_0'
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "tensor/types.h"

namespace {

using bottega::TensorType;
using bottega::kernels::WeightMatrix;

struct PreparedMatrix {
  std::vector<uint8_t> stored;
  std::vector<uint8_t> interleaved;
  WeightMatrix matrix;
};

PreparedMatrix prepare(TensorType type, int64_t n_in, int64_t n_out) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(n_in * n_out));
  for (float& v : values) v = normal(rng);
  PreparedMatrix p;
  p.stored.resize(bottega::row_bytes(type, n_in) * static_cast<size_t>(n_out));
  bottega::type_traits(type).quantize(values.data(), p.stored.data(), n_in * n_out);
  p.matrix = WeightMatrix{type, n_in, n_out, p.stored.data(), false};
  if (bottega::kernels::prefers_interleaved(p.matrix)) {
    p.interleaved.resize(bottega::kernels::interleaved_bytes(p.matrix));
    p.matrix = bottega::kernels::interleave(p.matrix, p.interleaved.data());
  }
  return p;
}

// Arguments: n_in, n_out, tokens.
void run(benchmark::State& state, TensorType type) {
  const int64_t n_in = state.range(0);
  const int64_t n_out = state.range(1);
  const int64_t n_tokens = state.range(2);
  const PreparedMatrix p = prepare(type, n_in, n_out);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
  for (float& v : x) v = uniform(rng);
  std::vector<float> y(static_cast<size_t>(n_out * n_tokens));
  bottega::ThreadPool pool(1);
  for (auto _ : state) {
    bottega::kernels::matmul(p.matrix, x.data(), n_tokens, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  const double macs = static_cast<double>(n_in) * static_cast<double>(n_out) *
                      static_cast<double>(n_tokens);
  state.counters["macs"] = benchmark::Counter(macs, benchmark::Counter::kIsIterationInvariantRate);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"in", "out", "tokens"});
  b->Args({2048, 5632, 64});  // ffn_gate/ffn_up, a prompt chunk
  b->Args({5632, 2048, 64});  // ffn_down
  b->Args({2048, 5632, 16});  // 16 sequences decoding together (serve)
  b->Args({2048, 5632, 1});   // decode
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK_CAPTURE(run, Q4_0, TensorType::Q4_0)->Apply(shapes);
BENCHMARK_CAPTURE(run, Q8_0, TensorType::Q8_0)->Apply(shapes);
BENCHMARK_CAPTURE(run, Q4_K, TensorType::Q4_K)->Apply(shapes);
BENCHMARK_CAPTURE(run, Q5_K, TensorType::Q5_K)->Apply(shapes);
BENCHMARK_CAPTURE(run, Q6_K, TensorType::Q6_K)->Apply(shapes);
BENCHMARK_CAPTURE(run, F16, TensorType::F16)->Apply(shapes);

BENCHMARK_MAIN();
