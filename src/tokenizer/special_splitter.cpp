#include "tokenizer/special_splitter.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace bottega::tokenizer {

namespace {

bool is_special_type(Vocab::TokenType type) {
  return type == Vocab::TokenType::kControl || type == Vocab::TokenType::kUserDefined ||
         type == Vocab::TokenType::kUnknown;
}

size_t edge_hash(uint64_t key) {
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 29);
}

// C's isspace in the "C" locale, which llama.cpp applies byte by byte.
bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_continuation_byte(char c) {
  return (static_cast<uint8_t>(c) & 0xC0) == 0x80;
}

constexpr uint8_t kLstrip = 1;
constexpr uint8_t kRstrip = 2;

}  // namespace

SpecialSplitter::SpecialSplitter(const Vocab& vocab, Order order)
    : order_(order), unicode_whitespace_(vocab.strip_unicode_whitespace) {
  root_.fill(kNone);
  edges_.assign(1024, Edge{});
  for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
    const std::string& text = vocab.text(id);
    if (!is_special_type(vocab.type(id)) || text.empty()) continue;
    int32_t node = kNone;
    for (const char c : text) {
      const auto byte = static_cast<uint8_t>(c);
      int32_t next = node == kNone ? root_[byte] : child(node, byte);
      if (next == kNone) {
        if (node == kNone) {
          next = static_cast<int32_t>(nodes_.size());
          nodes_.emplace_back();
          root_[byte] = next;
        } else {
          next = add_child(node, byte);
        }
      }
      node = next;
    }
    // Among tokens with the same text the lowest id wins (ids are visited in order).
    Node& end = nodes_[static_cast<size_t>(node)];
    if (end.special == kNone) end.special = id;
    if (end.always == kNone && vocab.type(id) == Vocab::TokenType::kUserDefined) end.always = id;
  }
  const auto mark = [&](const std::vector<int32_t>& ids, uint8_t bit) {
    for (const int32_t id : ids) {
      if (!vocab.valid_id(id)) continue;
      if (strip_.empty()) strip_.assign(static_cast<size_t>(vocab.n_tokens()), 0);
      strip_[static_cast<size_t>(id)] |= bit;
    }
  };
  mark(vocab.lstrip_tokens, kLstrip);
  mark(vocab.rstrip_tokens, kRstrip);
}

int32_t SpecialSplitter::child(int32_t node, uint8_t byte) const {
  const uint64_t key = static_cast<uint64_t>(node) << 8 | byte;
  const size_t mask = edges_.size() - 1;
  for (size_t at = edge_hash(key) & mask;; at = (at + 1) & mask) {
    const Edge& edge = edges_[at];
    if (edge.key == key) return edge.node;
    if (edge.node == kNone) return kNone;
  }
}

int32_t SpecialSplitter::add_child(int32_t node, uint8_t byte) {
  if (2 * (n_edges_ + 1) > edges_.size()) {
    std::vector<Edge> old(edges_.size() * 2, Edge{});
    old.swap(edges_);
    n_edges_ = 0;
    for (const Edge& edge : old) {
      if (edge.node == kNone) continue;
      const size_t mask = edges_.size() - 1;
      size_t at = edge_hash(edge.key) & mask;
      while (edges_[at].node != kNone) at = (at + 1) & mask;
      edges_[at] = edge;
      ++n_edges_;
    }
  }
  const auto created = static_cast<int32_t>(nodes_.size());
  nodes_.emplace_back();
  const uint64_t key = static_cast<uint64_t>(node) << 8 | byte;
  const size_t mask = edges_.size() - 1;
  size_t at = edge_hash(key) & mask;
  while (edges_[at].node != kNone) at = (at + 1) & mask;
  edges_[at] = {key, created};
  ++n_edges_;
  return created;
}

std::pair<int32_t, size_t> SpecialSplitter::longest_at(std::string_view text, size_t at,
                                                       bool parse_special) const {
  int32_t best = kNone;
  size_t best_length = 0;
  int32_t node = root_[static_cast<uint8_t>(text[at])];
  for (size_t i = at + 1; node != kNone; ++i) {
    const Node& n = nodes_[static_cast<size_t>(node)];
    const int32_t token = parse_special ? n.special : n.always;
    if (token != kNone) {
      best = token;
      best_length = i - at;
    }
    if (i == text.size()) break;
    node = child(node, static_cast<uint8_t>(text[i]));
  }
  return {best, best_length};
}

uint8_t SpecialSplitter::strip_flags(int32_t token) const {
  return strip_.empty() ? 0 : strip_[static_cast<size_t>(token)];
}

size_t SpecialSplitter::whitespace_start(std::string_view text, size_t end, size_t floor) const {
  while (end > floor) {
    if (!unicode_whitespace_) {
      if (!is_ascii_space(text[end - 1])) break;
      --end;
      continue;
    }
    // Step back to the first byte of the code point that ends at `end`.
    size_t start = end - 1;
    while (start > floor && end - start < 4 && is_continuation_byte(text[start])) --start;
    size_t at = start;
    const char32_t cp = unicode::decode_utf8(text.substr(0, end), at);
    if (at != end || !unicode::is_white_space(cp)) break;
    end = start;
  }
  return end;
}

