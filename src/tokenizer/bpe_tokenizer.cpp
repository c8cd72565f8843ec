#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>
#include <unordered_map>

#include "core/error.h"
#include "core/utf8.h"
#include "gguf/gguf.h"
#include "tokenizer/unicode.h"

namespace bottega::tokenizer {

namespace {

// GPT-2's bytes_to_unicode(): the printable bytes of Latin-1 stand for themselves; the other 68
// (controls, space, DEL, NBSP, soft hyphen) become U+0100, U+0101, ... in byte order, so every
// byte is one visible character and no token text contains a space.
struct ByteLevelMap {
  std::array<uint16_t, 256> codepoint{};  // byte -> character
  std::array<int16_t, 0x144> byte{};      // character (< U+0144) -> byte, -1 if none
};

constexpr bool stands_for_itself(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

constexpr ByteLevelMap make_byte_level_map() {
  ByteLevelMap map;
  for (int16_t& b : map.byte) b = -1;
  int next = 0x100;
  for (int b = 0; b < 256; ++b) {
    const int cp = stands_for_itself(b) ? b : next++;
    map.codepoint[static_cast<size_t>(b)] = static_cast<uint16_t>(cp);
    map.byte[static_cast<size_t>(cp)] = static_cast<int16_t>(b);
  }
  return map;
}

constexpr ByteLevelMap kByteLevel = make_byte_level_map();

// The UTF-8 spelling of byte b's character (1 or 2 bytes: every character is below U+0800).
void append_byte_char(uint8_t b, std::string& out) {
  const uint16_t cp = kByteLevel.codepoint[b];
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string byte_char(uint8_t b) {
  std::string s;
  append_byte_char(b, s);
  return s;
}

// The code point of the UTF-8 sequence at text[at], advancing at; nullopt for invalid UTF-8.
// Token texts come from the file, so nothing is assumed about them.
std::optional<uint32_t> next_codepoint(std::string_view text, size_t& at) {
  const auto lead = static_cast<uint8_t>(text[at]);
  size_t n = 1;
  uint32_t cp = lead;
  if (lead >= 0xF0) {
    n = 4;
    cp = lead & 0x07;
  } else if (lead >= 0xE0) {
    n = 3;
    cp = lead & 0x0F;
  } else if (lead >= 0xC0) {
    n = 2;
    cp = lead & 0x1F;
  } else if (lead >= 0x80) {
    return std::nullopt;
  }
  if (text.size() - at < n) return std::nullopt;
  for (size_t i = 1; i < n; ++i) {
    const auto c = static_cast<uint8_t>(text[at + i]);
    if ((c & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (c & 0x3F);
  }
  at += n;
  return cp;
}

// The bytes a byte-level token text stands for; nullopt when a character is not in the map.
std::optional<std::string> byte_level_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    const std::optional<uint32_t> cp = next_codepoint(text, at);
    if (!cp || *cp >= kByteLevel.byte.size() || kByteLevel.byte[*cp] < 0) return std::nullopt;
    out += static_cast<char>(kByteLevel.byte[*cp]);
  }
  return out;
}

// Token texts and merge operands -> symbol ids: the token id, else an id past the vocabulary for a
// text that only occurs in the merge list.
class SymbolIds {
 public:
  SymbolIds(const TokenIndex& index, int32_t n_vocab) : index_(index), n_vocab_(n_vocab) {}

  int32_t intern(const std::string& text) {
    const int32_t id = find(text);
    if (id != -1) return id;
    if (extra_.size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max() - n_vocab_)) {
      throw Error("tokenizer.ggml.merges: too many merge operands that are not tokens");
    }
    const auto fresh = static_cast<int32_t>(n_vocab_ + extra_.size());
    extra_.emplace(text, fresh);
    return fresh;
  }

  int32_t find(const std::string& text) const {
    const int32_t id = index_.find(text);
    if (id != -1) return id;
    const auto it = extra_.find(text);
    return it == extra_.end() ? -1 : it->second;
  }

 private:
  const TokenIndex& index_;
  int32_t n_vocab_;
  std::unordered_map<std::string, int32_t> extra_;
};

uint64_t merge_key(int32_t left, int32_t right) {
  return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
}

size_t merge_hash(uint64_t key) {
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 32);  // Fibonacci hashing
}

// A symbol of the word being merged: bytes [begin, begin + size) of the word. size 0: merged away.
struct Symbol {
  int32_t id = -1;
  uint32_t begin = 0;
  uint32_t size = 0;
  int32_t prev = -1;
  int32_t next = -1;
};

// A possible merge of a symbol with its next one, as they were when it was queued. `order` packs
// rank and position so one compare gives llama.cpp's order: the lowest rank first, and among equal
// ranks the leftmost pair (which decides "aaa" with the merge "a a": (aa)a, not a(aa)).
struct Candidate {
  uint64_t order = 0;  // rank << 32 | left symbol
  uint32_t size = 0;   // bytes of the two symbols then; any merge since changes the sum
  int32_t result = -1;
  int32_t left() const { return static_cast<int32_t>(order & 0xFFFFFFFFu); }
};

struct ComesLater {
  bool operator()(const Candidate& a, const Candidate& b) const { return a.order > b.order; }
};

constexpr std::string_view kBosKey = "tokenizer.ggml.bos_token_id";
constexpr std::string_view kEosKey = "tokenizer.ggml.eos_token_id";
constexpr std::string_view kAddBosKey = "tokenizer.ggml.add_bos_token";
constexpr int32_t kDefaultBpeBosEos = 11;  // llama.cpp's default: Falcon's <|endoftext|>

BpeOptions options_for_pre(std::string_view pre) {
  const PreTokenizerSpec& spec = pre_tokenizer_spec(pre);
  BpeOptions options;
  for (const std::string_view regex : spec.regexes) options.splits.push_back({std::string(regex)});
  options.ignore_merges = spec.ignore_merges;
  return options;
}

constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t at = 0;
  for (size_t hit = text.find(from); hit != std::string::npos; hit = text.find(from, at)) {
    out.append(text, at, hit - at).append(to);
    at = hit + from.size();
  }
  if (at == 0) return;
  out.append(text, at);
  text.swap(out);
}

// "<0xAB>" -> 0xAB; -1 for any other text.
int byte_token_value(std::string_view text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text.back() != '>') return -1;
  int value = 0;
  for (const char c : text.substr(3, 2)) {
    value *= 16;
    if (c >= '0' && c <= '9') {
      value += c - '0';
    } else if (c >= 'A' && c <= 'F') {
      value += c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      value += c - 'a' + 10;
    } else {
      return -1;
    }
  }
  return value;
}

}  // namespace

