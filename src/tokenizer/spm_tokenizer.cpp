#include "tokenizer/spm_tokenizer.h"

#include <limits>
#include <optional>
#include <queue>

#include "core/error.h"

namespace bottega::tokenizer {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Bytes in the UTF-8 sequence a byte starts, from its high nibble. Continuation and invalid
// bytes count as one-byte characters, exactly as llama.cpp splits text, so the merge order (and
// hence the ids) match it even for malformed input.
size_t utf8_sequence_length(char lead) {
  static constexpr size_t kByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kByHighNibble[static_cast<uint8_t>(lead) >> 4];
}

std::string byte_token_text(uint8_t byte) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The byte a "<0xXX>" token stands for.
std::optional<char> parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return std::nullopt;
  const int hi = hex_digit(text[3]);
  const int lo = hex_digit(text[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<char>(hi * 16 + lo);
}

// Appends text with every space spelled "▁", after a "▁" dummy prefix when asked.
void append_escaped(std::string_view text, bool dummy_prefix, std::string& out) {
  out.reserve(out.size() + text.size() + 8);
  if (dummy_prefix) out += kSpaceMark;
  for (const char c : text) {
    if (c == ' ') {
      out += kSpaceMark;
    } else {
      out += c;
    }
  }
}

std::string unescape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    if (text.substr(at, kSpaceMark.size()) == kSpaceMark) {
      out += ' ';
      at += kSpaceMark.size();
    } else {
      out += text[at++];
    }
  }
  return out;
}

// A run of the text in the linked list of symbols being merged; n == 0 once merged away.
struct Symbol {
  uint32_t begin = 0;
  uint32_t n = 0;
  int32_t prev = -1;
  int32_t next = -1;
};

// A candidate merge of two adjacent symbols into the piece of that score.
struct Bigram {
  float score = 0.0f;
  int32_t left = -1;
  int32_t right = -1;
  uint32_t size = 0;  // bytes of the merged piece, to detect a candidate gone stale
};

// Highest score on top; among equal scores the leftmost pair (llama.cpp's order).
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// The merge state for one fragment.
class Merger {
 public:
  Merger(std::string_view text, const Vocab& vocab, const TokenIndex& index)
      : text_(text), vocab_(vocab), index_(index) {
    split_characters();
    for (int32_t i = 1; i < static_cast<int32_t>(symbols_.size()); ++i) try_add_bigram(i - 1, i);
  }

  void merge_all() {
    while (!queue_.empty()) {
      const Bigram bigram = queue_.top();
      queue_.pop();
      Symbol& left = symbols_[static_cast<size_t>(bigram.left)];
      Symbol& right = symbols_[static_cast<size_t>(bigram.right)];
      // Either side was merged into something else since the candidate was queued.
      if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) continue;

      left.n += right.n;
      right.n = 0;
      left.next = right.next;
      if (right.next >= 0) symbols_[static_cast<size_t>(right.next)].prev = bigram.left;

      try_add_bigram(left.prev, bigram.left);
      try_add_bigram(bigram.left, left.next);
    }
  }

  // The surviving symbols' texts in order.
  template <typename Fn>
  void for_each_symbol(Fn&& fn) const {
    for (int32_t i = symbols_.empty() ? -1 : 0; i != -1;
         i = symbols_[static_cast<size_t>(i)].next) {
      fn(view(symbols_[static_cast<size_t>(i)]));
    }
  }

 private:
  std::string_view view(const Symbol& s) const { return text_.substr(s.begin, s.n); }

  void split_characters() {
    symbols_.reserve(text_.size());
    for (size_t at = 0; at < text_.size();) {
      const size_t n = std::min(utf8_sequence_length(text_[at]), text_.size() - at);
      const auto index = static_cast<int32_t>(symbols_.size());
      symbols_.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(n), index - 1,
                          at + n == text_.size() ? -1 : index + 1});
      at += n;
    }
  }

  void try_add_bigram(int32_t left, int32_t right) {
    if (left == -1 || right == -1) return;
    const Symbol& l = symbols_[static_cast<size_t>(left)];
    const Symbol& r = symbols_[static_cast<size_t>(right)];
    const int32_t id = index_.find(text_.substr(l.begin, l.n + r.n));
    if (id == -1) return;
    queue_.push({vocab_.scores[static_cast<size_t>(id)], left, right, l.n + r.n});
  }

  std::string_view text_;
  const Vocab& vocab_;
  const TokenIndex& index_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue_;
};

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
  // llama.cpp's byte fallback: the "<0xXX>" token, else a piece that is the byte itself.
  for (int b = 0; b < 256; ++b) {
    int32_t id = index().find(byte_token_text(static_cast<uint8_t>(b)));
    if (id == -1) id = index().find(std::string(1, static_cast<char>(b)));
    byte_token_[static_cast<size_t>(b)] = id;
  }
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 2 + 4);
  if (add_special && vocab().add_bos) out.push_back(vocab().bos);

  // The dummy prefix goes before the text and, as in llama.cpp, after every special token, so a
  // fragment tokenizes the same whether or not a special token precedes it.
  bool after_special = true;
  std::string escaped;
  for (const Fragment& fragment : split_special(text, parse_special)) {
    if (fragment.token != -1) {
      out.push_back(fragment.token);
      after_special = true;
      continue;
    }
    escaped.clear();
    append_escaped(fragment.text, vocab().add_space_prefix && after_special, escaped);
    encode_fragment(escaped, out);
    after_special = false;
  }

  if (add_special && vocab().add_eos) out.push_back(vocab().eos);
  return out;
}

