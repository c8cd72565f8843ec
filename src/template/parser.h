// Recursive-descent parser from tokens to the syntax tree, with jinja2's operator precedence.
#pragma once

#include <string>

#include "template/ast.h"

namespace bottega::jinja {

// Throws Error("template line N: ...") naming the unexpected token or unknown tag.
Program parse(const std::string& source);

}  // namespace bottega::jinja
