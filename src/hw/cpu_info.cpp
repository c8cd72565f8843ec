#include "hw/cpu_info.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>
#include <utility>

namespace bottega::hw {
namespace {

// The instruction-set extensions the kernels may use, in the order they are reported.
constexpr std::array<std::string_view, 7> kSimdFlags = {
    "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "fma", "f16c", "neon"};

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return std::string(text.substr(first, last - first + 1));
}

std::set<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::set<std::string> words;
  for (std::string word; in >> word;) words.insert(word);
  return words;
}

}  // namespace

CpuInfo parse_cpu_info(std::istream& cpuinfo) {
  CpuInfo info;
  std::set<std::pair<std::string, std::string>> cores;  // (physical id, core id)
  std::set<std::string> flags;
  std::string physical = "0";
  std::string arm_part;
  for (std::string line; std::getline(cpuinfo, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(std::string_view(line).substr(0, colon));
    const std::string value = trim(std::string_view(line).substr(colon + 1));
    if (key == "processor") ++info.logical_cpus;
    if (key == "physical id") physical = value;
    if (key == "core id") cores.emplace(physical, value);
    if ((key == "model name" || key == "Model" || key == "Hardware") && info.model.empty()) {
      info.model = value;
    }
    if (key == "CPU part" && arm_part.empty()) arm_part = value;
    if (key == "flags" || key == "Features") flags.merge(split_words(value));
  }
  if (info.model.empty()) info.model = arm_part.empty() ? "unknown" : "Arm CPU part " + arm_part;
  // 64-bit Arm reports Advanced SIMD as "asimd"; it is the same NEON unit.
  if (flags.count("asimd") != 0) flags.insert("neon");
  for (std::string_view flag : kSimdFlags) {
    if (flags.count(std::string(flag)) != 0) info.simd.emplace_back(flag);
  }
  info.physical_cores = cores.empty() ? info.logical_cpus
                                      : std::min(info.logical_cpus, static_cast<int>(cores.size()));
  return info;
}

CpuInfo read_cpu_info() {
  std::ifstream file("/proc/cpuinfo");
  CpuInfo info = parse_cpu_info(file);
  if (info.logical_cpus == 0) {
    info.logical_cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    info.physical_cores = info.logical_cpus;
  }
  return info;
}

}  // namespace bottega::hw