void SpmTokenizer::encode_fragment(std::string_view text, std::vector<int32_t>& out) const {
  // Symbols address the text with 32-bit offsets (half the memory of size_t in the hot loop).
  if (text.size() > std::numeric_limits<uint32_t>::max()) {
    throw Error(str("text of ", text.size(), " bytes is too long to tokenize in one piece"));
  }
  Merger merger(text, vocab(), index());
  merger.merge_all();
  // llama.cpp then "resegments" each symbol: its id, else the two symbols it was merged from,
  // recursively, else its bytes. Merges only ever form vocabulary pieces, so a symbol without an
  // id is always a single unmerged character and the recursion reduces to the byte fallback.
  merger.for_each_symbol([&](std::string_view symbol) {
    const int32_t id = index().find(symbol);
    if (id != -1) {
      out.push_back(id);
    } else {
      encode_bytes(symbol, out);
    }
  });
}

void SpmTokenizer::encode_bytes(std::string_view symbol, std::vector<int32_t>& out) const {
  const size_t start = out.size();
  for (const char c : symbol) {
    const int32_t id = byte_token_[static_cast<uint8_t>(c)];
    if (id == -1) {
      // Without byte fallback the character is unknown, one <unk> for all its bytes (as
      // SentencePiece does).
      out.resize(start);
      if (vocab().unk == -1) {
        throw Error(str("cannot encode byte 0x", std::hex,
                        static_cast<int>(static_cast<uint8_t>(c)),
                        ": the vocabulary has neither byte tokens nor an unknown token"));
      }
      out.push_back(vocab().unk);
      return;
    }
    out.push_back(id);
  }
}

std::string SpmTokenizer::token_to_piece(int32_t id, bool render_special) const {
  if (!vocab().valid_id(id)) {
    throw Error(
        str("token id ", id, " is out of range for a vocabulary of ", n_vocab(), " tokens"));
  }
  const std::string& text = vocab().text(id);
  switch (vocab().type(id)) {
    case Vocab::TokenType::kNormal:
      return unescape_spaces(text);
    case Vocab::TokenType::kByte: {
      if (const std::optional<char> byte = parse_byte_token(text)) return std::string(1, *byte);
      return unescape_spaces(text);
    }
    case Vocab::TokenType::kUserDefined:
      return text;
    case Vocab::TokenType::kControl:
    case Vocab::TokenType::kUnknown:
      return render_special ? text : std::string();
    case Vocab::TokenType::kUndefined:
    case Vocab::TokenType::kUnused:
      return {};  // llama.cpp renders these as nothing
  }
  return {};
}

}  // namespace bottega::tokenizer
