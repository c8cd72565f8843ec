// GBNF text to a byte-level Grammar. Repetitions become right-recursive helper rules (so matching
// long runs keeps a shallow stack) and character classes become rules of UTF-8 byte sequences.
#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>

#include "core/error.h"
#include "core/utf8.h"
#include "grammar/grammar.h"
#include "grammar/utf8_ranges.h"

namespace bottega::grammar {

namespace {

constexpr size_t kNoItem = std::numeric_limits<size_t>::max();
constexpr uint32_t kMaxRepetition = 10000;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

class Compiler {
 public:
  explicit Compiler(std::string_view text) : text_(text) {}

  Grammar compile(std::string_view root_rule) {
    parse_rules();
    for (size_t r = 0; r < names_.size(); ++r) {
      if (!defined_[r] && !generated_[r]) {
        fail_at(first_use_[r], "the rule '" + names_[r] + "' is used but never defined");
      }
    }
    const auto root = index_.find(std::string(root_rule));
    if (root == index_.end() || !defined_[root->second]) {
      throw Error(str("grammar: no rule named '", root_rule,
                      "' (the rule generation starts from); define it as `", root_rule,
                      " ::= ...`"));
    }
    check_left_recursion();
    return flatten(root->second);
  }

 private:
  using Sequence = std::vector<Element>;

  // ---- errors ----
  [[noreturn]] void fail_at(size_t at, const std::string& what) const {
    const size_t line =
        1 + static_cast<size_t>(std::count(
                text_.begin(),
                text_.begin() + static_cast<std::ptrdiff_t>(std::min(at, text_.size())), '\n'));
    throw Error(str("grammar: line ", line, ": ", what));
  }
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }

