// What the processor is, read from /proc/cpuinfo: enough to label benchmark results and to tell
// which SIMD kernels can run.
#pragma once

#include <istream>
#include <string>
#include <vector>

namespace bottega::hw {

struct CpuInfo {
  std::string model;       // "AMD EPYC 7B13", or "unknown"
  int logical_cpus = 0;    // hardware threads
  int physical_cores = 0;  // distinct cores; equals logical_cpus when the file does not tell
  std::vector<std::string>
      simd;  // the flags bottega cares about that are present, in a fixed order
};

// Parses text in /proc/cpuinfo's format (x86 "flags" or Arm "Features" lines).
CpuInfo parse_cpu_info(std::istream& cpuinfo);

// This machine's; logical_cpus falls back to std::thread::hardware_concurrency() when /proc is not
// readable.
CpuInfo read_cpu_info();

}  // namespace bottega::hw
