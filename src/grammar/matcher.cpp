#include "grammar/matcher.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"

namespace bottega::grammar {

Matcher::Matcher(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {
  for (uint32_t start : grammar_->alternatives[grammar_->root]) expand(start, kNone, stacks_);
  dedupe(stacks_, 0);
  n_stacks_ = stacks_.size();
}

uint32_t Matcher::new_node(uint32_t pos, uint32_t parent) {
  nodes_.push_back({pos, parent});
  return static_cast<uint32_t>(nodes_.size() - 1);
}

// Follows rule references and ended alternatives from `pos` until every path stands before a
// byte (a new top) or the whole root rule is complete.
void Matcher::expand(uint32_t pos, uint32_t parent, std::vector<uint32_t>& out) {
  const Element e = grammar_->elements[pos];
  switch (e.kind) {
    case ElementKind::kBytes:
      out.push_back(new_node(pos, parent));
      return;
    case ElementKind::kRule: {
      // Where to go when the rule ends; a reference at the end of its alternative continues
      // directly with the parent, so right recursion (repetitions) keeps the stack flat.
      const uint32_t after = grammar_->elements[pos + 1].kind == ElementKind::kEnd
                                 ? parent
                                 : new_node(pos + 1, parent);
      for (uint32_t start : grammar_->alternatives[e.value]) expand(start, after, out);
      return;
    }
    case ElementKind::kEnd:
      if (parent == kNone) {
        out.push_back(kAccepted);
      } else {
        const Node p = nodes_[parent];
        expand(p.pos, p.parent, out);
      }
      return;
  }
}

void Matcher::dedupe(std::vector<uint32_t>& stacks, size_t begin) {
  if (stacks.size() - begin < 2) return;
  auto key = [this](uint32_t top) {
    return top == kAccepted ? ~uint64_t{0} : (uint64_t{nodes_[top].pos} << 32) | nodes_[top].parent;
  };
  const auto first = stacks.begin() + static_cast<std::ptrdiff_t>(begin);
  std::sort(first, stacks.end(), [&](uint32_t a, uint32_t b) { return key(a) < key(b); });
  stacks.erase(
      std::unique(first, stacks.end(), [&](uint32_t a, uint32_t b) { return key(a) == key(b); }),
      stacks.end());
}

size_t Matcher::advance(std::vector<uint32_t>& stacks, size_t begin, size_t end, uint8_t byte) {
  const size_t out = stacks.size();
  for (size_t i = begin; i < end; ++i) {
    const uint32_t top = stacks[i];
    if (top == kAccepted) continue;
    const Node n = nodes_[top];
    const Element e = grammar_->elements[n.pos];
    if (grammar_->byte_sets[e.value].contains(byte)) expand(n.pos + 1, n.parent, stacks);
  }
  dedupe(stacks, out);
  if (stacks.size() - out > kMaxStacks) {
    throw Error(str("grammar: more than ", kMaxStacks,
                    " ways to continue at once; the grammar is too ambiguous to follow (make "
                    "alternatives start differently)"));
  }
  return stacks.size() - out;
}

// Runs the bytes from the committed stacks into scratch space; `begin` ends at the final tops.
bool Matcher::advance_all(std::string_view bytes, std::vector<uint32_t>& stacks, size_t& begin) {
  begin = 0;
  size_t end = n_stacks_;
  for (char c : bytes) {
    const size_t next = stacks.size();
    if (advance(stacks, begin, end, static_cast<uint8_t>(c)) == 0) return false;
    begin = next;
    end = stacks.size();
  }
  return true;
}

bool Matcher::allows(std::string_view bytes) {
  const size_t mark = nodes_.size();
  size_t begin = 0;
  const bool ok = advance_all(bytes, stacks_, begin);
  stacks_.resize(n_stacks_);
  nodes_.resize(mark);
  return ok;
}

bool Matcher::accept(std::string_view bytes) {
  const size_t mark = nodes_.size();
  size_t begin = 0;
  if (!advance_all(bytes, stacks_, begin)) {
    stacks_.resize(n_stacks_);
    nodes_.resize(mark);
    return false;
  }
  if (!bytes.empty()) compact(begin);
  return true;
}

// Keeps only the stacks starting at stacks_[begin] and the nodes they reach, with identical
// chains merged into one (so equal stacks reached by different paths become one stack).
void Matcher::compact(size_t begin) {
  std::vector<Node> kept;
  std::unordered_map<uint64_t, uint32_t> interned;
  std::unordered_map<uint32_t, uint32_t> moved;
  auto intern = [&](auto& self, uint32_t id) -> uint32_t {
    if (id == kNone || id == kAccepted) return id;
    if (const auto it = moved.find(id); it != moved.end()) return it->second;
    const Node n = nodes_[id];
    const uint32_t parent = self(self, n.parent);
    const uint64_t key = (uint64_t{n.pos} << 32) | parent;
    auto [it, inserted] = interned.emplace(key, static_cast<uint32_t>(kept.size()));
    if (inserted) kept.push_back({n.pos, parent});
    moved.emplace(id, it->second);
    return it->second;
  };
  std::vector<uint32_t> tops;
  for (size_t i = begin; i < stacks_.size(); ++i) tops.push_back(intern(intern, stacks_[i]));
  nodes_ = std::move(kept);
  std::sort(tops.begin(), tops.end());
  tops.erase(std::unique(tops.begin(), tops.end()), tops.end());
  stacks_ = std::move(tops);
  n_stacks_ = stacks_.size();
}

// After compact() equal chains are one node, so the chains' positions describe the state.
std::string Matcher::state_key() const {
  std::string key;
  auto put = [&key](uint32_t v) { key.append(reinterpret_cast<const char*>(&v), sizeof v); };
  for (size_t i = 0; i < n_stacks_; ++i) {
    for (uint32_t n = stacks_[i]; n != kNone && n != kAccepted; n = nodes_[n].parent) {
      put(nodes_[n].pos);
    }
    put(stacks_[i] == kAccepted ? kAccepted : kNone);
  }
  return key;
}

bool Matcher::can_end() const {
  return std::find(stacks_.begin(), stacks_.begin() + static_cast<std::ptrdiff_t>(n_stacks_),
                   kAccepted) != stacks_.begin() + static_cast<std::ptrdiff_t>(n_stacks_);
}

bool Matcher::can_continue() const {
  for (size_t i = 0; i < n_stacks_; ++i) {
    if (stacks_[i] != kAccepted) return true;
  }
  return false;
}

void Matcher::walk(const TokenTrie& trie, uint32_t node, size_t begin, size_t end,
                   std::vector<uint8_t>& allowed, int skip_byte) {
  const TokenTrie::Node parent = trie.node(node);
  for (uint32_t c = parent.first_child; c < parent.first_child + parent.n_children; ++c) {
    const TokenTrie::Node child = trie.node(c);
    if (child.byte == skip_byte) continue;
    const size_t mark = nodes_.size();
    const size_t out = stacks_.size();
    if (advance(stacks_, begin, end, child.byte) > 0) {
      for (uint32_t t = 0; t < child.n_tokens; ++t) {
        allowed[static_cast<size_t>(trie.tokens()[child.first_token + t])] = 1;
      }
      if (child.n_children > 0) walk(trie, c, out, stacks_.size(), allowed);
    }
    stacks_.resize(out);
    nodes_.resize(mark);
  }
}

void Matcher::mark_allowed(const TokenTrie& trie, bool skip_leading_space,
                           std::vector<uint8_t>& allowed) {
  walk(trie, 0, 0, n_stacks_, allowed, skip_leading_space ? ' ' : -1);
  if (!skip_leading_space) return;
  // Tokens that start with a space lose it: below the root's space child, match from here.
  const TokenTrie::Node& root = trie.root();
  for (uint32_t c = root.first_child; c < root.first_child + root.n_children; ++c) {
    if (trie.node(c).byte != ' ') continue;
    const TokenTrie::Node space = trie.node(c);
    for (uint32_t t = 0; t < space.n_tokens; ++t) {
      allowed[static_cast<size_t>(trie.tokens()[space.first_token + t])] = 1;
    }
    walk(trie, c, 0, n_stacks_, allowed);
  }
}

}  // namespace bottega::grammar
