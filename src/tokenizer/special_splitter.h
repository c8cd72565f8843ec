// Finds the special tokens written in a text, fast even when a vocabulary has thousands of them
// (Gemma 3 has over 6000 added tokens): a byte trie whose root is a 256-entry table, so the bytes
// that start no token (almost all of them) cost one lookup each.
//
// Overlapping candidates are resolved in one of two ways:
//  - kLongestFirst, llama.cpp's: the longest token text claims its occurrences first (left to
//    right, ties by lower id), then the next longest in what is left, and so on;
//  - kLeftmostLongest, Hugging Face's: scanning left to right, the longest token starting at the
//    first position where any token starts wins.
//
// A token marked lstrip (rstrip) swallows the whitespace on its left (right), up to the
// neighbouring match: llama.cpp strips while a token is being claimed, so a later (shorter) token
// cannot match inside whitespace already swallowed; Hugging Face strips once all matches are found.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace bottega::tokenizer {

class SpecialSplitter {
 public:
  enum class Order { kLongestFirst, kLeftmostLongest };

  // A matched token: bytes [begin, end) of the text, including whitespace an lstrip/rstrip token
  // swallowed.
  struct Match {
    size_t begin = 0;
    size_t end = 0;
    int32_t token = -1;
  };

  // Indexes the control, user-defined and unknown-type tokens of the vocabulary, with their
  // lstrip/rstrip marks and whitespace definition (Vocab::strip_unicode_whitespace).
  SpecialSplitter(const Vocab& vocab, Order order);

  // The matches in text, in text order and never overlapping. Control and unknown-type tokens
  // match only with parse_special; user-defined tokens always.
  std::vector<Match> find(std::string_view text, bool parse_special) const;

 private:
  struct Node {
    int32_t always = -1;   // the token ending here that matches without parse_special
    int32_t special = -1;  // the token ending here with parse_special
  };
  static constexpr int32_t kNone = -1;

  int32_t child(int32_t node, uint8_t byte) const;
  int32_t add_child(int32_t node, uint8_t byte);
  // The longest token starting at text[at] and its length; token -1 when none.
  std::pair<int32_t, size_t> longest_at(std::string_view text, size_t at, bool parse_special) const;
  std::vector<Match> find_longest_first(std::string_view text, bool parse_special) const;
  std::vector<Match> find_leftmost_longest(std::string_view text, bool parse_special) const;
  uint8_t strip_flags(int32_t token) const;
  // Where the whitespace run ending at `end` starts, no further left than `floor`.
  size_t whitespace_start(std::string_view text, size_t end, size_t floor) const;
  // Where the whitespace run starting at `begin` ends, no further right than `ceiling`.
  size_t whitespace_end(std::string_view text, size_t begin, size_t ceiling) const;

  Order order_;
  std::array<int32_t, 256> root_;  // byte -> node, kNone when no token starts with it
  std::vector<Node> nodes_;
  // (node << 8 | byte) -> child node: open addressing, size a power of two.
  struct Edge {
    uint64_t key = ~uint64_t{0};
    int32_t node = kNone;
  };
  std::vector<Edge> edges_;
  size_t n_edges_ = 0;
  std::vector<uint8_t> strip_;  // [n_vocab] bit 0: lstrip, bit 1: rstrip; empty when none
  bool unicode_whitespace_;     // strip Unicode White_Space, else ASCII isspace
};

}  // namespace bottega::tokenizer
