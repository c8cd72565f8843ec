#include "grammar/utf8_ranges.h"

#include <algorithm>
#include <string>

#include "core/utf8.h"

namespace bottega::grammar {

namespace {

constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr char32_t kSurrogateLo = 0xD800;
constexpr char32_t kSurrogateHi = 0xDFFF;

std::vector<CodePointRange> normalise(std::vector<CodePointRange> ranges) {
  std::vector<CodePointRange> clipped;
  for (auto r : ranges) {
    if (r.lo > r.hi || r.lo > kMaxCodePoint) continue;
    r.hi = std::min(r.hi, kMaxCodePoint);
    clipped.push_back(r);
  }
  std::sort(clipped.begin(), clipped.end(),
            [](const CodePointRange& a, const CodePointRange& b) { return a.lo < b.lo; });
  std::vector<CodePointRange> merged;
  for (const auto& r : clipped) {
    if (!merged.empty() && r.lo <= merged.back().hi + 1) {
      merged.back().hi = std::max(merged.back().hi, r.hi);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

// Emits the sequences of [lo, hi], a range whose code points all encode to the same length and
// contain no surrogate. Splits it until every byte position varies independently.
void split_range(char32_t lo, char32_t hi, std::vector<ByteRangeSequence>& out) {
  static constexpr char32_t kLengthEnds[] = {0x7F, 0x7FF, 0xFFFF};
  for (char32_t end : kLengthEnds) {
    if (lo <= end && hi > end) {
      split_range(lo, end, out);
      split_range(end + 1, hi, out);
      return;
    }
  }
  std::string a, b;
  utf8::append(lo, a);
  utf8::append(hi, b);
  // Continuation bytes carry 6 bits each: below the first position where lo and hi differ, every
  // lower position must span its whole range, else the range is cut there.
  const size_t n = a.size();
  for (size_t i = 1; i < n; ++i) {
    const char32_t mask = (char32_t{1} << (6 * i)) - 1;
    if ((lo & ~mask) != (hi & ~mask)) {
      if ((lo & mask) != 0) {
        split_range(lo, lo | mask, out);
        split_range((lo | mask) + 1, hi, out);
        return;
      }
      if ((hi & mask) != mask) {
        split_range(lo, (hi & ~mask) - 1, out);
        split_range(hi & ~mask, hi, out);
        return;
      }
    }
  }
  ByteRangeSequence seq;
  for (size_t k = 0; k < n; ++k) {
    seq.emplace_back(static_cast<uint8_t>(a[k]), static_cast<uint8_t>(b[k]));
  }
  out.push_back(std::move(seq));
}

}  // namespace

std::vector<CodePointRange> complement(std::vector<CodePointRange> ranges) {
  std::vector<CodePointRange> out;
  char32_t next = 0;
  for (const auto& r : normalise(std::move(ranges))) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
  return out;
}

std::vector<ByteRangeSequence> utf8_sequences(const std::vector<CodePointRange>& ranges) {
  std::vector<ByteRangeSequence> out;
  for (const auto& r : normalise(ranges)) {
    if (r.lo < kSurrogateLo && r.hi > kSurrogateHi) {
      split_range(r.lo, kSurrogateLo - 1, out);
      split_range(kSurrogateHi + 1, r.hi, out);
    } else if (r.hi < kSurrogateLo || r.lo > kSurrogateHi) {
      split_range(r.lo, r.hi, out);
    } else {
      if (r.lo < kSurrogateLo) split_range(r.lo, kSurrogateLo - 1, out);
      if (r.hi > kSurrogateHi) split_range(kSurrogateHi + 1, r.hi, out);
    }
  }
  return out;
}

}  // namespace bottega::grammar
