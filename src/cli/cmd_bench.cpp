// bottega bench: llama-bench's tests, flags and output formats, plus memory-roofline columns.
// Results go to stdout as each test finishes; progress, the measured bandwidth and the peak
// resident memory go to stderr.
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend/device.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/bench.h"
#include "hw/bandwidth.h"
#include "hw/cpu_info.h"
#include "model/model.h"

namespace bottega::cli {
namespace {

// Ordered, so that fields appear in llama-bench's order.
// llama-bench writes its fields in a fixed order.
using OrderedJson = nlohmann::ordered_json;

struct BenchOptions {
  std::vector<std::string> models;
  // -p's words: prompt lengths and, because of how "-pg" parses (see split_prompt_words), "g"
  // markers followed by a PP,TG pair.
  std::vector<std::string> prompt_words;
  std::vector<int32_t> n_gen = {128};
  std::vector<std::string> prompt_gen;  // --pg: "PP,TG" each
  std::vector<int32_t> n_depth = {0};
  std::vector<int> threads;
  int repetitions = 5;
  std::string output = "md";
  double bandwidth_gbps = 0.0;  // 0: measure
  CacheTypeOptions cache;
  std::string device = "cpu";
  std::vector<int> offload_layers = {-1};  // -ngl, one run per value
  bool f16_as_bf16 = false;
};

// Everything one output line needs about the model and the run.
struct Row {
  std::string model_filename;
  std::string model_type;
  uint64_t model_size = 0;
  uint64_t model_n_params = 0;
  std::string cpu_info;
  std::string gpu_info;         // the device's name; empty on the CPU
  std::string backend = "CPU";  // llama-bench's names: "CPU", "Vulkan"
  int n_gpu_layers = 0;
  double bandwidth_bytes_per_s = 0.0;
  bench::TestResult result;
  bench::DerivedMetrics derived;
};

// ---- parsing ----

int32_t parse_count(const std::string& text, const char* flag) {
  try {
    size_t used = 0;
    const int value = std::stoi(text, &used);
    if (used == text.size() && value >= 0 && value <= (1 << 20)) return value;
  } catch (const std::exception&) {  // std::stoi's invalid_argument and out_of_range
  }
  throw Error(str(flag, " '", text, "' is not a token count between 0 and ", 1 << 20));
}

bench::TestSpec parse_prompt_gen(const std::string& text) {
  const auto comma = text.find(',');
  if (comma == std::string::npos) {
    throw Error(str("-pg '", text, "' must be two counts PP,TG, e.g. -pg 512,128"));
  }
  return {parse_count(text.substr(0, comma), "-pg"), parse_count(text.substr(comma + 1), "-pg")};
}

struct PromptLists {
  std::vector<int32_t> n_prompt;
  std::vector<bench::TestSpec> prompt_gen;
};

// llama-bench spells the prompt+generation flag "-pg", which CLI11 2.1 cannot declare: it reads
// "-pg 512,128" as -p with the value "g", and the pair as two more -p values (-p splits at
// commas). So a "g" word (or "gPP", from "-pgPP,TG") starts a pair among the prompt lengths.
PromptLists split_prompt_words(const std::vector<std::string>& words) {
  PromptLists lists;
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i].empty() || words[i][0] != 'g') {
      lists.n_prompt.push_back(parse_count(words[i], "-p"));
      continue;
    }
    std::string pp = words[i].substr(1);
    if (pp.empty() && i + 1 < words.size()) pp = words[++i];
    if (pp.empty() || i + 1 >= words.size()) {
      throw Error("-pg needs two counts PP,TG, e.g. -pg 512,128");
    }
    lists.prompt_gen.push_back({parse_count(pp, "-pg"), parse_count(words[++i], "-pg")});
  }
  // As in llama-bench, -pg alone leaves the default prompt test in place.
  if (lists.n_prompt.empty()) lists.n_prompt.push_back(512);
  return lists;
}

// ---- markdown, as llama-bench prints it ----

struct Column {
  const char* name;
  int width;  // negative: left-aligned
};
constexpr Column kColumns[] = {{"model", -30}, {"size", 12},       {"params", 12}, {"backend", -10},
                               {"ngl", 5},     {"threads", 7},     {"test", 15},   {"t/s", 20},
                               {"GB/s", 8},    {"% roofline", 10}, {"GFLOP/s", 9}};
constexpr size_t kNglColumn = 4;

std::string md_size(uint64_t bytes) {
  char text[32];
  if (bytes < (uint64_t{1} << 30)) {
    std::snprintf(text, sizeof text, "%.2f MiB", static_cast<double>(bytes) / 1024.0 / 1024.0);
  } else {
    std::snprintf(text, sizeof text, "%.2f GiB",
                  static_cast<double>(bytes) / 1024.0 / 1024.0 / 1024.0);
  }
  return text;
}

