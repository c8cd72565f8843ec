#include "core/format.h"

#include <cstdio>

namespace bottega {

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", value, units[unit]);
  return text;
}

std::string human_count(uint64_t count) {
  const char* suffixes[] = {"", "K", "M", "B", "T"};
  double value = static_cast<double>(count);
  int index = 0;
  while (value >= 1000.0 && index < 4) {
    value /= 1000.0;
    ++index;
  }
  char text[32];
  std::snprintf(text, sizeof text, index == 0 ? "%.0f%s" : "%.2f%s", value, suffixes[index]);
  return text;
}

}  // namespace bottega