struct BpeTokenizer::Scratch {
  std::string normalized;  // the fragment after the normalizer steps
  PreTokenizer::Scratch pre;
  std::vector<PreTokenizer::Word> words;
  std::string clean;    // the fragment with invalid UTF-8 replaced, when it had any
  std::string spelled;  // a word in byte-level characters (for ignore_merges)
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  // Short words already merged in this call -> their ids, [begin, end) of cached_ids. Natural text
  // repeats its words, and a lookup costs far less than the merges.
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>> word_cache;
  std::vector<int32_t> cached_ids;
};

namespace {
constexpr size_t kMaxCachedWordBytes = 15;  // fits std::string's inline buffer: no allocation
constexpr size_t kMaxCachedWords = 1 << 16;
}  // namespace

BpeTokenizer::BpeTokenizer(Vocab vocab)
    : Tokenizer(std::move(vocab)),
      options_(options_for_pre(this->vocab().pre)),
      pre_(std::span<const SplitRule>(options_.splits)) {
  build_merges();
}

BpeTokenizer::BpeTokenizer(Vocab vocab, BpeOptions options)
    : Tokenizer(std::move(vocab)),
      options_(std::move(options)),
      pre_(std::span<const SplitRule>(options_.splits)) {
  build_merges();
}

BpeTokenizer::~BpeTokenizer() = default;