std::string md_params(uint64_t n) {
  char text[32];
  if (n < 1000000000ull) {
    std::snprintf(text, sizeof text, "%.2f M", static_cast<double>(n) / 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.2f B", static_cast<double>(n) / 1e9);
  }
  return text;
}

std::string fixed(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.2f", value);
  return text;
}

std::string optional_fixed(const std::optional<double>& value) {
  return value ? fixed(*value) : "-";
}

// As llama-bench does, the ngl column appears only when a GPU runs the tests.
void print_md_header(bool with_ngl) {
  std::string names = "|", rules = "|";
  for (size_t i = 0; i < std::size(kColumns); ++i) {
    if (i == kNglColumn && !with_ngl) continue;
    const Column& c = kColumns[i];
    char cell[64];
    std::snprintf(cell, sizeof cell, " %*s |", c.width, c.name);
    names += cell;
    const int width = c.width < 0 ? -c.width : c.width;
    rules +=
        " " + std::string(static_cast<size_t>(width - 1), '-') + (c.width > 0 ? ":" : "-") + " |";
  }
  std::printf("%s\n%s\n", names.c_str(), rules.c_str());
}

void print_md_row(const Row& row, bool with_ngl) {
  const bench::TestResult& r = row.result;
  const std::string values[] = {row.model_type,
                                md_size(row.model_size),
                                md_params(row.model_n_params),
                                row.backend,
                                std::to_string(row.n_gpu_layers),
                                std::to_string(r.n_threads),
                                bench::test_name(r.spec),
                                fixed(r.avg_ts()) + " \u00b1 " + fixed(r.stddev_ts()),
                                optional_fixed(row.derived.gb_per_s),
                                optional_fixed(row.derived.roofline_pct),
                                optional_fixed(row.derived.gflop_per_s)};
  std::string line = "|";
  for (size_t i = 0; i < std::size(kColumns); ++i) {
    if (i == kNglColumn && !with_ngl) continue;
    // "±" is two bytes in UTF-8 but one column on screen, so that cell pads one byte more.
    const int width = kColumns[i].width + (values[i].find("\u00b1") != std::string::npos ? 1 : 0);
    char cell[256];
    std::snprintf(cell, sizeof cell, " %*s |", width, values[i].c_str());
    line += cell;
  }
  std::printf("%s\n", line.c_str());
}

// ---- csv / json / jsonl: llama-bench's field names, then ours ----

OrderedJson null_or(const std::optional<double>& value) {
  return value ? OrderedJson(*value) : OrderedJson(nullptr);
}

OrderedJson to_json(const Row& row) {
  const bench::TestResult& r = row.result;
  return OrderedJson{{"cpu_info", row.cpu_info},
                     {"gpu_info", row.gpu_info},
                     {"backends", row.backend},
                     {"model_filename", row.model_filename},
                     {"model_type", row.model_type},
                     {"model_size", row.model_size},
                     {"model_n_params", row.model_n_params},
                     {"n_batch", r.n_batch},
                     {"n_ubatch", r.n_batch},
                     {"n_threads", r.n_threads},
                     {"n_gpu_layers", row.n_gpu_layers},
                     {"n_prompt", r.spec.n_prompt},
                     {"n_gen", r.spec.n_gen},
                     {"n_depth", r.spec.n_depth},
                     {"test_time", r.test_time},
                     {"avg_ns", r.avg_ns()},
                     {"stddev_ns", r.stddev_ns()},
                     {"avg_ts", r.avg_ts()},
                     {"stddev_ts", r.stddev_ts()},
                     {"samples_ns", r.samples_ns},
                     {"samples_ts", r.samples_ts},
                     {"bandwidth_gb_per_s", row.bandwidth_bytes_per_s / 1e9},
                     {"gb_per_s", null_or(row.derived.gb_per_s)},
                     {"roofline_pct", null_or(row.derived.roofline_pct)},
                     {"gflop_per_s", null_or(row.derived.gflop_per_s)}};
}

// CSV leaves out the per-repetition arrays, as llama-bench's does.
const std::vector<std::string>& csv_fields() {
  static const std::vector<std::string> kFields = {
      "cpu_info",     "gpu_info",       "backends",   "model_filename", "model_type",
      "model_size",   "model_n_params", "n_batch",    "n_ubatch",       "n_threads",
      "n_gpu_layers", "n_prompt",       "n_gen",      "n_depth",        "test_time",
      "avg_ns",       "stddev_ns",      "avg_ts",     "stddev_ts",      "bandwidth_gb_per_s",
      "gb_per_s",     "roofline_pct",   "gflop_per_s"};
  return kFields;
}

std::string csv_quote(const OrderedJson& value) {
  std::string text = value.is_string() ? value.get<std::string>()
                     : value.is_null() ? ""
                                       : value.dump();
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// Prints results in the chosen format as they arrive.
class Printer {
 public:
  Printer(std::string format, bool with_ngl) : format_(std::move(format)), with_ngl_(with_ngl) {}

  void header() {
    if (format_ == "md") print_md_header(with_ngl_);
    if (format_ == "json") std::printf("[\n");
    if (format_ == "csv") {
      std::string line;
      for (const std::string& f : csv_fields()) line += (line.empty() ? "" : ",") + f;
      std::printf("%s\n", line.c_str());
    }
    std::fflush(stdout);
  }

  void row(const Row& row) {
    if (format_ == "md") {
      print_md_row(row, with_ngl_);
    } else if (format_ == "jsonl") {
      std::printf("%s\n", to_json(row).dump().c_str());
    } else if (format_ == "json") {
      std::printf("%s%s", rows_ == 0 ? "" : ",\n", indent(to_json(row).dump(2)).c_str());
    } else {
      const OrderedJson values = to_json(row);
      std::string line;
      for (const std::string& f : csv_fields()) {
        line += (line.empty() ? "" : ",") + csv_quote(values[f]);
      }
      std::printf("%s\n", line.c_str());
    }
    ++rows_;
    std::fflush(stdout);
  }

  void footer() {
    if (format_ == "json") std::printf("%s]\n", rows_ == 0 ? "" : "\n");
  }

 private:
  static std::string indent(const std::string& text) {
    std::string out = "  ";
    for (char c : text) out += c == '\n' ? std::string("\n  ") : std::string(1, c);
    return out;
  }

  std::string format_;
  bool with_ngl_ = false;
  int rows_ = 0;
};

// ---- running ----

class BandwidthCache {
 public:
  explicit BandwidthCache(double given_gbps) : given_gbps_(given_gbps) {}
  // Measured once per thread count, with the pool the tests will use.
  double get(ThreadPool& pool) {
    if (given_gbps_ > 0.0) return given_gbps_ * 1e9;
    auto it = measured_.find(pool.size());
    if (it != measured_.end()) return it->second;
    std::fprintf(stderr, "bottega: measuring memory read bandwidth, threads: %d\n", pool.size());
    const double bytes_per_s = hw::measure_read_bandwidth(pool);
    bench::reset_peak_resident();
    std::fprintf(stderr, "bottega: read bandwidth %.2f GB/s\n", bytes_per_s / 1e9);
    measured_[pool.size()] = bytes_per_s;
    return bytes_per_s;
  }
  // The device's own read bandwidth, measured once: the roofline of runs entirely on it.
  double device(backend::Backend& device) {
    if (device_ > 0.0) return device_;
    std::fprintf(stderr, "bottega: measuring %s's read bandwidth\n", device.name().c_str());
    device_ = device.measure_read_bandwidth();
    bench::reset_peak_resident();  // the probe's buffer is not the model's
    std::fprintf(stderr, "bottega: %s read bandwidth %.2f GB/s\n", device.name().c_str(),
                 device_ / 1e9);
    return device_;
  }

 private:
  double given_gbps_;
  std::map<int, double> measured_;
  double device_ = 0.0;
};

std::vector<bench::TestSpec> tests_of(const BenchOptions& options) {
  PromptLists prompts = split_prompt_words(options.prompt_words);
  for (const std::string& pg : options.prompt_gen) {
    prompts.prompt_gen.push_back(parse_prompt_gen(pg));
  }
  std::vector<bench::TestSpec> tests =
      bench::expand_tests(prompts.n_prompt, options.n_gen, prompts.prompt_gen, options.n_depth);
  if (tests.empty()) throw Error("nothing to measure: -p, -n and -pg are all 0 or empty");
  return tests;
}

// Every test of one model, for every thread count, in llama-bench's order.
void bench_model(const std::string& path, const LoadOptions& load_options,
                 const BenchOptions& options, const std::vector<bench::TestSpec>& tests,
                 BandwidthCache& bandwidth, Printer& printer) {
  gguf::File file = open_gguf(path);
  Row row;
  row.model_filename = path;
  row.cpu_info = hw::read_cpu_info().model;
  row.model_type = bench::model_description(file);
  const std::unique_ptr<Model> model = load_model(std::move(file), load_options);
  row.model_size = model->weight_bytes();
  row.model_n_params = model->n_params();
  if (load_options.backend->name() != "cpu") {
    row.backend = "Vulkan";
    row.gpu_info = load_options.backend->device_name();
    row.n_gpu_layers =
        load_options.offload_layers < 0 || load_options.offload_layers > model->info().n_layer
            ? model->info().n_layer + 1
            : load_options.offload_layers;
    std::fprintf(stderr, "bottega: %s\n", model->placement().c_str());
  }
  bench::RunOptions run_options;
  run_options.repetitions = options.repetitions;
  run_options.cache_types = options.cache.types();
  const std::vector<int> thread_counts =
      options.threads.empty() ? std::vector<int>{default_thread_count()} : options.threads;
  for (int threads : thread_counts) {
    ThreadPool pool(threads);
    // The roofline is the memory the weights are read from: the CPU's when no layer is on the
    // device, the device's when every layer and the head are; a split has none.
    const bool all_on_device = row.n_gpu_layers > model->info().n_layer;
    row.bandwidth_bytes_per_s =
        all_on_device ? bandwidth.device(*load_options.backend) : bandwidth.get(pool);
    const bool roofline = row.n_gpu_layers == 0 || all_on_device;
    for (const bench::TestSpec& spec : tests) {
      std::fprintf(stderr, "bottega: %s %s, threads: %d\n", path.c_str(),
                   bench::test_name(spec).c_str(), threads);
      row.result = bench::run_test(*model, pool, spec, run_options);
      // GB/s and GFLOP/s count what a token really reads: a mixture's active experts only.
      row.derived =
          bench::derive_metrics(row.result, model->active_weight_bytes(), model->active_params(),
                                roofline ? row.bandwidth_bytes_per_s : 0.0);
      printer.row(row);
    }
  }
}

int bench_command(const BenchOptions& options) {
  const std::vector<bench::TestSpec> tests = tests_of(options);
  BandwidthCache bandwidth(options.bandwidth_gbps);
  LoadOptions load_options;
  load_options.cpu = cpu_options(options.f16_as_bf16);
  load_options.backend = backend::open_device(options.device, true, load_options.cpu);
  const bool on_cpu = load_options.backend->name() == "cpu";
  Printer printer(options.output, !on_cpu);
  printer.header();
  for (const std::string& path : options.models) {
    // Without a GPU, -ngl changes nothing: one run, as llama-bench's CPU build does.
    for (const int offload : on_cpu ? std::vector<int>{0} : options.offload_layers) {
      load_options.offload_layers = offload;
      bench_model(path, load_options, options, tests, bandwidth, printer);
    }
  }
  printer.footer();
  const uint64_t peak = bench::peak_resident_bytes();
  std::fprintf(stderr, "bottega: peak resident memory: %llu bytes (%s)\n",
               static_cast<unsigned long long>(peak), human_bytes(peak).c_str());
  return 0;
}

}  // namespace

Action add_bench(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* cmd =
      app.add_subcommand("bench", "Measure prompt and generation speed (llama-bench compatible)");
  cmd->add_option("-m,--model", options->models, "GGUF model file(s); repeat or separate with ','")
      ->required()
      ->delimiter(',');
  cmd->add_option("-p,--n-prompt", options->prompt_words,
                  "Prompt lengths (default 512; 0: no pp test); -pg PP,TG: prompt then generation")
      ->delimiter(',');
  cmd->add_option("-n,--n-gen", options->n_gen, "Generation lengths (0: no tg test)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--pg", options->prompt_gen, "Prompt then generation in one sequence: PP,TG");
  cmd->add_option("-d,--n-depth", options->n_depth,
                  "Tokens already in the context before each test (evaluated untimed)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-r,--repetitions", options->repetitions, "Timed runs of each test")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("-t,--threads", options->threads, "Thread counts (default: physical cores)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024));
  cmd->add_option("-o,--output", options->output, "Output format")
      ->capture_default_str()
      ->check(CLI::IsMember({"md", "csv", "json", "jsonl"}));
  cmd->add_option("--bandwidth", options->bandwidth_gbps,
                  "Memory bandwidth in GB/s for the roofline (default: measure it)")
      ->check(CLI::PositiveNumber);
  add_cache_type_options(*cmd, options->cache);
  cmd->add_option("--device", options->device,
                  "Where the model runs: cpu, or vulkanN for the Nth Vulkan GPU (`bottega hw`)")
      ->capture_default_str();
  cmd->add_option("--n-gpu-layers", options->offload_layers,
                  "-ngl N[,N...]: with a GPU --device, its share of the layers; one run per value "
                  "(default: all)")
      ->delimiter(',')
      ->check(CLI::Range(-1, 1 << 20));
  add_f16_as_bf16_flag(*cmd, options->f16_as_bf16);
  return [options] { return bench_command(*options); };
}

}  // namespace bottega::cli
