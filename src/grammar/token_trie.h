// The vocabulary as a prefix tree of token bytes, so that checking which tokens a grammar allows
// shares the work of common prefixes: a byte rejected at a node rules out every token below it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bottega::grammar {

class TokenTrie {
 public:
  struct Node {
    uint32_t first_child = 0;  // children are contiguous in nodes()
    uint32_t n_children = 0;
    uint32_t first_token = 0;  // tokens whose bytes end exactly here, in tokens()
    uint32_t n_tokens = 0;
    uint8_t byte = 0;  // the byte that leads here from the parent
  };

  // pieces[id] is token id's bytes; empty pieces are left out.
  explicit TokenTrie(const std::vector<std::string>& pieces);

  const Node& root() const { return nodes_[0]; }
  const Node& node(uint32_t i) const { return nodes_[i]; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  size_t size() const { return nodes_.size(); }

 private:
  void build(uint32_t node, size_t depth, size_t lo, size_t hi,
             const std::vector<std::string>& pieces);

  std::vector<Node> nodes_;
  std::vector<int32_t> tokens_;  // token ids sorted by their bytes
};

}  // namespace bottega::grammar
