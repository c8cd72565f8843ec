// bottega hw: what this machine offers the engine: the processor, its SIMD extensions and, with
// --bandwidth, the memory read bandwidth that bounds decoding speed.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "core/thread_pool.h"
#include "hw/bandwidth.h"
#include "hw/cpu_info.h"

namespace bottega::cli {
namespace {

using nlohmann::json;

struct HwOptions {
  bool bandwidth = false;
  bool as_json = false;
  int threads = 0;
  size_t buffer_mib = 0;  // 0: hw::default_bandwidth_bytes()
  int repetitions = 5;
};

struct BandwidthResult {
  double bytes_per_second = 0.0;
  int threads = 0;
  size_t buffer_bytes = 0;
};

BandwidthResult measure(const HwOptions& options) {
  ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
  BandwidthResult result;
  result.threads = pool.size();
  result.buffer_bytes =
      options.buffer_mib > 0 ? options.buffer_mib << 20 : hw::default_bandwidth_bytes();
  result.bytes_per_second =
      hw::measure_read_bandwidth(pool, result.buffer_bytes, options.repetitions);
  return result;
}

std::string join(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& w : words) text += (text.empty() ? "" : " ") + w;
  return text.empty() ? "(none)" : text;
}

void print_text(const hw::CpuInfo& cpu, const BandwidthResult* bandwidth, int repetitions) {
  std::printf("cpu:            %s\n", cpu.model.c_str());
  std::printf("logical cpus:   %d\n", cpu.logical_cpus);
  std::printf("physical cores: %d\n", cpu.physical_cores);
  std::printf("simd:           %s\n", join(cpu.simd).c_str());
  if (bandwidth == nullptr) return;
  std::printf("read bandwidth: %.2f GB/s (%d threads, %zu MiB buffer, best of %d)\n",
              bandwidth->bytes_per_second / 1e9, bandwidth->threads, bandwidth->buffer_bytes >> 20,
              repetitions);
}

json to_json(const hw::CpuInfo& cpu, const BandwidthResult* bandwidth, int repetitions) {
  json out;
  out["cpu"] = {{"model", cpu.model},
                {"logical_cpus", cpu.logical_cpus},
                {"physical_cores", cpu.physical_cores},
                {"simd", cpu.simd}};
  if (bandwidth != nullptr) {
    out["bandwidth"] = {{"read_gb_per_s", bandwidth->bytes_per_second / 1e9},
                        {"threads", bandwidth->threads},
                        {"buffer_bytes", bandwidth->buffer_bytes},
                        {"repetitions", repetitions}};
  }
  return out;
}

int hw_command(const HwOptions& options) {
  const hw::CpuInfo cpu = hw::read_cpu_info();
  BandwidthResult bandwidth;
  if (options.bandwidth) bandwidth = measure(options);
  const BandwidthResult* measured = options.bandwidth ? &bandwidth : nullptr;
  if (options.as_json) {
    std::printf("%s\n", to_json(cpu, measured, options.repetitions).dump(2).c_str());
  } else {
    print_text(cpu, measured, options.repetitions);
  }
  return 0;
}

}  // namespace

Action add_hw(CLI::App& app) {
  auto options = std::make_shared<HwOptions>();
  CLI::App* cmd = app.add_subcommand("hw", "Describe the processor and measure memory bandwidth");
  cmd->add_flag("--bandwidth", options->bandwidth, "Measure the memory read bandwidth (GB/s)");
  cmd->add_option("-t,--threads", options->threads, "Threads reading (default: physical cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--buffer-mib", options->buffer_mib,
                  "Buffer read by the measurement (default: 1024 or 1/8 of memory)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  cmd->add_option("-r,--repetitions", options->repetitions, "Passes; the best counts")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", options->as_json, "Machine-readable output");
  return [options] { return hw_command(*options); };
}

}  // namespace bottega::cli
