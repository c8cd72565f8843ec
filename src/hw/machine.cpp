#include "hw/machine.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "hw/bandwidth.h"
#include "hw/flops.h"
#include "hw/rates.h"

namespace bottega::hw {
namespace {

using nlohmann::json;

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return json::object();
  json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  return doc.is_object() ? doc : json::object();
}

// Names how read_bytes_per_second was measured. The planner's decode shares are calibrated against
// this probe, so an entry measured another way (the best of whole-buffer passes, before
// 2026-11-25) is measured again rather than used.
constexpr const char* kReadProbe = "median of 64 MiB windows, huge pages";
// The same for decode_bytes_per_second, which the decode shares are calibrated against since
// 2026-12-01; renamed when the kernel it times changes (2026-12-06: AVX-512 VNNI decode kernels),
// so cached rates of the old kernel are measured again.
constexpr const char* kDecodeProbe =
    "median Q4_0 2048x5632 matrix-vector product, huge pages, one-group VNNI kernel";

std::string entry_key(const std::string& identity, int threads) {
  return identity + " | " + std::to_string(threads) + " threads";
}

// Written beside the target and renamed over it, so a reader never sees half a file.
void write_atomically(const std::filesystem::path& file, const std::string& text) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  const std::filesystem::path temp =
      file.string() + ".tmp." + std::to_string(static_cast<long>(::getpid()));
  {
    std::ofstream out(temp, std::ios::trunc);
    if (!out) return;
    out << text;
    if (!out) return;
  }
  std::filesystem::rename(temp, file, ec);
  if (ec) std::filesystem::remove(temp, ec);
}

}  // namespace

std::string machine_identity(const CpuInfo& cpu, const MemoryInfo& memory) {
  std::ostringstream id;
  id << cpu.model << " | " << cpu.logical_cpus << " logical cpus | " << memory.total_bytes
     << " bytes";
  return id.str();
}

std::filesystem::path roofline_cache_file(const std::filesystem::path& home) {
  return home / "hw.json";
}

std::optional<Roofline> read_cached_roofline(const std::filesystem::path& cache_file,
                                             const std::string& identity, int threads) {
  const json doc = read_json(cache_file);
  const auto machines = doc.find("machines");
  if (machines == doc.end() || !machines->is_object()) return std::nullopt;
  const auto entry = machines->find(entry_key(identity, threads));
  if (entry == machines->end() || !entry->is_object()) return std::nullopt;
  Roofline r;
  r.threads = threads;
  r.read_bytes_per_second = entry->value("read_bytes_per_second", 0.0);
  r.decode_bytes_per_second = entry->value("decode_bytes_per_second", 0.0);
  r.f32_flops_per_second = entry->value("f32_flops_per_second", 0.0);
  r.int8_ops_per_second = entry->value("int8_ops_per_second", 0.0);
  r.buffer_bytes = entry->value("buffer_bytes", size_t{0});
  r.measured_at = entry->value("measured_at", "");
  r.cached = true;
  // An entry from before a field was measured is measured again rather than half used.
  if (r.read_bytes_per_second <= 0.0 || r.decode_bytes_per_second <= 0.0 ||
      r.f32_flops_per_second <= 0.0 || r.int8_ops_per_second <= 0.0 ||
      entry->value("read_probe", "") != kReadProbe ||
      entry->value("decode_probe", "") != kDecodeProbe) {
    return std::nullopt;
  }
  return r;
}

Roofline measure_roofline(const MeasureSettings& settings) {
  ThreadPool pool(settings.threads > 0 ? settings.threads : default_thread_count());
  Roofline r;
  r.threads = pool.size();
  r.buffer_bytes = settings.buffer_bytes > 0 ? settings.buffer_bytes : default_bandwidth_bytes();
  // The peaks are the upper quartile of passes spread over the whole measurement, a few before,
  // between and after the memory probes: on a shared host a neighbour at times takes half of the
  // cores for a second or so, which a burst of passes all inside it reads as half the peak
  // (docs/performance.md).
  const int passes = std::max(1, kDefaultPeakPasses / 3);
  std::vector<double> f32_rates, int8_rates;
  auto measure_peaks = [&] {
    for (double rate : f32_flops_passes(pool, passes)) f32_rates.push_back(rate);
    for (double rate : int8_ops_passes(pool, passes)) int8_rates.push_back(rate);
  };
  // The decode stream too is measured twice, around the read probe, and the better median kept, so
  // that one such second does not set what every later plan predicts.
  const int decode_sweeps = std::max(1, settings.decode_sweeps / 2);
  auto measure_decode = [&] {
    r.decode_bytes_per_second = std::max(
        r.decode_bytes_per_second, measure_decode_stream(pool, r.buffer_bytes, decode_sweeps));
  };
  measure_peaks();
  measure_decode();
  measure_peaks();
  r.read_bytes_per_second = measure_read_bandwidth(pool, r.buffer_bytes, settings.sweeps);
  measure_peaks();
  measure_decode();
  r.f32_flops_per_second = rate_at(std::move(f32_rates), 0.75);
  r.int8_ops_per_second = rate_at(std::move(int8_rates), 0.75);
  r.measured_at = utc_now();
  return r;
}

Roofline load_roofline(const std::filesystem::path& cache_file, const MeasureSettings& settings,
                       bool refresh) {
  const std::string identity = machine_identity(read_cpu_info(), read_memory_info());
  const int threads = settings.threads > 0 ? settings.threads : default_thread_count();
  if (!refresh) {
    if (auto cached = read_cached_roofline(cache_file, identity, threads)) return *cached;
  }
  const Roofline r = measure_roofline(settings);
  json doc = read_json(cache_file);
  if (!doc["machines"].is_object()) doc["machines"] = json::object();
  doc["machines"][entry_key(identity, r.threads)] = {
      {"read_bytes_per_second", r.read_bytes_per_second},
      {"read_probe", kReadProbe},
      {"decode_bytes_per_second", r.decode_bytes_per_second},
      {"decode_probe", kDecodeProbe},
      {"f32_flops_per_second", r.f32_flops_per_second},
      {"int8_ops_per_second", r.int8_ops_per_second},
      {"buffer_bytes", r.buffer_bytes},
      {"measured_at", r.measured_at}};
  write_atomically(cache_file, doc.dump(2) + "\n");
  return r;
}

}  // namespace bottega::hw
