#include "engine/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/session.h"

namespace bottega::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<int32_t> random_tokens(int64_t n_vocab, int32_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> pick(0, n_vocab - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (int32_t& t : tokens) t = static_cast<int32_t>(pick(rng));
  return tokens;
}

// Prompt tokens in one evaluation (the session cuts it into batches), then generated tokens one by
// one, as llama-bench's test_prompt and test_gen do.
void run_sequence(Session& session, std::span<const int32_t> prompt, std::span<const int32_t> gen) {
  if (!prompt.empty()) session.eval(prompt);
  for (size_t i = 0; i < gen.size(); ++i) session.eval(gen.subspan(i, 1));
}

// llama-bench's warm-up: one prompt batch and one generated token, untimed, enough to page every
// weight in and wake the thread pool.
void warm_up(Session& session, const TestSpec& spec, int64_t n_vocab, int32_t n_batch,
             uint64_t seed) {
  const auto tokens = random_tokens(n_vocab, 1 + std::min(spec.n_prompt, n_batch), seed);
  const std::span<const int32_t> all(tokens);
  run_sequence(session, all.subspan(1), spec.n_gen > 0 ? all.first(1) : all.first(0));
  session.reset();
}

// Nanoseconds to evaluate the first n_prompt tokens as a prompt and the rest one by one, on a
// fresh sequence that first holds `depth` (evaluated as a prompt, untimed).
uint64_t time_sequence(Session& session, std::span<const int32_t> depth,
                       std::span<const int32_t> tokens, int32_t n_prompt) {
  session.reset();
  if (!depth.empty()) session.eval(depth);
  const auto start = Clock::now();
  run_sequence(session, tokens.first(static_cast<size_t>(n_prompt)),
               tokens.subspan(static_cast<size_t>(n_prompt)));
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
  return static_cast<uint64_t>(std::max<int64_t>(ns, 1));
}

std::string utc_now_rfc3339() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%FT%TZ", &utc);
  return text;
}

template <typename V>
double mean(const std::vector<V>& values) {
  if (values.empty()) return 0.0;
  double sum = 0.0;
  for (V v : values) sum += static_cast<double>(v);
  return sum / static_cast<double>(values.size());
}

template <typename V>
double sample_stddev(const std::vector<V>& values) {
  if (values.size() < 2) return 0.0;
  const double m = mean(values);
  double squares = 0.0;
  for (V v : values) squares += (static_cast<double>(v) - m) * (static_cast<double>(v) - m);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

// llama.cpp's llama_model_ftype_name for the LLAMA_FTYPE numbers.
std::string file_type_name(int64_t ftype) {
  static const std::map<int64_t, std::string> kNames = {
      {0, "all F32"},        {1, "F16"},
      {2, "Q4_0"},           {3, "Q4_1"},
      {7, "Q8_0"},           {8, "Q5_0"},
      {9, "Q5_1"},           {10, "Q2_K - Medium"},
      {11, "Q3_K - Small"},  {12, "Q3_K - Medium"},
      {13, "Q3_K - Large"},  {14, "Q4_K - Small"},
      {15, "Q4_K - Medium"}, {16, "Q5_K - Small"},
      {38, "MXFP4 MoE"},     {17, "Q5_K - Medium"},
      {18, "Q6_K"},          {21, "Q2_K - Small"},
      {32, "BF16"},
  };
  const auto it = kNames.find(ftype);
  return it != kNames.end() ? it->second : "unknown, may not work";
}

// The file type implied by the most common type among the matrices, as llama.cpp guesses it.
std::string guessed_file_type_name(const gguf::File& file) {
  std::map<TensorType, int> counts;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (t.shape.size() >= 2) ++counts[t.type];
  }
  if (counts.empty()) return "unknown, may not work";
  const auto most =
      std::max_element(counts.begin(), counts.end(),
                       [](const auto& a, const auto& b) { return a.second < b.second; });
  static const std::map<TensorType, int64_t> kFtypeOf = {
      {TensorType::F32, 0},   {TensorType::F16, 1},   {TensorType::Q4_0, 2},
      {TensorType::Q4_1, 3},  {TensorType::Q8_0, 7},  {TensorType::Q5_0, 8},
      {TensorType::Q5_1, 9},  {TensorType::Q2_K, 10}, {TensorType::Q3_K, 12},
      {TensorType::Q4_K, 15}, {TensorType::Q5_K, 17}, {TensorType::Q6_K, 18},
      {TensorType::BF16, 32},
  };
  const auto it = kFtypeOf.find(most->first);
  return (it != kFtypeOf.end() ? file_type_name(it->second) : std::string(type_name(most->first))) +
         " (guessed)";
}

// "1B", "7B", "260K": the parameter count rounded to its unit.
std::string size_class(uint64_t n_params) {
  const double n = static_cast<double>(n_params);
  char text[32];
  if (n >= 1e9) {
    std::snprintf(text, sizeof text, "%.0fB", n / 1e9);
  } else if (n >= 1e6) {
    std::snprintf(text, sizeof text, "%.0fM", n / 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.0fK", n / 1e3);
  }
  return text;
}

}  // namespace