size_t SpecialSplitter::whitespace_end(std::string_view text, size_t begin, size_t ceiling) const {
  while (begin < ceiling) {
    if (!unicode_whitespace_) {
      if (!is_ascii_space(text[begin])) break;
      ++begin;
      continue;
    }
    size_t at = begin;
    // Invalid UTF-8 decodes as U+FFFD, which is not whitespace.
    if (!unicode::is_white_space(unicode::decode_utf8(text.substr(0, ceiling), at))) break;
    begin = at;
  }
  return begin;
}

std::vector<SpecialSplitter::Match> SpecialSplitter::find(std::string_view text,
                                                          bool parse_special) const {
  return order_ == Order::kLongestFirst ? find_longest_first(text, parse_special)
                                        : find_leftmost_longest(text, parse_special);
}

std::vector<SpecialSplitter::Match> SpecialSplitter::find_leftmost_longest(
    std::string_view text, bool parse_special) const {
  std::vector<Match> matches;
  for (size_t at = 0; at < text.size();) {
    if (root_[static_cast<uint8_t>(text[at])] == kNone) {
      ++at;
      continue;
    }
    const auto [token, length] = longest_at(text, at, parse_special);
    if (token == kNone) {
      ++at;
      continue;
    }
    matches.push_back({at, at + length, token});
    at += length;
  }
  if (strip_.empty()) return matches;
  // Hugging Face (tokenizers' AddedVocabulary::find_matches) finds every match in the original
  // text, then widens each over the whitespace around it: back to the previous match's (widened)
  // end, forward to the next match's start. A following token made of whitespace (Gemma's "\n")
  // is therefore kept; the JavaScript port (transformers.js) would trim it away.
  for (size_t i = 0; i < matches.size(); ++i) {
    Match& m = matches[i];
    const uint8_t flags = strip_flags(m.token);
    if (flags & kLstrip) m.begin = whitespace_start(text, m.begin, i == 0 ? 0 : matches[i - 1].end);
    if (flags & kRstrip) {
      m.end =
          whitespace_end(text, m.end, i + 1 == matches.size() ? text.size() : matches[i + 1].begin);
    }
  }
  return matches;
}

std::vector<SpecialSplitter::Match> SpecialSplitter::find_longest_first(std::string_view text,
                                                                        bool parse_special) const {
  // Every occurrence of every token, then claimed in llama.cpp's order: longer texts first, the
  // lower id among equally long ones, left to right for one token. An occurrence overlapping a
  // claimed range is skipped, as llama.cpp's search in the remaining fragments would.
  std::vector<Match> candidates;
  for (size_t at = 0; at < text.size(); ++at) {
    int32_t node = root_[static_cast<uint8_t>(text[at])];
    for (size_t i = at + 1; node != kNone; ++i) {
      const Node& n = nodes_[static_cast<size_t>(node)];
      const int32_t token = parse_special ? n.special : n.always;
      if (token != kNone) candidates.push_back({at, i, token});
      if (i == text.size()) break;
      node = child(node, static_cast<uint8_t>(text[i]));
    }
  }
  if (candidates.empty()) return candidates;
  std::stable_sort(candidates.begin(), candidates.end(), [](const Match& a, const Match& b) {
    if (a.end - a.begin != b.end - b.begin) return a.end - a.begin > b.end - b.begin;
    return a.token < b.token;  // stable: positions stay in text order
  });
  std::vector<uint8_t> claimed(text.size(), 0);
  std::vector<Match> matches;
  for (Match m : candidates) {
    if (std::any_of(claimed.begin() + static_cast<std::ptrdiff_t>(m.begin),
                    claimed.begin() + static_cast<std::ptrdiff_t>(m.end),
                    [](uint8_t c) { return c != 0; })) {
      continue;
    }
    // llama.cpp strips when it claims the token, within the text fragment it was found in (up to
    // the nearest claimed byte); the swallowed whitespace is claimed too, so no token claimed later
    // can match inside it.
    const uint8_t flags = strip_flags(m.token);
    if (flags & kLstrip) {
      const size_t start = whitespace_start(text, m.begin, 0);
      while (m.begin > start && claimed[m.begin - 1] == 0) --m.begin;
    }
    if (flags & kRstrip) {
      const size_t end = whitespace_end(text, m.end, text.size());
      while (m.end < end && claimed[m.end] == 0) ++m.end;
    }
    std::fill(claimed.begin() + static_cast<std::ptrdiff_t>(m.begin),
              claimed.begin() + static_cast<std::ptrdiff_t>(m.end), 1);
    matches.push_back(m);
  }
  std::sort(matches.begin(), matches.end(),
            [](const Match& a, const Match& b) { return a.begin < b.begin; });
  return matches;
}

}  // namespace bottega::tokenizer
