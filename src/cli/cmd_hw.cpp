// bottega hw: what this machine offers the engine: the processor and its SIMD extensions, memory,
// the measured roofline (read bandwidth and peak FLOP/s, measured once and cached under the bottega
// home) and GPUs through Vulkan when a loader is present. --bandwidth measures the bandwidth now
// with the given settings and leaves the cache alone.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "backend/device.h"
#include "cli/commands.h"
#include "core/format.h"
#include "core/thread_pool.h"
#include "hw/bandwidth.h"
#include "hw/cpu_info.h"
#include "hw/machine.h"
#include "hw/memory.h"
#include "store/store.h"

namespace bottega::cli {
namespace {

using nlohmann::json;

struct HwOptions {
  bool bandwidth = false;
  bool refresh = false;
  bool as_json = false;
  int threads = 0;
  size_t buffer_mib = 0;  // 0: hw::default_bandwidth_bytes()
  int sweeps = hw::kDefaultBandwidthSweeps;
};

struct Report {
  hw::CpuInfo cpu;
  hw::MemoryInfo memory;
  hw::Roofline roofline;
  bool bandwidth_only = false;  // --bandwidth: no FLOP/s, nothing cached
  backend::GpuList vulkan;
};

hw::MeasureSettings settings_of(const HwOptions& options) {
  hw::MeasureSettings settings;
  settings.threads = options.threads;
  settings.buffer_bytes = options.buffer_mib << 20;
  settings.sweeps = options.sweeps;
  return settings;
}

std::string join(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& w : words) text += (text.empty() ? "" : " ") + w;
  return text.empty() ? "(none)" : text;
}

void print_text(const Report& report, int sweeps) {
  const hw::Roofline& r = report.roofline;
  std::printf("cpu:            %s\n", report.cpu.model.c_str());
  std::printf("logical cpus:   %d\n", report.cpu.logical_cpus);
  std::printf("physical cores: %d\n", report.cpu.physical_cores);
  std::printf("simd:           %s\n", join(report.cpu.simd).c_str());
  std::printf("memory:         %s total, %s available\n",
              human_bytes(report.memory.total_bytes).c_str(),
              human_bytes(report.memory.available_bytes).c_str());
  std::printf(
      "read bandwidth: %.2f GB/s (%d threads, %zu MiB buffer, median window of %d sweeps)\n",
      r.read_bytes_per_second / 1e9, r.threads, r.buffer_bytes >> 20, sweeps);
  if (!report.bandwidth_only) {
    std::printf(
        "decode stream:  %.2f GB/s (Q4_0 weights through the matrix-vector kernel, %d "
        "threads)\n",
        r.decode_bytes_per_second / 1e9, r.threads);
    std::printf("peak f32:       %.1f GFLOP/s (FMA, %d threads)\n", r.f32_flops_per_second / 1e9,
                r.threads);
    std::printf(
        "peak int8:      %.1f GOP/s (8-bit dot products as the quantized kernels run them)\n",
        r.int8_ops_per_second / 1e9);
    std::printf("measured:       %s%s\n", r.measured_at.c_str(),
                r.cached ? " (cached; --refresh measures again)" : "");
  }
  std::printf("gpu:            %s\n", report.vulkan.status.c_str());
  for (const backend::GpuDescription& gpu : report.vulkan.gpus) {
    std::printf("  %s: %s (%s, %s, Vulkan %s): %s device-local, %s host-visible%s\n",
                gpu.device.c_str(), gpu.name.c_str(), gpu.vendor.c_str(), gpu.type.c_str(),
                gpu.api_version.c_str(), human_bytes(gpu.device_local_bytes).c_str(),
                human_bytes(gpu.host_visible_bytes).c_str(),
                gpu.shares_system_memory ? ", shares system memory" : "");
    std::printf(
        "    subgroup %u, int8 dot product: %s, cooperative matrix: %s, weights read in place: "
        "%s\n",
        gpu.subgroup_size, gpu.integer_dot_product ? "yes" : "no",
        gpu.cooperative_matrix ? "yes" : "no", gpu.host_import ? "yes" : "no");
  }
}

json to_json(const Report& report, int sweeps) {
  const hw::Roofline& r = report.roofline;
  json out;
  out["cpu"] = {{"model", report.cpu.model},
                {"logical_cpus", report.cpu.logical_cpus},
                {"physical_cores", report.cpu.physical_cores},
                {"simd", report.cpu.simd}};
  out["memory"] = {{"total_bytes", report.memory.total_bytes},
                   {"available_bytes", report.memory.available_bytes}};
  out["bandwidth"] = {{"read_gb_per_s", r.read_bytes_per_second / 1e9},
                      {"threads", r.threads},
                      {"buffer_bytes", r.buffer_bytes},
                      {"sweeps", sweeps}};
  if (!report.bandwidth_only) {
    out["bandwidth"]["decode_gb_per_s"] = r.decode_bytes_per_second / 1e9;
    out["compute"] = {{"f32_gflops", r.f32_flops_per_second / 1e9},
                      {"int8_gops", r.int8_ops_per_second / 1e9},
                      {"threads", r.threads}};
    out["measured_at"] = r.measured_at;
    out["cached"] = r.cached;
  }
  json gpus = json::array();
  for (const backend::GpuDescription& gpu : report.vulkan.gpus) {
    gpus.push_back({{"device", gpu.device},
                    {"name", gpu.name},
                    {"vendor", gpu.vendor},
                    {"type", gpu.type},
                    {"shares_system_memory", gpu.shares_system_memory},
                    {"device_local_bytes", gpu.device_local_bytes},
                    {"host_visible_bytes", gpu.host_visible_bytes},
                    {"api_version", gpu.api_version},
                    {"subgroup_size", gpu.subgroup_size},
                    {"integer_dot_product", gpu.integer_dot_product},
                    {"cooperative_matrix", gpu.cooperative_matrix},
                    {"weights_read_in_place", gpu.host_import}});
  }
  out["vulkan"] = {{"loader_found", report.vulkan.loader_found},
                   {"status", report.vulkan.status},
                   {"gpus", gpus}};
  return out;
}

int hw_command(const HwOptions& options) {
  Report report;
  report.cpu = hw::read_cpu_info();
  report.memory = hw::read_memory_info();
  if (options.bandwidth) {
    report.bandwidth_only = true;
    ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
    report.roofline.threads = pool.size();
    report.roofline.buffer_bytes =
        options.buffer_mib > 0 ? options.buffer_mib << 20 : hw::default_bandwidth_bytes();
    report.roofline.read_bytes_per_second =
        hw::measure_read_bandwidth(pool, report.roofline.buffer_bytes, options.sweeps);
  } else {
    const auto cache = hw::roofline_cache_file(store::Store::open_default().home());
    report.roofline = hw::load_roofline(cache, settings_of(options), options.refresh);
  }
  report.vulkan = backend::list_gpus();
  if (options.as_json) {
    std::printf("%s\n", to_json(report, options.sweeps).dump(2).c_str());
  } else {
    print_text(report, options.sweeps);
  }
  return 0;
}

}  // namespace

Action add_hw(CLI::App& app) {
  auto options = std::make_shared<HwOptions>();
  CLI::App* cmd = app.add_subcommand(
      "hw", "Describe the processor, memory and GPUs, and the measured bandwidth and FLOP/s");
  cmd->add_flag("--refresh", options->refresh,
                "Measure bandwidth and FLOP/s again instead of using the cached results");
  cmd->add_flag("--bandwidth", options->bandwidth,
                "Measure only the memory read bandwidth, now, with these settings (not cached)")
      ->excludes("--refresh");
  cmd->add_option("-t,--threads", options->threads, "Threads measuring (default: physical cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--buffer-mib", options->buffer_mib,
                  "Buffer read by the bandwidth measurement (default: 1024 or 1/8 of memory)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  cmd->add_option("-r,--sweeps", options->sweeps,
                  "Bandwidth passes over the buffer, timed in 64 MiB windows; the median counts")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", options->as_json, "Machine-readable output");
  return [options] { return hw_command(*options); };
}

}  // namespace bottega::cli
