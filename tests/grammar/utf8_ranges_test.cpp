#include "grammar/utf8_ranges.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/utf8.h"

namespace bottega::grammar {
namespace {

bool sequences_match(const std::vector<ByteRangeSequence>& seqs, const std::string& bytes) {
  for (const auto& s : seqs) {
    if (s.size() != bytes.size()) continue;
    bool all = true;
    for (size_t k = 0; k < s.size() && all; ++k) {
      const auto b = static_cast<uint8_t>(bytes[k]);
      all = b >= s[k].first && b <= s[k].second;
    }
    if (all) return true;
  }
  return false;
}

// Every code point, in or out of random ranges, is matched exactly when it is in them.
TEST(Utf8Ranges, ExactlyTheCodePointsOfRandomRanges) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 6; ++trial) {
    std::vector<CodePointRange> ranges;
    for (int i = 0; i < 3; ++i) {
      const char32_t a = rng() % 0x110000, b = rng() % 0x110000;
      ranges.push_back({std::min(a, b), std::max(a, b)});
    }
    ranges.push_back({0x7E, 0x801});  // across the 1-, 2- and 3-byte boundaries
    const auto seqs = utf8_sequences(ranges);
    for (char32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x11000 ? 1 : 97)) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      bool in = false;
      for (const auto& r : ranges) in = in || (cp >= r.lo && cp <= r.hi);
      std::string bytes;
      utf8::append(cp, bytes);
      ASSERT_EQ(sequences_match(seqs, bytes), in) << "U+" << std::hex << uint32_t(cp);
    }
  }
}

TEST(Utf8Ranges, ComplementCoversTheRest) {
  const auto c = complement({{0x41, 0x5A}, {0x50, 0x60}, {0x10FFFF, 0x10FFFF}});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].lo, 0u);
  EXPECT_EQ(c[0].hi, 0x40u);
  EXPECT_EQ(c[1].lo, 0x61u);
  EXPECT_EQ(c[1].hi, 0x10FFFEu);
}

TEST(Utf8Ranges, SurrogatesAreNeverEncoded) {
  const auto seqs = utf8_sequences({{0xD000, 0xE000}});
  std::string s;
  utf8::append(0xD7FF, s);
  EXPECT_TRUE(sequences_match(seqs, s));
  EXPECT_FALSE(sequences_match(seqs, "\xED\xA0\x80"));  // U+D800's would-be bytes
  EXPECT_FALSE(sequences_match(seqs, "\xED\xBF\xBF"));  // U+DFFF's
}

}  // namespace
}  // namespace bottega::grammar
