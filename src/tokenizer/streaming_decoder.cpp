#include "tokenizer/streaming_decoder.h"

#include <algorithm>
#include <string_view>

namespace bottega::tokenizer {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

enum class Utf8Status { kComplete, kIncomplete, kInvalid };

struct Utf8Scan {
  Utf8Status status;
  size_t length;  // kComplete: the character; kInvalid: bytes to replace by one U+FFFD
};

// The range the second byte of a sequence may take given its lead byte (Unicode table 3-7), which
// rules out overlong forms, surrogates and code points above U+10FFFF.
struct LeadRule {
  size_t length;
  uint8_t second_min;
  uint8_t second_max;
};

LeadRule lead_rule(uint8_t lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return {2, 0x80, 0xBF};
  if (lead == 0xE0) return {3, 0xA0, 0xBF};
  if (lead == 0xED) return {3, 0x80, 0x9F};
  if (lead >= 0xE1 && lead <= 0xEF) return {3, 0x80, 0xBF};
  if (lead == 0xF0) return {4, 0x90, 0xBF};
  if (lead >= 0xF1 && lead <= 0xF3) return {4, 0x80, 0xBF};
  if (lead == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};  // a continuation byte or a byte that never appears in UTF-8
}

// Classifies the sequence starting at `at`. An invalid sequence is replaced one "maximal subpart"
// at a time (the W3C/Unicode recommendation): the valid prefix up to the offending byte.
Utf8Scan scan_utf8(std::string_view bytes, size_t at) {
  const auto lead = static_cast<uint8_t>(bytes[at]);
  if (lead < 0x80) return {Utf8Status::kComplete, 1};
  const LeadRule rule = lead_rule(lead);
  if (rule.length == 0) return {Utf8Status::kInvalid, 1};
  for (size_t k = 1; k < rule.length; ++k) {
    if (at + k >= bytes.size()) return {Utf8Status::kIncomplete, 0};
    const auto byte = static_cast<uint8_t>(bytes[at + k]);
    const uint8_t min = k == 1 ? rule.second_min : 0x80;
    const uint8_t max = k == 1 ? rule.second_max : 0xBF;
    if (byte < min || byte > max) return {Utf8Status::kInvalid, k};
  }
  return {Utf8Status::kComplete, rule.length};
}

}  // namespace

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, StreamingDecoderOptions options)
    : tokenizer_(tokenizer), options_(options), at_text_start_(options.at_text_start) {}

std::string StreamingDecoder::push(int32_t id) {
  const bool render =
      options_.render_special ||
      std::find(rendered_tokens_.begin(), rendered_tokens_.end(), id) != rendered_tokens_.end();
  std::string piece = tokenizer_.token_to_piece(id, render);
  if (piece.empty()) return {};  // invisible tokens do not end the text start (see decode())
  if (at_text_start_ && tokenizer_.strips_leading_space() && piece.front() == ' ') {
    piece.erase(0, 1);
  }
  at_text_start_ = false;

  pending_ += piece;
  std::string out;
  out.reserve(pending_.size());
  size_t at = 0;
  while (at < pending_.size()) {
    const Utf8Scan scan = scan_utf8(pending_, at);
    if (scan.status == Utf8Status::kIncomplete) break;  // wait for the rest of the character
    if (scan.status == Utf8Status::kComplete) {
      out.append(pending_, at, scan.length);
    } else {
      out += kReplacement;
    }
    at += scan.length;
  }
  pending_.erase(0, at);
  return out;
}

std::string StreamingDecoder::flush() {
  if (pending_.empty()) return {};
  pending_.clear();
  // What is held back is always the valid start of one sequence: one replacement character.
  return std::string(kReplacement);
}

}  // namespace bottega::tokenizer
