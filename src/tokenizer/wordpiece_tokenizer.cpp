#include "tokenizer/wordpiece_tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "core/utf8.h"
#include "tokenizer/unicode.h"

namespace bottega::tokenizer {

namespace {

constexpr std::string_view kPhantomSpace = "\xE2\x96\x81";  // U+2581, llama.cpp's word marker

// The CJK ideograph blocks BERT isolates (its _is_chinese_char): Unified Ideographs, Extensions A
// to E and the Compatibility Ideographs. Hangul, kana and CJK punctuation are not among them.
bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// BERT's _is_punctuation: every P* character, and the ASCII symbols ($, +, <, =, >, ^, `, |, ~).
bool is_word_by_itself(char32_t cp, uint8_t category) {
  if (category & unicode::kPunctuation) return true;
  if (cp < 0x80 && (category & unicode::kSymbol)) return true;
  return is_cjk_ideograph(cp);
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
  if (this->vocab().unk == -1) {
    throw Error(
        "tokenizer.ggml.unknown_token_id: missing; a WordPiece (\"bert\") vocabulary needs an "
        "unknown token for words it cannot spell");
  }
  for (const std::string& token : this->vocab().tokens) {
    max_token_bytes_ = std::max(max_token_bytes_, token.size());
  }
}

std::vector<std::string> WordPieceTokenizer::split_words(std::string_view text) {
  std::u32string cps;
  cps.reserve(text.size());
  for (size_t at = 0; at < text.size();) cps += unicode::decode_utf8(text, at);

  std::vector<std::string> words(1);
  const auto end_word = [&] {
    if (!words.back().empty()) words.emplace_back();
  };
  for (const char32_t cp : unicode::nfd(cps)) {
    if (unicode::is_white_space(cp)) {
      end_word();
      continue;
    }
    const uint8_t category = unicode::category(cp);
    if (cp == 0 || cp == unicode::kReplacementCharacter || (category & unicode::kOther)) continue;
    if (category & unicode::kNonspacingMark) continue;  // the accents NFD split off
    if (is_word_by_itself(cp, category)) {
      end_word();
      utf8::append(unicode::to_lower(cp), words.back());
      end_word();
      continue;
    }
    utf8::append(unicode::to_lower(cp), words.back());
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, bool add_special,
                                                bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && vocab().add_bos) out.push_back(vocab().bos);
  for (const Fragment& fragment : split_special(text, parse_special)) {
    if (fragment.token != -1) {
      out.push_back(fragment.token);
      continue;
    }
    for (const std::string& word : split_words(fragment.text)) encode_word(word, out);
  }
  if (add_special && vocab().add_eos) out.push_back(vocab().eos);
  return out;
}

void WordPieceTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  std::string marked;
  marked.reserve(kPhantomSpace.size() + word.size());
  marked.append(kPhantomSpace).append(word);
  const std::string_view rest_of_word = marked;
  const size_t first_token = out.size();
  for (size_t at = 0; at < rest_of_word.size();) {
    int32_t id = -1;
    size_t end = std::min(rest_of_word.size(), at + max_token_bytes_);
    for (; end > at; --end) {
      id = find_token(rest_of_word.substr(at, end - at));
      if (id != -1) break;
    }
    if (id == -1) {
      out.resize(first_token);
      out.push_back(vocab().unk);
      return;
    }
    out.push_back(id);
    at = end;
  }
}

std::string WordPieceTokenizer::token_to_piece(int32_t id, bool render_special) const {
  if (!vocab().valid_id(id)) {
    throw Error(
        str("token id ", id, " is out of range for a vocabulary of ", n_vocab(), " tokens"));
  }
  const std::string& text = vocab().text(id);
  switch (vocab().type(id)) {
    case Vocab::TokenType::kControl:
    case Vocab::TokenType::kUnknown:
      return render_special ? text : std::string();
    default:
      break;
  }
  // A word-initial piece reads as a space and the word; a continuation joins the previous piece.
  if (text.starts_with(kPhantomSpace)) {
    std::string piece(1, ' ');
    piece.append(text, kPhantomSpace.size());
    return piece;
  }
  return text;
}

}  // namespace bottega::tokenizer
