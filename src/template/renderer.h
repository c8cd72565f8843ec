// Walks a parsed template with Python's scoping as jinja2 applies it: each for-loop iteration and
// each macro call gets its own scope; if-blocks and set write to the scope they are in.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "template/ast.h"
#include "template/template.h"

namespace bottega::jinja {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
  const Value* find(const std::string& name) const;
};

std::string render_program(const Program& program, std::shared_ptr<Scope> globals,
                           const RenderOptions& options);

}  // namespace bottega::jinja
