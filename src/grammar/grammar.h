// A context-free grammar over bytes, the form every constraint on generated text compiles to:
// GBNF text (llama.cpp's grammar notation), JSON schemas and tool-call formats.
//
// Working on bytes rather than characters lets a token end inside a multi-byte character, as
// byte-level BPE tokens do: a character class becomes the UTF-8 byte sequences of its code points.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bottega::grammar {

// A set of byte values: the terminal of the grammar.
struct ByteSet {
  std::array<uint64_t, 4> bits{};

  bool contains(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1u; }
  void add(uint8_t lo, uint8_t hi) {
    for (unsigned b = lo; b <= hi; ++b) bits[b >> 6] |= uint64_t{1} << (b & 63);
  }
  bool operator==(const ByteSet&) const = default;
};

enum class ElementKind : uint8_t {
  kBytes,  // one byte from byte_sets[value]
  kRule,   // the rule `value`
  kEnd,    // the end of an alternative
};

struct Element {
  ElementKind kind;
  uint32_t value;
};

// Rules are alternatives of element sequences, laid out one after another in `elements`, each
// alternative ended by kEnd. Built by parse_gbnf(); never left-recursive, so matching always ends.
struct Grammar {
  std::vector<Element> elements;
  std::vector<std::vector<uint32_t>> alternatives;  // per rule: where each alternative starts
  std::vector<ByteSet> byte_sets;
  std::vector<std::string> rule_names;
  uint32_t root = 0;
};

// Compiles GBNF: `name ::= alternatives` rules with "literals", [character classes] (ranges, ^
// negation), `.` (any character), rule references, ( groups ), the repetitions * + ? {m} {m,}
// {m,n}, and # comments. Throws bottega::Error naming the line and the problem: a syntax error, an
// undefined rule, a missing `root_rule`, left recursion (which would never end).
Grammar parse_gbnf(std::string_view text, std::string_view root_rule = "root");

}  // namespace bottega::grammar
