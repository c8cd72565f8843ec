#include "tokenizer/unicode.h"

#include <algorithm>
#include <utility>

#include "core/utf8.h"
#include "tokenizer/unicode_tables.h"

namespace bottega::tokenizer::unicode {

namespace tables = unicode_tables;

namespace {

// Hangul syllables decompose and compose by arithmetic (Unicode chapter 3.12).
constexpr char32_t kHangulBase = 0xAC00;
constexpr char32_t kLeadBase = 0x1100;
constexpr char32_t kVowelBase = 0x1161;
constexpr char32_t kTrailBase = 0x11A7;
constexpr char32_t kVowelCount = 21;
constexpr char32_t kTrailCount = 28;
constexpr char32_t kSyllableCount = 19 * kVowelCount * kTrailCount;

template <typename Row>
const Row* find_range(const Row* rows, size_t count, char32_t cp) {
  const Row* end = rows + count;
  const Row* it =
      std::upper_bound(rows, end, cp, [](char32_t c, const Row& row) { return c < row.first; });
  if (it == rows) return nullptr;
  --it;
  return cp <= it->last ? it : nullptr;
}

void decompose(char32_t cp, std::u32string& out) {
  if (cp >= kHangulBase && cp < kHangulBase + kSyllableCount) {
    const char32_t index = cp - kHangulBase;
    out += kLeadBase + index / (kVowelCount * kTrailCount);
    out += kVowelBase + (index % (kVowelCount * kTrailCount)) / kTrailCount;
    if (index % kTrailCount != 0) out += kTrailBase + index % kTrailCount;
    return;
  }
  const tables::Decomposition* end = tables::kDecompositions + tables::kDecompositionCount;
  const tables::Decomposition* it =
      std::lower_bound(tables::kDecompositions, end, cp,
                       [](const tables::Decomposition& row, char32_t c) { return row.cp < c; });
  if (it == end || it->cp != cp) {
    out += cp;
    return;
  }
  out.append(tables::kDecompositionPool + it->offset, it->length);
}

// Canonical ordering: a stable sort of every run of non-starters by combining class.
void reorder(std::u32string& text) {
  for (size_t at = 0; at < text.size();) {
    if (combining_class(text[at]) == 0) {
      ++at;
      continue;
    }
    size_t end = at;
    while (end < text.size() && combining_class(text[end]) != 0) ++end;
    std::stable_sort(text.begin() + static_cast<std::ptrdiff_t>(at),
                     text.begin() + static_cast<std::ptrdiff_t>(end), [](char32_t a, char32_t b) {
                       return combining_class(a) < combining_class(b);
                     });
    at = end;
  }
}

char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kLeadBase && first < kLeadBase + 19 && second >= kVowelBase &&
      second < kVowelBase + kVowelCount) {
    return kHangulBase + ((first - kLeadBase) * kVowelCount + (second - kVowelBase)) * kTrailCount;
  }
  if (first >= kHangulBase && first < kHangulBase + kSyllableCount &&
      (first - kHangulBase) % kTrailCount == 0 && second > kTrailBase &&
      second < kTrailBase + kTrailCount) {
    return first + (second - kTrailBase);
  }
  const tables::Composition* end = tables::kCompositions + tables::kCompositionCount;
  const tables::Composition* it = std::lower_bound(
      tables::kCompositions, end, std::pair{first, second},
      [](const tables::Composition& row, const std::pair<char32_t, char32_t>& key) {
        return std::pair{row.first, row.second} < key;
      });
  if (it == end || it->first != first || it->second != second) return 0;
  return it->composite;
}

// Canonical composition of an NFD string, in place.
void compose(std::u32string& text) {
  if (text.empty()) return;
  size_t starter = 0;  // index of the last starter, or npos before the first one
  bool have_starter = combining_class(text[0]) == 0;
  size_t write = 1;
  int last_class = have_starter ? 0 : 256;
  for (size_t read = 1; read < text.size(); ++read) {
    const char32_t c = text[read];
    const int cls = combining_class(c);
    // c is not blocked from the starter when nothing between them has a class >= its own.
    const bool blocked = write - 1 != starter && (last_class == 0 || last_class >= cls);
    if (have_starter && !blocked) {
      if (const char32_t composite = compose_pair(text[starter], c); composite != 0) {
        text[starter] = composite;
        continue;
      }
    }
    if (cls == 0) {
      starter = write;
      have_starter = true;
    }
    last_class = cls;
    text[write++] = c;
  }
  text.resize(write);
}

std::u32string to_code_points(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t at = 0; at < text.size();) out += decode_utf8(text, at);
  return out;
}

}  // namespace

char32_t decode_utf8(std::string_view text, size_t& at) {
  const auto lead = static_cast<uint8_t>(text[at]);
  if (lead < 0x80) {
    ++at;
    return lead;
  }
  size_t n = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
    cp = lead & 0x1F;
    min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    cp = lead & 0x0F;
    min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    cp = lead & 0x07;
    min = 0x10000;
  } else {
    ++at;
    return kReplacementCharacter;
  }
  if (text.size() - at < n) {
    ++at;
    return kReplacementCharacter;
  }
  for (size_t i = 1; i < n; ++i) {
    const auto c = static_cast<uint8_t>(text[at + i]);
    if ((c & 0xC0) != 0x80) {
      ++at;
      return kReplacementCharacter;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++at;
    return kReplacementCharacter;
  }
  at += n;
  return cp;
}

uint8_t category(char32_t cp) {
  const tables::CategoryRange* row =
      find_range(tables::kCategoryRanges, tables::kCategoryRangeCount, cp);
  return row == nullptr ? static_cast<uint8_t>(kOther) : row->flags;
}

bool is_white_space(char32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

char32_t to_lower(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  const tables::CaseMapping* end = tables::kLowercase + tables::kLowercaseCount;
  const tables::CaseMapping* it =
      std::lower_bound(tables::kLowercase, end, cp,
                       [](const tables::CaseMapping& row, char32_t c) { return row.cp < c; });
  return it != end && it->cp == cp ? it->mapped : cp;
}

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const tables::CombiningRange* row =
      find_range(tables::kCombiningRanges, tables::kCombiningRangeCount, cp);
  return row == nullptr ? 0 : row->ccc;
}

std::u32string nfd(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (const char32_t cp : text) decompose(cp, out);
  reorder(out);
  return out;
}

bool quick_nfc(std::string_view text) {
  // Every character below U+0300 is a starter that NFC leaves alone and that nothing below U+0300
  // composes with; their UTF-8 lead bytes are below 0xCC.
  for (const char c : text) {
    if (static_cast<uint8_t>(c) >= 0xCC) return false;  // lead bytes of U+0300 and above
  }
  return true;
}

std::string nfc(std::string_view text) {
  if (quick_nfc(text)) return std::string(text);
  std::u32string cps = nfd(to_code_points(text));
  compose(cps);
  std::string out;
  out.reserve(text.size());
  for (const char32_t cp : cps) utf8::append(cp, out);
  return out;
}

}  // namespace bottega::tokenizer::unicode
