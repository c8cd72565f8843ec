// The Unicode operations tokenizers need, on UTF-8 text and code points: decoding and encoding,
// general-category groups, White_Space, simple lowercase, and canonical normalization (NFD, NFC).
// Tables come from scripts/gen_unicode_tables.py; no ICU dependency.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bottega::tokenizer::unicode {

// General-category groups (the first letter of the category) as bits, plus Mn on its own.
enum Category : uint8_t {
  kLetter = 1,
  kNumber = 2,
  kMark = 4,
  kPunctuation = 8,
  kSymbol = 16,
  kSeparator = 32,
  kOther = 64,  // Cc, Cf, Cs, Co and unassigned
  kNonspacingMark = 128,
};

constexpr char32_t kReplacementCharacter = 0xFFFD;

// The code point at text[at], advancing `at` past it. Invalid UTF-8 decodes as U+FFFD and
// advances one byte, so every byte of the input is consumed.
char32_t decode_utf8(std::string_view text, size_t& at);

uint8_t category(char32_t cp);
bool is_white_space(char32_t cp);  // the Unicode White_Space property
char32_t to_lower(char32_t cp);    // simple (one-to-one) lowercase mapping
uint8_t combining_class(char32_t cp);

// Canonical decomposition with canonical ordering (NFD) and, for nfc, recomposition.
std::u32string nfd(std::u32string_view text);
std::string nfc(std::string_view text);
// True when text certainly is NFC already (only ASCII and characters without combining
// behaviour); a false answer means "maybe not", and nfc() decides.
bool quick_nfc(std::string_view text);

}  // namespace bottega::tokenizer::unicode
