// bottega fit: will this model run here, with how much context, how fast? Reads only the GGUF
// header and tensor table and the machine's cached roofline (src/fit/planner.h).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "backend/device.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "fit/planner.h"
#include "hw/machine.h"
#include "hw/memory.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/vec_dot.h"
#include "store/store.h"

namespace bottega::cli {
namespace {

using nlohmann::json;

struct FitOptions {
  std::string model;
  std::string ctx;  // a number of tokens, "max", or empty for run's default
  int parallel = 1;
  CacheTypeOptions cache;
  uint64_t available_mib = 0;  // 0: what the machine has available now
  bool as_json = false;
  DeviceOptions device;
};

// The GPU --device names, as `bottega hw` lists it; nullopt for the CPU.
std::optional<fit::DeviceTarget> device_target(const DeviceOptions& options) {
  if (options.device == "cpu") return std::nullopt;
  backend::open_device(options.device);  // the same message as run's for a name that is not one
  const backend::GpuList gpus = backend::list_gpus();
  for (const backend::GpuDescription& gpu : gpus.gpus) {
    if (gpu.device != options.device) continue;
    fit::DeviceTarget target;
    target.device = gpu.device;
    target.name = gpu.name;
    target.shares_system_memory = gpu.shares_system_memory;
    // The backend imports the mapped file on such devices when the driver allows it.
    target.reads_file_in_place = gpu.shares_system_memory && gpu.host_import;
    target.memory_bytes = gpu.device_local_bytes;
    target.offload_layers = options.offload_layers;
    return target;
  }
  throw Error(str("--device ", options.device, ": no such Vulkan device; `bottega hw` lists them"));
}

std::string lower_name(TensorType type) {
  std::string name(type_name(type));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

fit::Machine machine_of(const FitOptions& options, bool quiet) {
  fit::Machine machine;
  machine.available_bytes = options.available_mib > 0 ? options.available_mib << 20
                                                      : hw::read_memory_info().available_bytes;
  const auto cache = hw::roofline_cache_file(store::Store::open_default().home());
  const int threads = default_thread_count();
  const std::string identity = hw::machine_identity(hw::read_cpu_info(), hw::read_memory_info());
  if (!quiet && !hw::read_cached_roofline(cache, identity, threads)) {
    std::fprintf(
        stderr,
        "bottega: measuring this machine once (bandwidth, decode stream, FLOP/s); cached in %s\n",
        cache.string().c_str());
  }
  const hw::Roofline roofline = hw::load_roofline(cache, {}, false);
  machine.read_bytes_per_second = roofline.read_bytes_per_second;
  machine.decode_bytes_per_second = roofline.decode_bytes_per_second;
  machine.f32_flops_per_second = roofline.f32_flops_per_second;
  machine.int8_ops_per_second = roofline.int8_ops_per_second;
  machine.avx512_kernels = kernels::best_isa() == kernels::Isa::kAvx512;
  machine.bf16_dot_products = kernels::bf16_dot_products();
  machine.f16_as_bf16 = options.device.f16_as_bf16;
  return machine;
}

void print_row(const std::string& label, const std::string& detail, uint64_t bytes) {
  std::printf("  %-18s %-34s %12s\n", label.c_str(), detail.c_str(), human_bytes(bytes).c_str());
}

std::string config_text(const fit::Config& c) {
  return str("context ", c.n_ctx, " x ", c.parallel, c.parallel == 1 ? " sequence" : " sequences",
             ", KV cache K ", lower_name(c.cache_types.key), " / V ",
             lower_name(c.cache_types.value));
}

void print_speed(const fit::Plan& plan) {
  std::printf(
      "speed (estimates from the measured roofline: %.1f GB/s read, %.1f GB/s decode stream, %.0f "
      "GFLOP/s f32, %.0f GOP/s int8):\n",
      plan.machine.read_bytes_per_second / 1e9, plan.machine.decode_bytes_per_second / 1e9,
      plan.machine.f32_flops_per_second / 1e9, plan.machine.int8_ops_per_second / 1e9);
  std::printf("  pp512 ~ %.1f tok/s\n  tg128 ~ %.1f tok/s\n", plan.speed.pp512_tps,
              plan.speed.tg128_tps);
}

// The device's share: what it holds, and which memory that comes out of.
void print_device(const fit::Plan& plan) {
  const fit::DeviceTarget& target = *plan.config.device;
  const fit::DeviceMemory& d = plan.device;
  std::printf("\n%s (%s): %d of %d layers%s\n", target.device.c_str(), target.name.c_str(),
              d.layers, plan.shape.n_layer, d.head ? " and the output" : "");
  print_row("weights",
            target.reads_file_in_place ? "read in place from the file's pages"
                                       : "copied into device buffers",
            d.weights);
  print_row("KV cache", str(d.layers, " layers"), d.kv_cache);
  print_row("compute buffers", "activations of a batch, logits", d.compute);
  print_row("total", "predicted device memory", d.total());
  if (target.shares_system_memory) {
    print_row("system memory", "host + device: the device uses system RAM", plan.system_bytes);
  } else {
    print_row("device memory", "its device-local heaps", target.memory_bytes);
  }
}

void print_text(const fit::Plan& plan) {
  const fit::ModelShape& s = plan.shape;
  const fit::MemoryBreakdown& m = plan.memory;
  std::printf("model:   %s (%s, %d layers, n_embd %lld, vocab %lld, trained context %lld)\n",
              s.name.c_str(), s.architecture.c_str(), s.n_layer, static_cast<long long>(s.n_embd),
              static_cast<long long>(s.n_vocab), static_cast<long long>(s.n_ctx_train));
  std::printf("config:  %s\n\nmemory:\n", config_text(plan.config).c_str());
  for (const fit::WeightsOfType& w : plan.weights_by_type) {
    print_row("weights " + std::string(type_name(w.type)),
              str(w.n_tensors, " tensors, ", human_count(w.n_params), " params"), w.bytes);
  }
  print_row("weights resident", "stored tensors + float copies of norms", m.weights);
  print_row("metadata", "GGUF header, tokenizer tables", m.metadata);
  print_row("KV cache",
            str(human_bytes(plan.kv_bytes_per_token), "/token x ",
                plan.config.n_ctx * plan.config.parallel, " tokens"),
            m.kv_cache);
  print_row("compute buffers",
            str("activations of a ", std::min<int64_t>(512, plan.config.n_ctx), "-token batch"),
            m.compute);
  print_row("runtime overhead", "code, libraries, threads", m.overhead);
  if (m.gpu_runtime > 0) {
    print_row("GPU runtime", "Vulkan driver (lavapipe's size)", m.gpu_runtime);
  }
  if (m.load_transient > 0) {
    print_row("load transient", "matrix copied to interleaved layout", m.load_transient);
  }
  print_row("total", "predicted peak resident memory", m.total());
  if (plan.device.total() > 0) print_device(plan);
  print_row("available", "", plan.machine.available_bytes);
  const double share = plan.machine.available_bytes > 0
                           ? 100.0 * static_cast<double>(plan.system_bytes) /
                                 static_cast<double>(plan.machine.available_bytes)
                           : 0.0;
  std::printf("\nverdict: %s (%.0f%% of available memory)\n", plan.fits ? "fits" : "does NOT fit",
              share);
  if (plan.max_context > 0) {
    std::printf("largest context that fits: %lld tokens per sequence\n",
                static_cast<long long>(plan.max_context));
  } else {
    std::printf("largest context that fits: none (even one token does not fit)\n");
  }
  if (plan.device.total() > 0) {
    std::printf(
        "speed: not estimated with layers on a GPU (bottega does not measure a GPU's "
        "roofline yet); `bottega bench --device %s` measures it\n",
        plan.config.device->device.c_str());
  } else {
    print_speed(plan);
  }
  if (!plan.fits) {
    std::printf(plan.alternatives.empty() ? "\nno nearby configuration fits\n"
                                          : "\nnearest configurations that fit:\n");
    for (const fit::Alternative& a : plan.alternatives) {
      std::printf("  %-36s %s total (%s)\n", a.change.c_str(), human_bytes(a.total_bytes).c_str(),
                  config_text(a.config).c_str());
    }
  }
}

json config_json(const fit::Config& c) {
  return {{"context", c.n_ctx},
          {"parallel", c.parallel},
          {"cache_type_k", lower_name(c.cache_types.key)},
          {"cache_type_v", lower_name(c.cache_types.value)}};
}

json to_json(const fit::Plan& plan) {
  const fit::MemoryBreakdown& m = plan.memory;
  json weights = json::array();
  for (const fit::WeightsOfType& w : plan.weights_by_type) {
    weights.push_back({{"type", std::string(type_name(w.type))},
                       {"tensors", w.n_tensors},
                       {"params", w.n_params},
                       {"bytes", w.bytes}});
  }
  json alternatives = json::array();
  for (const fit::Alternative& a : plan.alternatives) {
    json entry = config_json(a.config);
    entry["change"] = a.change;
    entry["total_bytes"] = a.total_bytes;
    entry["weight_bytes"] = a.weight_bytes;
    alternatives.push_back(entry);
  }
  json out = config_json(plan.config);
  out["model"] = {{"name", plan.shape.name},       {"architecture", plan.shape.architecture},
                  {"n_layer", plan.shape.n_layer}, {"n_embd", plan.shape.n_embd},
                  {"n_vocab", plan.shape.n_vocab}, {"n_ctx_train", plan.shape.n_ctx_train}};
  out["fits"] = plan.fits;
  out["max_context"] = plan.max_context;
  out["memory"] = {
      {"total_bytes", m.total()},           {"available_bytes", plan.machine.available_bytes},
      {"weights_bytes", m.weights},         {"stored_weight_bytes", plan.stored_weight_bytes},
      {"weights_by_type", weights},         {"metadata_bytes", m.metadata},
      {"kv_cache_bytes", m.kv_cache},       {"kv_bytes_per_token", plan.kv_bytes_per_token},
      {"compute_bytes", m.compute},         {"overhead_bytes", m.overhead},
      {"gpu_runtime_bytes", m.gpu_runtime}, {"load_transient_bytes", m.load_transient}};
  out["memory"]["system_bytes"] = plan.system_bytes;
  if (plan.config.device != nullptr) {
    const fit::DeviceTarget& t = *plan.config.device;
    const fit::DeviceMemory& d = plan.device;
    out["device"] = {{"device", t.device},
                     {"name", t.name},
                     {"shares_system_memory", t.shares_system_memory},
                     {"weights_read_in_place", t.reads_file_in_place},
                     {"device_memory_bytes", t.memory_bytes},
                     {"layers", d.layers},
                     {"output_head", d.head},
                     {"weights_bytes", d.weights},
                     {"kv_cache_bytes", d.kv_cache},
                     {"compute_bytes", d.compute},
                     {"total_bytes", d.total()}};
  }
  out["speed"] = {{"pp512_tps", plan.speed.pp512_tps},
                  {"tg128_tps", plan.speed.tg128_tps},
                  {"estimate", true},
                  {"read_gb_per_s", plan.machine.read_bytes_per_second / 1e9},
                  {"decode_stream_gb_per_s", plan.machine.decode_bytes_per_second / 1e9},
                  {"f32_gflops", plan.machine.f32_flops_per_second / 1e9},
                  {"int8_gops", plan.machine.int8_ops_per_second / 1e9}};
  out["alternatives"] = alternatives;
  return out;
}

int fit_command(const FitOptions& options) {
  const gguf::File file = open_gguf(options.model);
  const fit::ModelShape shape = fit::read_model_shape(file);
  fit::Config config;
  config.parallel = options.parallel;
  config.cache_types = options.cache.types();
  if (options.ctx.empty()) {
    config.n_ctx = choose_context(0, shape.n_ctx_train);
  } else if (options.ctx != "max") {
    config.n_ctx = std::stoll(options.ctx);  // validated by the option's check
  }
  const std::optional<fit::DeviceTarget> device = device_target(options.device);
  if (device) config.device = &*device;
  const fit::Plan plan = fit::make_plan(file, config, machine_of(options, options.as_json));
  if (options.as_json) {
    std::printf("%s\n", to_json(plan).dump(2).c_str());
  } else {
    print_text(plan);
  }
  return 0;
}

// "max" or a whole number of tokens from 1 to 2^24.
std::string check_context(const std::string& text) {
  if (text == "max") return {};
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < 1 || value > (1 << 24)) {
    return "--ctx '" + text + "': give a number of tokens from 1 to 16777216, or 'max'";
  }
  return {};
}

}  // namespace

Action add_fit(CLI::App& app) {
  auto options = std::make_shared<FitOptions>();
  CLI::App* cmd = app.add_subcommand(
      "fit", "Predict memory and speed of a model on this machine, from its header alone");
  cmd->add_option("model,-m,--model", options->model, "GGUF model file or store name")->required();
  cmd->add_option("-c,--ctx", options->ctx,
                  "Context per sequence: tokens, or 'max' for the largest that fits "
                  "(default: as run, the model's capped at 4096)")
      ->check(CLI::Validator(check_context, "N|max"));
  cmd->add_option("--parallel", options->parallel, "Sequences served at once (-np)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  add_cache_type_options(*cmd, options->cache);
  cmd->add_option("--available-mib", options->available_mib,
                  "Plan against this much memory instead of what is available now")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  cmd->add_flag("--json", options->as_json, "Machine-readable output");
  add_device_options(*cmd, options->device);
  return [options] { return fit_command(*options); };
}

}  // namespace bottega::cli
