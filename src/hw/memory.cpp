#include "hw/memory.h"

#include <sys/resource.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace bottega::hw {
namespace {

// "Key:   123 kB" -> 123 * 1024 when the line starts with key.
std::optional<uint64_t> kib_value(const std::string& line, const std::string& key) {
  if (line.rfind(key, 0) != 0) return std::nullopt;
  std::istringstream in(line.substr(key.size()));
  uint64_t kib = 0;
  if (!(in >> kib)) return std::nullopt;
  return kib * 1024;
}

}  // namespace

MemoryInfo parse_meminfo(std::istream& meminfo) {
  MemoryInfo info;
  std::optional<uint64_t> available, free;
  for (std::string line; std::getline(meminfo, line);) {
    if (auto v = kib_value(line, "MemTotal:")) info.total_bytes = *v;
    if (auto v = kib_value(line, "MemAvailable:")) available = v;
    if (auto v = kib_value(line, "MemFree:")) free = v;
  }
  info.available_bytes = available.value_or(free.value_or(0));
  return info;
}

MemoryInfo read_memory_info() {
  std::ifstream file("/proc/meminfo");
  return parse_meminfo(file);
}

uint64_t peak_resident_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (auto v = kib_value(line, "VmHWM:")) return *v;
  }
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // kilobytes on Linux
}

}  // namespace bottega::hw