std::string test_name(const TestSpec& spec) {
  const std::string depth = spec.n_depth > 0 ? str(" @ d", spec.n_depth) : "";
  if (spec.n_gen == 0) return str("pp", spec.n_prompt, depth);
  if (spec.n_prompt == 0) return str("tg", spec.n_gen, depth);
  return str("pp", spec.n_prompt, "+tg", spec.n_gen, depth);
}

std::vector<TestSpec> expand_tests(const std::vector<int32_t>& n_prompt,
                                   const std::vector<int32_t>& n_gen,
                                   const std::vector<TestSpec>& prompt_gen,
                                   const std::vector<int32_t>& n_depth) {
  std::vector<TestSpec> tests;
  for (int32_t d : n_depth) {
    for (int32_t p : n_prompt) {
      if (p > 0) tests.push_back({p, 0, d});
    }
    for (int32_t g : n_gen) {
      if (g > 0) tests.push_back({0, g, d});
    }
    for (const TestSpec& pg : prompt_gen) {
      if (pg.n_prompt > 0 || pg.n_gen > 0) tests.push_back({pg.n_prompt, pg.n_gen, d});
    }
  }
  return tests;
}

uint64_t TestResult::avg_ns() const {
  return static_cast<uint64_t>(std::llround(mean(samples_ns)));
}
uint64_t TestResult::stddev_ns() const {
  return static_cast<uint64_t>(std::llround(sample_stddev(samples_ns)));
}
double TestResult::avg_ts() const {
  return mean(samples_ts);
}
double TestResult::stddev_ts() const {
  return sample_stddev(samples_ts);
}

TestResult run_test(Model& model, ThreadPool& pool, const TestSpec& spec,
                    const RunOptions& options) {
  BOTTEGA_CHECK(options.repetitions > 0 && spec.n_prompt >= 0 && spec.n_gen >= 0 &&
                spec.n_depth >= 0 && spec.n_prompt + spec.n_gen > 0);
  const int64_t n_vocab = model.info().n_vocab;
  Session session(model, spec.n_depth + spec.n_prompt + spec.n_gen, pool, Session::kDefaultBatch,
                  options.cache_types);
  TestResult result;
  result.spec = spec;
  result.n_threads = pool.size();
  result.n_batch = Session::kDefaultBatch;
  result.test_time = utc_now_rfc3339();
  if (options.warmup) warm_up(session, spec, n_vocab, result.n_batch, options.seed);

  const int32_t n_tokens = spec.n_prompt + spec.n_gen;
  for (int rep = 0; rep < options.repetitions; ++rep) {
    const auto tokens = random_tokens(n_vocab, spec.n_depth + n_tokens,
                                      options.seed + 1 + static_cast<uint64_t>(rep));
    const std::span<const int32_t> all(tokens);
    const uint64_t ns =
        time_sequence(session, all.first(static_cast<size_t>(spec.n_depth)),
                      all.subspan(static_cast<size_t>(spec.n_depth)), spec.n_prompt);
    result.samples_ns.push_back(ns);
    result.samples_ts.push_back(1e9 * n_tokens / static_cast<double>(ns));
  }
  return result;
}

DerivedMetrics derive_metrics(const TestResult& result, uint64_t weight_bytes, uint64_t n_params,
                              double bandwidth_bytes_per_s) {
  DerivedMetrics metrics;
  const double ts = result.avg_ts();
  if (result.spec.n_prompt == 0) {
    const double bytes_per_s = static_cast<double>(weight_bytes) * ts;
    metrics.gb_per_s = bytes_per_s / 1e9;
    if (bandwidth_bytes_per_s > 0.0)
      metrics.roofline_pct = 100.0 * bytes_per_s / bandwidth_bytes_per_s;
  } else if (result.spec.n_gen == 0) {
    metrics.gflop_per_s = 2.0 * static_cast<double>(n_params) * ts / 1e9;
  }
  return metrics;
}

std::string model_description(const gguf::File& file) {
  uint64_t n_params = 0;
  for (const gguf::TensorInfo& t : file.tensors())
    n_params += static_cast<uint64_t>(t.n_elements());
  const std::string arch = file.get_string("general.architecture").value_or("unknown");
  const std::optional<int64_t> ftype = file.get_int("general.file_type");
  return str(arch, " ", size_class(n_params), " ",
             ftype ? file_type_name(*ftype) : guessed_file_type_name(file));
}

uint64_t peak_resident_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    uint64_t kib = 0;
    fields >> kib;
    return kib * 1024;
  }
  return 0;
}

void reset_peak_resident() {
  // Writing 5 to clear_refs resets VmHWM (Linux 4.0+); elsewhere the peak simply stays.
  std::ofstream("/proc/self/clear_refs") << "5";
}

}  // namespace bottega::bench
