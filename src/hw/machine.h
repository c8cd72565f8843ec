// The machine's measured roofline: read bandwidth, peak FLOP/s and peak 8-bit integer ops/s, and
// the rate at which the decode kernel streams weights (decode_stream.h),
// measured once with the default thread count and cached under the bottega home, keyed by the
// machine's identity, because a measurement takes seconds and the planner (`fit`) needs it on every
// call.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "core/thread_pool.h"
#include "hw/bandwidth.h"
#include "hw/cpu_info.h"
#include "hw/decode_stream.h"
#include "hw/memory.h"

namespace bottega::hw {

struct Roofline {
  int threads = 0;
  double read_bytes_per_second = 0.0;
  double decode_bytes_per_second = 0.0;  // weights the Q4_0 matrix-vector kernel streams
  double f32_flops_per_second = 0.0;
  double int8_ops_per_second = 0.0;  // 8-bit multiply-adds (2 ops each), as the quantized kernels
  size_t buffer_bytes = 0;           // of the bandwidth measurement
  std::string measured_at;           // RFC 3339, UTC
  bool cached = false;  // read from the cache file rather than measured by this process
};

struct MeasureSettings {
  int threads = 0;          // 0: default_thread_count()
  size_t buffer_bytes = 0;  // 0: default_bandwidth_bytes()
  int sweeps = kDefaultBandwidthSweeps;
  int decode_sweeps = kDefaultDecodeSweeps;
};

// "CPU model | N logical cpus | M bytes": a cache entry is reused only on the same machine.
std::string machine_identity(const CpuInfo& cpu, const MemoryInfo& memory);

// The cache file under a bottega home.
std::filesystem::path roofline_cache_file(const std::filesystem::path& home);

// The cached roofline of this machine, if the file has one for `identity` and `threads`.
std::optional<Roofline> read_cached_roofline(const std::filesystem::path& cache_file,
                                             const std::string& identity, int threads);

// Measures now (seconds: passes over large buffers and arithmetic loops on every thread).
Roofline measure_roofline(const MeasureSettings& settings);

// The cached roofline, else a fresh measurement saved to the cache (refresh: always measure).
// A cache that cannot be written is not an error: the measurement is returned anyway.
Roofline load_roofline(const std::filesystem::path& cache_file, const MeasureSettings& settings,
                       bool refresh);

}  // namespace bottega::hw
