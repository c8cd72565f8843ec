// Splits Jinja source into text and tag tokens, applying jinja2's whitespace rules as Hugging Face
// configures them: trim_blocks, lstrip_blocks, '-'/'+' modifiers, and the final newline dropped.
#pragma once

#include <string>
#include <vector>

namespace bottega::jinja {

enum class TokenType {
  kText,
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,
  kInt,
  kFloat,
  kOperator,
  kEnd,
};

struct Token {
  TokenType type;
  std::string text;  // kString: the unescaped value
  int line;
};

// Throws Error("template line N: ...") for malformed source (unterminated tags or strings).
std::vector<Token> tokenize(const std::string& source);

}  // namespace bottega::jinja