void BpeTokenizer::build_merges() {
  const std::vector<std::string>& merges = vocab().merges;
  if (merges.empty()) {
    throw Error(
        "tokenizer.ggml.merges: missing or empty; a BPE (\"gpt2\") vocabulary needs its merge "
        "list, reconvert the model with a current llama.cpp");
  }
  if (merges.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw Error(str("tokenizer.ggml.merges: ", merges.size(), " entries are too many"));
  }
  size_t capacity = 16;
  while (capacity < 2 * merges.size()) capacity *= 2;
  merges_.assign(capacity, MergeSlot{});

  SymbolIds ids(index(), n_vocab());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& merge = merges[rank];
    // "left right", split at the first space after the first byte as llama.cpp does. An entry
    // without one becomes llama.cpp's ("", "") pair, which never matches: skipping it is the same.
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos) continue;
    const std::string left = merge.substr(0, space);
    const std::string right = merge.substr(space + 1);
    joined.assign(left).append(right);
    const int32_t left_id = ids.intern(left);
    const int32_t right_id = ids.intern(right);
    add_merge(left_id, right_id, static_cast<int32_t>(rank), ids.intern(joined));
  }

  for (int b = 0; b < 256; ++b) {
    const std::string c = byte_char(static_cast<uint8_t>(b));
    byte_symbol_[static_cast<size_t>(b)] = ids.find(c);
    byte_token_[static_cast<size_t>(b)] = index().find(c);
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    fallback_token_[static_cast<size_t>(b)] = index().find(name);
  }
}

void BpeTokenizer::add_merge(int32_t left, int32_t right, int32_t rank, int32_t result) {
  const uint64_t key = merge_key(left, right);
  const size_t mask = merges_.size() - 1;
  for (size_t at = merge_hash(key) & mask;; at = (at + 1) & mask) {
    MergeSlot& slot = merges_[at];
    if (slot.key == key) return;  // a repeated pair keeps its first (best) rank, as in llama.cpp
    if (slot.key == MergeSlot{}.key) {
      slot = {key, rank, result};
      return;
    }
  }
}

const BpeTokenizer::MergeSlot* BpeTokenizer::find_merge(int32_t left, int32_t right) const {
  const uint64_t key = merge_key(left, right);
  const size_t mask = merges_.size() - 1;
  for (size_t at = merge_hash(key) & mask;; at = (at + 1) & mask) {
    const MergeSlot& slot = merges_[at];
    if (slot.key == key) return &slot;
    if (slot.key == MergeSlot{}.key) return nullptr;
  }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && vocab().add_bos) out.push_back(vocab().bos);
  Scratch scratch;
  for (const Fragment& fragment : split_special(text, parse_special)) {
    if (fragment.token != -1) {
      out.push_back(fragment.token);
    } else {
      const bool starts_text = fragment.text.data() == text.data();
      encode_text(normalize(fragment.text, starts_text, scratch), scratch, out);
    }
  }
  if (add_special && vocab().add_eos) out.push_back(vocab().eos);
  return out;
}

std::string_view BpeTokenizer::normalize(std::string_view text, bool starts_text,
                                         Scratch& scratch) const {
  if (options_.normalizer.empty()) return text;
  std::string& out = scratch.normalized;
  out.assign(text);
  for (const NormalizerStep& step : options_.normalizer) {
    switch (step.kind) {
      case NormalizerStep::Kind::kNfc:
        if (!unicode::quick_nfc(out)) out = unicode::nfc(out);
        break;
      case NormalizerStep::Kind::kLowercase: {
        std::string lower;
        lower.reserve(out.size());
        for (size_t at = 0; at < out.size();) {
          utf8::append(unicode::to_lower(unicode::decode_utf8(out, at)), lower);
        }
        out.swap(lower);
        break;
      }
      case NormalizerStep::Kind::kReplace:
        replace_all(out, step.from, step.to);
        break;
      case NormalizerStep::Kind::kPrepend:
        if (!out.empty()) out.insert(0, step.to);
        break;
      case NormalizerStep::Kind::kPrependFirst:
        if (starts_text && !out.empty() && !out.starts_with(step.to)) out.insert(0, step.to);
        break;
    }
  }
  return out;
}

void BpeTokenizer::encode_text(std::string_view text, Scratch& scratch,
                               std::vector<int32_t>& out) const {
  // Word offsets are 32-bit (half the memory of size_t in the hot loop).
  if (text.size() > std::numeric_limits<uint32_t>::max() / 2) {
    throw Error(str("text of ", text.size(), " bytes is too long to tokenize in one piece"));
  }
  const std::string_view clean = valid_utf8(text, scratch.clean);
  pre_.split(clean, scratch.pre, scratch.words);
  for (const PreTokenizer::Word word : scratch.words) {
    encode_word(clean.substr(word.begin, word.end - word.begin), scratch, out);
  }
}

