// Numbers as people read them: sizes in binary units, counts with K/M/B suffixes.
#pragma once

#include <cstdint>
#include <string>

namespace bottega {

std::string human_bytes(uint64_t bytes);  // "606.53 MiB"
std::string human_count(uint64_t count);  // "1.10B", "260K"

}  // namespace bottega
