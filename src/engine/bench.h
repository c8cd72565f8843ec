// Throughput measurement in the manner of llama.cpp's llama-bench: prompt processing (pp),
// token generation (tg) and both in one sequence (pg), timed over repetitions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "model/model.h"

namespace bottega::bench {

// One test: n_prompt tokens in one evaluation, then n_gen single-token evaluations, after n_depth
// tokens already in the context (llama-bench's -d: evaluated untimed before each repetition).
struct TestSpec {
  int32_t n_prompt = 0;
  int32_t n_gen = 0;
  int32_t n_depth = 0;
};

// "pp512", "tg128", "pp512+tg128", "tg128 @ d4096", as llama-bench names tests.
std::string test_name(const TestSpec& spec);

// llama-bench's order: for each depth, every prompt size (0 skips), then every generation length
// (0 skips), then every (prompt, generation) pair.
std::vector<TestSpec> expand_tests(const std::vector<int32_t>& n_prompt,
                                   const std::vector<int32_t>& n_gen,
                                   const std::vector<TestSpec>& prompt_gen,
                                   const std::vector<int32_t>& n_depth = {0});

struct RunOptions {
  int repetitions = 5;
  uint64_t seed = 1234;  // of the random token ids
  bool warmup = true;
  KvCacheTypes cache_types;
};

struct TestResult {
  TestSpec spec;
  int n_threads = 0;
  int32_t n_batch = 0;
  std::string test_time;             // RFC 3339, UTC, when the test started
  std::vector<uint64_t> samples_ns;  // one per repetition
  std::vector<double> samples_ts;    // tokens per second of each repetition

  uint64_t avg_ns() const;
  uint64_t stddev_ns() const;
  double avg_ts() const;
  double stddev_ts() const;  // sample standard deviation, 0 for one repetition
};

// Runs one test on a fresh sequence per repetition. The warm-up (not timed) is llama-bench's: one
// prompt batch and one generated token, which pages every weight in and settles the thread pool.
// Prompt tokens are uniform random ids over the vocabulary; generation feeds random ids too, as
// the logits are not needed to measure speed.
TestResult run_test(Model& model, ThreadPool& pool, const TestSpec& spec,
                    const RunOptions& options);

// Our columns beyond llama-bench's, each present only where it means something:
// - tg: gb_per_s = weight bytes x tokens/s / 1e9: decoding reads every weight once per token, so
//   this is the bandwidth the run achieved; roofline_pct compares it with the measured bandwidth.
// - pp: gflop_per_s = 2 x parameters x tokens/s / 1e9: a multiply-add per weight per token. It
//   ignores attention over the context (small against the weights at these lengths) and counts
//   the embedding table as if it were multiplied.
struct DerivedMetrics {
  std::optional<double> gb_per_s;
  std::optional<double> roofline_pct;
  std::optional<double> gflop_per_s;
};
DerivedMetrics derive_metrics(const TestResult& result, uint64_t weight_bytes, uint64_t n_params,
                              double bandwidth_bytes_per_s);

// llama-bench's model column: "llama 1B Q4_0". The size class rounds the parameter count of all
// tensors (llama.cpp reads it off the layer count per architecture; both agree for the usual llama
// shapes) and the type is general.file_type as llama.cpp names it, guessed from the most common
// matrix type when the key is absent.
std::string model_description(const gguf::File& file);

// Peak resident memory of this process (VmHWM), or 0 where /proc does not tell.
uint64_t peak_resident_bytes();
// Restarts the peak from the current resident size (Linux), so that a large buffer already freed,
// such as the bandwidth measurement's, does not hide the peak of what follows.
void reset_peak_resident();

}  // namespace bottega::bench
