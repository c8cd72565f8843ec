#include "grammar/token_trie.h"

#include <algorithm>

namespace bottega::grammar {

TokenTrie::TokenTrie(const std::vector<std::string>& pieces) {
  for (size_t id = 0; id < pieces.size(); ++id) {
    if (!pieces[id].empty()) tokens_.push_back(static_cast<int32_t>(id));
  }
  std::stable_sort(tokens_.begin(), tokens_.end(), [&](int32_t a, int32_t b) {
    return pieces[static_cast<size_t>(a)] < pieces[static_cast<size_t>(b)];
  });
  nodes_.emplace_back();
  build(0, 0, 0, tokens_.size(), pieces);
}

// tokens_[lo, hi) share their first `depth` bytes; those exactly `depth` long sort first.
void TokenTrie::build(uint32_t node, size_t depth, size_t lo, size_t hi,
                      const std::vector<std::string>& pieces) {
  auto piece = [&](size_t i) -> const std::string& {
    return pieces[static_cast<size_t>(tokens_[i])];
  };
  size_t start = lo;
  while (start < hi && piece(start).size() == depth) ++start;
  nodes_[node].first_token = static_cast<uint32_t>(lo);
  nodes_[node].n_tokens = static_cast<uint32_t>(start - lo);
  // One child per distinct next byte, allocated side by side before any grandchild.
  std::vector<std::pair<size_t, size_t>> groups;
  for (size_t i = start; i < hi;) {
    size_t j = i + 1;
    while (j < hi && piece(j)[depth] == piece(i)[depth]) ++j;
    groups.emplace_back(i, j);
    i = j;
  }
  const auto first = static_cast<uint32_t>(nodes_.size());
  nodes_[node].first_child = first;
  nodes_[node].n_children = static_cast<uint32_t>(groups.size());
  for (const auto& [a, b] : groups) {
    Node child;
    child.byte = static_cast<uint8_t>(piece(a)[depth]);
    nodes_.push_back(child);
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    build(first + static_cast<uint32_t>(g), depth + 1, groups[g].first, groups[g].second, pieces);
  }
}

}  // namespace bottega::grammar