  // ---- text ----
  bool at_end() const { return pos_ >= text_.size(); }
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  void skip_space(bool newlines) {
    while (!at_end()) {
      const char c = peek();
      if (c == '#') {
        while (!at_end() && peek() != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || ((c == '\n' || c == '\r') && newlines)) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string parse_name() {
    const size_t start = pos_;
    while (!at_end() && is_name_char(peek())) ++pos_;
    if (pos_ == start) fail("expected a rule name");
    return std::string(text_.substr(start, pos_ - start));
  }

  uint32_t parse_hex(int digits) {
    uint32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      const char c = peek();
      int d = -1;
      if (c >= '0' && c <= '9') d = c - '0';
      if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      if (d < 0) fail(str("expected ", digits, " hexadecimal digits in an escape"));
      value = value * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    return value;
  }

  // One character of a literal or class: an escape or one UTF-8 encoded code point.
  char32_t parse_char() {
    if (at_end()) fail("unexpected end of the grammar inside a literal or character class");
    const auto lead = static_cast<unsigned char>(peek());
    if (lead == '\\') {
      ++pos_;
      const char c = peek();
      ++pos_;
      switch (c) {
        case 'n':
          return '\n';
        case 'r':
          return '\r';
        case 't':
          return '\t';
        case '0':
          return 0;
        case '\\':
        case '"':
        case '\'':
        case '[':
        case ']':
        case '-':
        case '^':
        case '/':
          return static_cast<char32_t>(c);
        case 'x':
          return parse_hex(2);
        case 'u':
          return parse_hex(4);
        case 'U':
          return parse_hex(8);
        default:
          fail(str("unknown escape '\\", c, "'"));
      }
    }
    const int length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
    if (length == 0 || pos_ + static_cast<size_t>(length) > text_.size()) {
      fail("the grammar text is not valid UTF-8");
    }
    char32_t cp = length == 1 ? lead : lead & (0x7F >> length);
    for (int i = 1; i < length; ++i) {
      const auto b = static_cast<unsigned char>(text_[pos_ + static_cast<size_t>(i)]);
      if ((b & 0xC0) != 0x80) fail("the grammar text is not valid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    pos_ += static_cast<size_t>(length);
    return cp;
  }

  // ---- rules ----
  uint32_t add_rule(const std::string& name, bool generated) {
    const auto id = static_cast<uint32_t>(names_.size());
    names_.push_back(name);
    rules_.emplace_back();
    defined_.push_back(false);
    generated_.push_back(generated);
    first_use_.push_back(pos_);
    if (!generated) index_.emplace(name, id);
    return id;
  }
  uint32_t named_rule(const std::string& name) {
    const auto it = index_.find(name);
    return it != index_.end() ? it->second : add_rule(name, false);
  }
  uint32_t helper_rule(const std::string& base) {
    return add_rule(str(base, "~", names_.size()), true);
  }

  uint32_t byte_set(const ByteSet& set) {
    for (size_t i = 0; i < sets_.size(); ++i) {
      if (sets_[i] == set) return static_cast<uint32_t>(i);
    }
    sets_.push_back(set);
    return static_cast<uint32_t>(sets_.size() - 1);
  }
  Element bytes(uint8_t lo, uint8_t hi) {
    ByteSet set;
    set.add(lo, hi);
    return {ElementKind::kBytes, byte_set(set)};
  }
  static Element ref(uint32_t rule) { return {ElementKind::kRule, rule}; }

  void parse_rules() {
    while (true) {
      skip_space(true);
      if (at_end()) break;
      const size_t start = pos_;
      const std::string name = parse_name();
      const uint32_t id = named_rule(name);
      if (defined_[id]) fail_at(start, "the rule '" + name + "' is defined twice");
      skip_space(false);
      if (text_.substr(pos_, 3) != "::=") fail("expected '::=' after the rule name '" + name + "'");
      pos_ += 3;
      skip_space(true);
      defined_[id] = true;
      rules_[id] = parse_alternatives(name, false);
      skip_space(false);
      if (!at_end() && peek() != '\n' && peek() != '\r') {
        fail(str("unexpected '", peek(), "' in the rule '", name, "'"));
      }
    }
  }

  std::vector<Sequence> parse_alternatives(const std::string& rule, bool nested) {
    std::vector<Sequence> alternatives;
    alternatives.push_back(parse_sequence(rule, nested));
    while (peek() == '|') {
      ++pos_;
      skip_space(true);
      alternatives.push_back(parse_sequence(rule, nested));
    }
    return alternatives;
  }

  Sequence parse_sequence(const std::string& rule, bool nested) {
    Sequence seq;
    size_t item = kNoItem;  // where the last item began, for a repetition that follows
    while (!at_end()) {
      const char c = peek();
      if (c == '"') {
        ++pos_;
        item = seq.size();
        while (peek() != '"') {
          if (at_end() || peek() == '\n')
            fail("unterminated literal: expected '\"' before the line ends");
          std::string encoded;
          utf8::append(parse_char(), encoded);
          for (char b : encoded) {
            seq.push_back(bytes(static_cast<uint8_t>(b), static_cast<uint8_t>(b)));
          }
        }
        ++pos_;
      } else if (c == '[') {
        item = seq.size();
        seq.push_back(parse_class(rule));
      } else if (c == '.') {
        ++pos_;
        item = seq.size();
        seq.push_back(class_element(rule, {{0, 0x10FFFF}}));
      } else if (is_name_char(c)) {
        item = seq.size();
        const size_t at = pos_;
        const uint32_t id = named_rule(parse_name());
        if (!defined_[id] && first_use_[id] > at) first_use_[id] = at;
        seq.push_back(ref(id));
      } else if (c == '(') {
        ++pos_;
        skip_space(true);
        const uint32_t group = helper_rule(rule);
        rules_[group] = parse_alternatives(rule, true);
        if (peek() != ')') fail("expected ')' to close the group");
        ++pos_;
        item = seq.size();
        seq.push_back(ref(group));
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (item == kNoItem) fail(str("'", c, "' must follow an item to repeat"));
        repeat(rule, seq, item);
        item = kNoItem;
      } else {
        break;
      }
      skip_space(nested);
    }
    return seq;
  }

  Element parse_class(const std::string& rule) {
    ++pos_;  // '['
    bool negated = false;
    if (peek() == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<CodePointRange> ranges;
    while (peek() != ']') {
      if (at_end()) fail("unterminated character class: expected ']'");
      const char32_t lo = parse_char();
      char32_t hi = lo;
      if (peek() == '-' && peek(1) != ']') {
        ++pos_;
        hi = parse_char();
        if (hi < lo) fail("a character range ends below its start");
      }
      ranges.push_back({lo, hi});
    }
    ++pos_;
    if (negated) ranges = complement(std::move(ranges));
    if (ranges.empty()) fail("the character class matches no character");
    return class_element(rule, ranges);
  }

  // A single byte set when every code point is one byte long, else a rule of byte sequences.
  Element class_element(const std::string& rule, const std::vector<CodePointRange>& ranges) {
    const std::vector<ByteRangeSequence> sequences = utf8_sequences(ranges);
    ByteSet single;
    bool any_single = false;
    std::vector<Sequence> multi;
    for (const auto& s : sequences) {
      if (s.size() == 1) {
        single.add(s[0].first, s[0].second);
        any_single = true;
        continue;
      }
      Sequence seq;
      for (const auto& [lo, hi] : s) seq.push_back(bytes(lo, hi));
      multi.push_back(std::move(seq));
    }
    if (multi.empty()) return {ElementKind::kBytes, byte_set(single)};
    std::string key;
    for (const auto& r : ranges)
      key += str(static_cast<uint32_t>(r.lo), "-", static_cast<uint32_t>(r.hi), ",");
    if (const auto it = class_rules_.find(key); it != class_rules_.end()) return ref(it->second);
    const uint32_t id = helper_rule(rule);
    if (any_single) rules_[id].push_back({{ElementKind::kBytes, byte_set(single)}});
    for (auto& m : multi) rules_[id].push_back(std::move(m));
    class_rules_.emplace(key, id);
    return ref(id);
  }

  uint32_t star(const std::string& rule, Element x) {
    const uint32_t id = helper_rule(rule);
    rules_[id] = {{x, ref(id)}, {}};
    return id;
  }

  uint32_t parse_count() {
    skip_space(false);
    const size_t start = pos_;
    uint64_t n = 0;
    while (peek() >= '0' && peek() <= '9') {
      n = n * 10 + static_cast<uint64_t>(peek() - '0');
      if (n > kMaxRepetition) fail(str("a repetition count above ", kMaxRepetition));
      ++pos_;
    }
    if (pos_ == start) fail("expected a number in the repetition {m,n}");
    skip_space(false);
    return static_cast<uint32_t>(n);
  }

  void repeat(const std::string& rule, Sequence& seq, size_t item) {
    const char op = peek();
    ++pos_;
    uint32_t min = 0;
    std::optional<uint32_t> max;
    if (op == '+') min = 1;
    if (op == '?') max = 1;
    if (op == '{') {
      min = parse_count();
      max = min;
      if (peek() == ',') {
        ++pos_;
        skip_space(false);
        max = peek() == '}' ? std::nullopt : std::optional<uint32_t>(parse_count());
      }
      if (peek() != '}') fail("expected '}' to close the repetition");
      ++pos_;
      if (max && *max < min) fail("a repetition {m,n} with n below m");
    }
    if (item == seq.size()) return;  // an empty literal repeated is still empty
    Element x = seq[item];
    if (seq.size() - item > 1) {  // several elements (a literal): repeat them as one rule
      const uint32_t id = helper_rule(rule);
      rules_[id] = {Sequence(seq.begin() + static_cast<std::ptrdiff_t>(item), seq.end())};
      x = ref(id);
    }
    seq.resize(item);
    for (uint32_t i = 0; i < min; ++i) seq.push_back(x);
    if (!max) {
      seq.push_back(ref(star(rule, x)));
      return;
    }
    // At most max - min more: x (x (x)?)? nested, so each choice is made once.
    std::optional<uint32_t> tail;
    for (uint32_t i = min; i < *max; ++i) {
      const uint32_t id = helper_rule(rule);
      Sequence more = {x};
      if (tail) more.push_back(ref(*tail));
      rules_[id] = {more, {}};
      tail = id;
    }
    if (tail) seq.push_back(ref(*tail));
  }

  // ---- checks and layout ----
  void check_left_recursion() const {
    const size_t n = rules_.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const auto& alt : rules_[r]) {
          const bool all = std::all_of(alt.begin(), alt.end(), [&](const Element& e) {
            return e.kind == ElementKind::kRule && nullable[e.value];
          });
          if (all) {
            nullable[r] = true;
            changed = true;
            break;
          }
        }
      }
    }
    // Rules that can start a rule without consuming a byte first.
    std::vector<std::vector<uint32_t>> leftmost(n);
    for (size_t r = 0; r < n; ++r) {
      for (const auto& alt : rules_[r]) {
        for (const auto& e : alt) {
          if (e.kind != ElementKind::kRule) break;
          leftmost[r].push_back(e.value);
          if (!nullable[e.value]) break;
        }
      }
    }
    std::vector<uint8_t> state(n, 0);  // 0 unseen, 1 on the path, 2 done
    std::vector<std::pair<uint32_t, size_t>> path;
    for (uint32_t start = 0; start < n; ++start) {
      if (state[start] != 0) continue;
      path.push_back({start, 0});
      state[start] = 1;
      while (!path.empty()) {
        auto& [r, next] = path.back();
        if (next == leftmost[r].size()) {
          state[r] = 2;
          path.pop_back();
          continue;
        }
        const uint32_t s = leftmost[r][next++];
        if (state[s] == 1) {
          throw Error(str("grammar: the rule '", display_name(s),
                          "' is left-recursive (it can reach itself before matching any "
                          "character), which would never end; rewrite it to repeat on the right, "
                          "e.g. `list ::= item (\",\" item)*`"));
        }
        if (state[s] == 0) {
          state[s] = 1;
          path.push_back({s, 0});
        }
      }
    }
  }

  std::string display_name(uint32_t rule) const {
    const std::string& name = names_[rule];
    return name.substr(0, name.find('~'));
  }

  Grammar flatten(uint32_t root) {
    Grammar g;
    g.root = root;
    g.byte_sets = std::move(sets_);
    g.rule_names = names_;
    g.alternatives.resize(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      for (const auto& alt : rules_[r]) {
        g.alternatives[r].push_back(static_cast<uint32_t>(g.elements.size()));
        g.elements.insert(g.elements.end(), alt.begin(), alt.end());
        g.elements.push_back({ElementKind::kEnd, 0});
      }
    }
    return g;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<std::vector<Sequence>> rules_;
  std::vector<std::string> names_;
  std::vector<bool> defined_;
  std::vector<bool> generated_;
  std::vector<size_t> first_use_;
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<ByteSet> sets_;
  std::map<std::string, uint32_t> class_rules_;
};

}  // namespace

Grammar parse_gbnf(std::string_view text, std::string_view root_rule) {
  return Compiler(text).compile(root_rule);
}

}  // namespace bottega::grammar
