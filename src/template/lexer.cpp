// Jinja lexing. Text runs until "{{", "{%" or "{#"; inside a tag, expression tokens run until the
// matching close, so a "%}" inside a string literal does not end the tag.
#include "template/lexer.h"

#include <cctype>
#include <cstring>

#include "core/error.h"
#include "core/utf8.h"

namespace bottega::jinja {
namespace {

// jinja2 normalizes \r\n and \r to \n and, without keep_trailing_newline, drops one final newline.
std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) lex_text();
    tokens_.push_back({TokenType::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error(str("template line ", line_, ": ", message));
  }

  void advance(size_t n) {
    for (size_t i = 0; i < n && pos_ < src_.size(); ++i, ++pos_) line_ += src_[pos_] == '\n';
  }

  bool starts(const char* text) const { return src_.compare(pos_, std::strlen(text), text) == 0; }

  void emit_text(std::string text, int line) {
    if (!text.empty()) tokens_.push_back({TokenType::kText, std::move(text), line});
  }

  void lex_text() {
    const int start_line = line_;
    size_t open = pos_;
    while (true) {
      open = src_.find('{', open);
      if (open == std::string::npos || open + 1 >= src_.size()) {
        emit_text(src_.substr(pos_), start_line);
        advance(src_.size() - pos_);
        return;
      }
      const char kind = src_[open + 1];
      if (kind == '{' || kind == '%' || kind == '#') break;
      ++open;
    }
    const char kind = src_[open + 1];
    const char modifier = open + 2 < src_.size() ? src_[open + 2] : '\0';
    std::string text = src_.substr(pos_, open - pos_);
    if (modifier == '-') {
      while (!text.empty() && is_space(text.back())) text.pop_back();
    } else if (kind != '{' && modifier != '+') {
      // lstrip_blocks: a block or comment alone after indentation takes the indentation with it.
      size_t cut = text.size();
      while (cut > 0 && (text[cut - 1] == ' ' || text[cut - 1] == '\t')) --cut;
      const bool line_start =
          cut == 0 ? (open - text.size() == 0 || src_[pos_ - 1] == '\n') : text[cut - 1] == '\n';
      if (line_start) text.resize(cut);
    }
    emit_text(std::move(text), start_line);
    advance(open - pos_);
    advance(2 + (modifier == '-' || modifier == '+'));
    if (kind == '#') {
      lex_comment();
    } else {
      lex_tag(kind == '{');
    }
  }

  // After a tag or comment: '-' strips all following whitespace, trim_blocks one newline.
  void after_close(char modifier, bool block) {
    if (modifier == '-') {
      while (pos_ < src_.size() && is_space(src_[pos_])) advance(1);
    } else if (block && modifier != '+' && pos_ < src_.size() && src_[pos_] == '\n') {
      advance(1);
    }
  }

  void lex_comment() {
    const size_t close = src_.find("#}", pos_);
    if (close == std::string::npos) fail("unterminated comment '{#'");
    const char modifier = close > pos_ ? src_[close - 1] : '\0';
    advance(close + 2 - pos_);
    after_close(modifier, true);
  }

  void lex_tag(bool variable) {
    tokens_.push_back({variable ? TokenType::kVarBegin : TokenType::kBlockBegin, "", line_});
    const char* close = variable ? "}}" : "%}";
    int depth = 0;  // brackets: "}}" inside a dict literal is not the end of a {{ }} tag
    while (true) {
      while (pos_ < src_.size() && is_space(src_[pos_])) advance(1);
      if (pos_ >= src_.size()) fail(str("unterminated tag '", variable ? "{{" : "{%", "'"));
      char modifier = '\0';
      if ((src_[pos_] == '-' || src_[pos_] == '+') && src_.compare(pos_ + 1, 2, close) == 0) {
        modifier = src_[pos_];
        advance(1);
      }
      if (depth == 0 && starts(close)) {
        tokens_.push_back({variable ? TokenType::kVarEnd : TokenType::kBlockEnd, "", line_});
        advance(2);
        after_close(modifier, !variable);
        return;
      }
      const char c = src_[pos_];
      if (c == '(' || c == '[' || c == '{') ++depth;
      if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
      lex_token();
    }
  }

  void lex_token() {
    const char c = src_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos_;
      while (end < src_.size() &&
             (std::isalnum(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) {
        ++end;
      }
      tokens_.push_back({TokenType::kName, src_.substr(pos_, end - pos_), line_});
      advance(end - pos_);
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      lex_number();
    } else if (c == '\'' || c == '"') {
      lex_string(c);
    } else {
      static const char* const kOperators[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                               "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                               "]",  "{",  "}",  ",",  ".",  ":",  "|"};
      for (const char* op : kOperators) {
        if (starts(op)) {
          tokens_.push_back({TokenType::kOperator, op, line_});
          advance(std::strlen(op));
          return;
        }
      }
      fail(str("unexpected character '", c, "'"));
    }
  }

  void lex_number() {
    size_t end = pos_;
    bool is_float = false;
    const auto digits = [&] {
      while (end < src_.size() &&
             (std::isdigit(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) {
        ++end;
      }
    };
    digits();
    if (end + 1 < src_.size() && src_[end] == '.' &&
        std::isdigit(static_cast<unsigned char>(src_[end + 1]))) {
      is_float = true;
      ++end;
      digits();
    }
    if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
      size_t exp = end + 1;
      if (exp < src_.size() && (src_[exp] == '+' || src_[exp] == '-')) ++exp;
      if (exp < src_.size() && std::isdigit(static_cast<unsigned char>(src_[exp]))) {
        is_float = true;
        end = exp;
        digits();
      }
    }
    std::string text;
    for (size_t i = pos_; i < end; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    tokens_.push_back({is_float ? TokenType::kFloat : TokenType::kInt, text, line_});
    advance(end - pos_);
  }

  void lex_string(char quote) {
    const int line = line_;
    std::string value;
    size_t i = pos_ + 1;
    while (true) {
      if (i >= src_.size()) fail("unterminated string literal");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\' || i + 1 >= src_.size()) {
        value += c;
        ++i;
        continue;
      }
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        case '0':
          value += '\0';
          break;
        case '\\':
          value += '\\';
          break;
        case '\'':
          value += '\'';
          break;
        case '"':
          value += '"';
          break;
        case '\n':
          break;
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (i + n > src_.size()) fail("bad escape in string literal");
          for (size_t k = i; k < i + n; ++k) {
            if (!std::isxdigit(static_cast<unsigned char>(src_[k]))) {
              fail("bad escape in string literal");
            }
          }
          utf8::append(
              std::min<char32_t>(static_cast<char32_t>(std::stoul(src_.substr(i, n), nullptr, 16)),
                                 0x10FFFF),
              value);
          i += n;
          break;
        }
        default:
          value += '\\';
          value += e;
      }
    }
    tokens_.push_back({TokenType::kString, std::move(value), line});
    advance(i + 1 - pos_);
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) {
  return Lexer(normalize_newlines(source)).run();
}

}  // namespace bottega::jinja
