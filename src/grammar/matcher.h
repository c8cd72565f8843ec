// Where generated text stands in a grammar: the set of parse stacks that the bytes so far leave
// open (a pushdown automaton run on every alternative at once).
//
// A stack is a chain of nodes in an arena, each node saying where matching continues; stacks share
// their tails, so advancing by a byte costs only the nodes it changes. Checking a token extends the
// arena and rolls it back; accepting one keeps the new stacks and compacts the arena, merging
// stacks that became identical.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/token_trie.h"

namespace bottega::grammar {

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Grammar> grammar);

  // Consumes the bytes; returns false and changes nothing when the grammar refuses them.
  bool accept(std::string_view bytes);
  // Whether the bytes could be consumed now (nothing changes).
  bool allows(std::string_view bytes);
  // The text so far is a complete match of the root rule.
  bool can_end() const;
  // Some byte may still follow.
  bool can_continue() const;

  // Sets allowed[token] to 1 for every token of the trie whose bytes may come next (others are
  // left as they are). With skip_leading_space, a token's first byte is dropped when it is a
  // space (the SentencePiece rule for the first piece of a text).
  void mark_allowed(const TokenTrie& trie, bool skip_leading_space, std::vector<uint8_t>& allowed);

  // Identifies the current state: equal keys allow exactly the same continuations.
  std::string state_key() const;

  // More stacks than this at once means a grammar too ambiguous to follow; Error is thrown.
  static constexpr size_t kMaxStacks = 20000;

 private:
  struct Node {
    uint32_t pos;     // element index where matching continues
    uint32_t parent;  // the node to continue with when this alternative ends
  };
  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  static constexpr uint32_t kAccepted = 0xFFFFFFFEu;  // a stack top: the root rule is complete

  uint32_t new_node(uint32_t pos, uint32_t parent);
  void expand(uint32_t pos, uint32_t parent, std::vector<uint32_t>& out);
  // Appends to `stacks` the tops that stacks[begin, end) lead to after `byte`; returns how many.
  size_t advance(std::vector<uint32_t>& stacks, size_t begin, size_t end, uint8_t byte);
  void dedupe(std::vector<uint32_t>& stacks, size_t begin);
  bool advance_all(std::string_view bytes, std::vector<uint32_t>& stacks, size_t& begin);
  void walk(const TokenTrie& trie, uint32_t node, size_t begin, size_t end,
            std::vector<uint8_t>& allowed, int skip_byte = -1);
  void compact(size_t begin);

  std::shared_ptr<const Grammar> grammar_;
  std::vector<Node> nodes_;
  std::vector<uint32_t> stacks_;  // [0, n_stacks_): the committed tops; beyond: scratch
  size_t n_stacks_ = 0;
};

}  // namespace bottega::grammar
