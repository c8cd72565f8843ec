// Code point ranges as UTF-8 byte sequences: how a character class becomes byte terminals.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace bottega::grammar {

struct CodePointRange {
  char32_t lo;
  char32_t hi;  // inclusive
};

// One UTF-8 encoding pattern: byte k lies in [ranges[k].first, ranges[k].second].
using ByteRangeSequence = std::vector<std::pair<uint8_t, uint8_t>>;

// The byte-range sequences whose union is exactly the UTF-8 encodings of the code points in
// `ranges` (surrogates and values above U+10FFFF are never encoded). The ranges may overlap.
std::vector<ByteRangeSequence> utf8_sequences(const std::vector<CodePointRange>& ranges);

// The complement of `ranges` within the valid code points (U+0000..U+10FFFF).
std::vector<CodePointRange> complement(std::vector<CodePointRange> ranges);

}  // namespace bottega::grammar
