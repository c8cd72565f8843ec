// The syntax tree the parser builds and the renderer walks. Every node keeps its source line so
// errors can name it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "template/value.h"

namespace bottega::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral,   // value
  kName,      // name
  kList,      // children
  kTuple,     // children
  kDict,      // children: key, value, key, value...
  kAttr,      // children[0].name
  kIndex,     // children[0][children[1]]
  kSlice,     // children[0][children[1]:children[2]:children[3]], absent parts null
  kCall,      // children[0](children[1..]), arg_names parallel to the arguments
  kFilter,    // children[0] | name(children[1..]); children[0] null in a filter block
  kTest,      // children[0] is [not] name(children[1..])
  kUnary,     // op children[0]: "-", "+", "not"
  kBinary,    // children[0] op children[1]
  kCondition  // children[0] if children[1] else children[2] (null: undefined)
};

struct Expr {
  ExprKind kind;
  int line = 0;
  std::string name;  // name, attribute, filter/test name or operator
  Value value;       // kLiteral
  bool negated = false;
  std::vector<ExprPtr> children;
  std::vector<std::string> arg_names;  // kCall/kFilter/kTest: "" for positional arguments
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

enum class StmtKind {
  kText,
  kOutput,
  kIf,
  kFor,
  kSet,
  kSetBlock,
  kMacro,
  kBreak,
  kContinue,
  kFilterBlock
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;                  // kText
  std::vector<ExprPtr> exprs;        // kOutput: [value]; kIf: conditions; kFor: [iterable, filter?]
                                     // kSet: [value]; kMacro: defaults; kFilterBlock: [filter]
  std::vector<Body> bodies;          // kIf: one per condition, then else; kFor: body, else
  std::vector<std::string> targets;  // kFor: loop variables; kSet/kSetBlock: name or "ns.attr"
                                     // kMacro: [name, params...]
  size_t n_required = 0;             // kMacro: parameters without a default
};

struct Program {
  Body body;
};

}  // namespace bottega::jinja
