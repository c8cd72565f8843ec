// UTF-8 encoding of one code point, shared by the tokenizers and the template lexer.
#pragma once

#include <string>

namespace bottega::utf8 {

// Appends the 1 to 4 bytes of cp (at most U+10FFFF) to out.
void append(char32_t cp, std::string& out);

}  // namespace bottega::utf8