void BpeTokenizer::encode_word(std::string_view word, Scratch& scratch,
                               std::vector<int32_t>& out) const {
  if (!options_.byte_level) {
    if (options_.ignore_merges) {
      if (const int32_t id = find_token(word); id != -1) {
        out.push_back(id);
        return;
      }
    }
    character_symbols(word, scratch);
    merge_symbols(scratch);
    const size_t first = out.size();
    for (int32_t i = 0; i != -1; i = scratch.symbols[static_cast<size_t>(i)].next) {
      const Symbol& s = scratch.symbols[static_cast<size_t>(i)];
      const int32_t id = s.id >= 0 && s.id < n_vocab() ? s.id : vocab().unk;
      // fuse_unk: a run of unknown characters is one unknown token.
      if (id == -1 || (options_.fuse_unk && id == vocab().unk && out.size() > first &&
                       out.back() == vocab().unk)) {
        continue;
      }
      out.push_back(id);
    }
    return;
  }
  if (word.size() == 1) {  // most punctuation and every space: nothing to merge
    emit_symbol(byte_symbol_[static_cast<uint8_t>(word[0])], word, out);
    return;
  }
  if (options_.ignore_merges) {
    scratch.spelled.clear();
    for (const char c : word) append_byte_char(static_cast<uint8_t>(c), scratch.spelled);
    const int32_t id = index().find(scratch.spelled);
    if (id != -1) {
      out.push_back(id);
      return;
    }
  }

  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  std::string key;
  if (cacheable) {
    key.assign(word);
    const auto hit = scratch.word_cache.find(key);
    if (hit != scratch.word_cache.end()) {
      const auto [begin, end] = hit->second;
      out.insert(out.end(), scratch.cached_ids.begin() + begin, scratch.cached_ids.begin() + end);
      return;
    }
  }

  std::vector<Symbol>& symbols = scratch.symbols;
  symbols.clear();
  const auto n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({byte_symbol_[static_cast<uint8_t>(word[static_cast<size_t>(i)])],
                       static_cast<uint32_t>(i), 1, i - 1, i + 1 == n ? -1 : i + 1});
  }
  merge_symbols(scratch);
  const size_t first = out.size();
  // Symbol 0 never merges away (merges fold the right symbol into the left one).
  for (int32_t i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    emit_symbol(s.id, word.substr(s.begin, s.size), out);
  }
  if (cacheable && scratch.word_cache.size() < kMaxCachedWords) {
    const auto begin = static_cast<uint32_t>(scratch.cached_ids.size());
    scratch.cached_ids.insert(scratch.cached_ids.end(), out.begin() + static_cast<ptrdiff_t>(first),
                              out.end());
    scratch.word_cache.emplace(std::move(key),
                               std::pair{begin, static_cast<uint32_t>(scratch.cached_ids.size())});
  }
}

void BpeTokenizer::character_symbols(std::string_view word, Scratch& scratch) const {
  std::vector<Symbol>& symbols = scratch.symbols;
  symbols.clear();
  const auto push = [&](int32_t id, size_t begin, size_t size) {
    const auto index = static_cast<int32_t>(symbols.size());
    if (index > 0) symbols.back().next = index;
    symbols.push_back(
        {id, static_cast<uint32_t>(begin), static_cast<uint32_t>(size), index - 1, -1});
  };
  for (size_t at = 0; at < word.size();) {
    const size_t begin = at;
    unicode::decode_utf8(word, at);
    const std::string_view character = word.substr(begin, at - begin);
    if (const int32_t id = find_token(character); id != -1) {
      push(id, begin, character.size());
      continue;
    }
    const bool all_bytes =
        options_.byte_fallback && std::all_of(character.begin(), character.end(), [&](char c) {
          return fallback_token_[static_cast<uint8_t>(c)] != -1;
        });
    if (all_bytes) {
      for (size_t i = 0; i < character.size(); ++i) {
        push(fallback_token_[static_cast<uint8_t>(character[i])], begin + i, 1);
      }
    } else {
      push(-1, begin, character.size());  // becomes the unknown token (or nothing without one)
    }
  }
}

