// How much memory the machine has and how much this process has used.
#pragma once

#include <cstdint>
#include <istream>

namespace bottega::hw {

struct MemoryInfo {
  uint64_t total_bytes = 0;
  // What the kernel estimates can be given to a new process without swapping (MemAvailable:
  // free memory plus reclaimable page cache); MemFree where that line is missing.
  uint64_t available_bytes = 0;
};

// Parses text in /proc/meminfo's format ("MemTotal:  16318412 kB").
MemoryInfo parse_meminfo(std::istream& meminfo);
// This machine's; zeros where /proc/meminfo cannot be read.
MemoryInfo read_memory_info();

// Peak resident set of this process (VmHWM), or ru_maxrss where /proc does not tell.
uint64_t peak_resident_bytes();

}  // namespace bottega::hw