void BpeTokenizer::merge_symbols(Scratch& scratch) const {
  std::vector<Symbol>& symbols = scratch.symbols;
  std::vector<Candidate>& heap = scratch.heap;
  heap.clear();
  const auto try_queue = [&](int32_t left, int32_t right) {
    if (left == -1 || right == -1) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    if (l.id < 0 || r.id < 0) return;
    const MergeSlot* merge = find_merge(l.id, r.id);
    if (merge == nullptr) return;
    const uint64_t order = static_cast<uint64_t>(merge->rank) << 32 | static_cast<uint32_t>(left);
    heap.push_back({order, l.size + r.size, merge->result});
    std::push_heap(heap.begin(), heap.end(), ComesLater{});
  };

  for (size_t i = 1; i < symbols.size(); ++i) {
    try_queue(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  }
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), ComesLater{});
    const Candidate c = heap.back();
    heap.pop_back();
    const int32_t at = c.left();
    Symbol& left = symbols[static_cast<size_t>(at)];
    // Stale: the left symbol was merged away, or it or its neighbour grew since (symbols only
    // grow, by absorbing their next one, so the size sum tells).
    if (left.size == 0 || left.next == -1) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    if (left.size + right.size != c.size) continue;

    left.id = c.result;
    left.size += right.size;
    right.size = 0;
    left.next = right.next;
    if (right.next != -1) symbols[static_cast<size_t>(right.next)].prev = at;
    try_queue(left.prev, at);
    try_queue(at, left.next);
  }
}

void BpeTokenizer::emit_symbol(int32_t symbol, std::string_view bytes,
                               std::vector<int32_t>& out) const {
  if (symbol >= 0 && symbol < n_vocab()) {
    out.push_back(symbol);
    return;
  }
  // The merges formed no token: the vocabulary lacks a byte's character (Falcon has none for some
  // control bytes and 0xF2, StarCoder none for 0xF1, and no vocabulary for 0xC0/0xC1/0xF5-0xFF) or
  // a merge result. llama.cpp emits the bytes whose characters are tokens and drops the rest, and
  // Hugging Face drops them too (these models have no unknown token): parity, so no error and no
  // <unk> (which for StarCoder would be <|endoftext|>).
  for (const char c : bytes) {
    const int32_t id = byte_token_[static_cast<uint8_t>(c)];
    if (id != -1) out.push_back(id);
  }
}

std::string BpeTokenizer::spaced(const std::string& text) const {
  if (!options_.decode_metaspace) return text;
  std::string out = text;
  replace_all(out, kMetaspace, " ");
  return out;
}

std::string BpeTokenizer::token_to_piece(int32_t id, bool render_special) const {
  if (!vocab().valid_id(id)) {
    throw Error(
        str("token id ", id, " is out of range for a vocabulary of ", n_vocab(), " tokens"));
  }
  const std::string& text = vocab().text(id);
  switch (vocab().type(id)) {
    case Vocab::TokenType::kNormal: {
      if (!options_.byte_level) return spaced(text);
      // A normal token outside the byte-level alphabet (an added token stored as plain text) is
      // its own text, as Hugging Face's ByteLevel decoder has it (llama.cpp prints a marker).
      std::optional<std::string> bytes = byte_level_decode(text);
      return bytes ? std::move(*bytes) : text;
    }
    case Vocab::TokenType::kUserDefined:
      // Added tokens are stored as plain text; a metaspace decoder still reads "▁" as a space.
      return options_.byte_level ? text : spaced(text);
    case Vocab::TokenType::kControl:
    case Vocab::TokenType::kUnknown:
      return render_special ? text : std::string();
    case Vocab::TokenType::kByte: {
      const int value = byte_token_value(text);  // byte fallback
      return value < 0 ? std::string() : std::string(1, static_cast<char>(value));
    }
    case Vocab::TokenType::kUndefined:
    case Vocab::TokenType::kUnused:
      return {};  // llama.cpp renders types BPE does not use as nothing
  }
  return {};
}

void apply_bpe_defaults(const gguf::File& file, Vocab& vocab) {
  if (vocab.model != "gpt2") return;
  if (!file.get_int(kBosKey) && kDefaultBpeBosEos < vocab.n_tokens()) {
    vocab.bos = kDefaultBpeBosEos;
  }
  if (!file.get_int(kEosKey) && kDefaultBpeBosEos < vocab.n_tokens()) {
    vocab.eos = kDefaultBpeBosEos;
  }
  if (!file.get_bool(kAddBosKey)) vocab.add_bos = pre_tokenizer_spec(vocab.pre).add_bos;
}

}  // namespace bottega::tokenizer
