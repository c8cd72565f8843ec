// Statements: text, {{ expr }}, if/elif/else, for/else (with a filter condition), set (plain,
// namespace attribute, tuple and block forms), macro, filter blocks, break/continue.
// Expressions, loosest first: ternary, or, and, not, comparisons/in/is, + -, ~, * / // %, **,
// unary minus, then primaries with postfix .attr [index] (call) and |filter / is test.
#include "template/parser.h"

#include <charconv>
#include <cstdlib>

#include "core/error.h"
#include "template/lexer.h"

namespace bottega::jinja {
namespace {

constexpr int kMaxNesting = 200;  // deeper input is rejected before it can exhaust the stack

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Program run() {
    Program program;
    const std::string end = parse_body(program.body, {});
    if (!end.empty()) fail(str("unexpected '", end, "' tag"));
    return program;
  }

 private:
  const Token& peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& next() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }
  int line() const { return peek().line; }

  [[noreturn]] void fail(const std::string& message) const {
    throw Error(str("template line ", line(), ": ", message));
  }

  static std::string describe(const Token& token) {
    switch (token.type) {
      case TokenType::kEnd:
        return "end of template";
      case TokenType::kVarEnd:
        return "'}}'";
      case TokenType::kBlockEnd:
        return "'%}'";
      case TokenType::kString:
        return "string";
      default:
        return "'" + token.text + "'";
    }
  }

  bool at_op(const char* op) const {
    return peek().type == TokenType::kOperator && peek().text == op;
  }
  bool at_name(const char* name) const {
    return peek().type == TokenType::kName && peek().text == name;
  }
  void expect_op(const char* op) {
    if (!at_op(op)) fail(str("expected '", op, "', found ", describe(peek())));
    next();
  }
  std::string expect_name() {
    if (peek().type != TokenType::kName) fail(str("expected a name, found ", describe(peek())));
    return next().text;
  }
  void expect_block_end() {
    if (peek().type != TokenType::kBlockEnd) fail(str("expected '%}', found ", describe(peek())));
    next();
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxNesting) parser.fail("template nested too deeply");
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };

  // Parses statements until one of the end tags; returns the tag met ("" at end of input).
  std::string parse_body(Body& body, const std::vector<std::string>& ends) {
    DepthGuard guard(*this);
    while (true) {
      const Token& token = peek();
      if (token.type == TokenType::kEnd) {
        if (!ends.empty()) fail(str("missing '", ends.back(), "' tag"));
        return "";
      }
      if (token.type == TokenType::kText) {
        auto stmt = make(StmtKind::kText);
        stmt->text = next().text;
        body.push_back(std::move(stmt));
      } else if (token.type == TokenType::kVarBegin) {
        next();
        auto stmt = make(StmtKind::kOutput);
        stmt->exprs.push_back(parse_expression());
        if (peek().type != TokenType::kVarEnd) {
          fail(str("expected '}}', found ", describe(peek())));
        }
        next();
        body.push_back(std::move(stmt));
      } else {
        next();  // {%
        const std::string tag = expect_name();
        for (const auto& end : ends) {
          if (tag == end) return tag;
        }
        body.push_back(parse_tag(tag));
      }
    }
  }

  std::unique_ptr<Stmt> make(StmtKind kind) {
    auto stmt = std::make_unique<Stmt>();
    stmt->kind = kind;
    stmt->line = line();
    return stmt;
  }

  std::unique_ptr<Stmt> parse_tag(const std::string& tag) {
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "filter") return parse_filter_block();
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail(str("'", tag, "' outside a loop"));
      auto stmt = make(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue);
      expect_block_end();
      return stmt;
    }
    fail(str("unknown tag '", tag, "'"));
  }

  std::unique_ptr<Stmt> parse_if() {
    auto stmt = make(StmtKind::kIf);
    stmt->exprs.push_back(parse_expression());
    expect_block_end();
    while (true) {
      stmt->bodies.emplace_back();
      const std::string end = parse_body(stmt->bodies.back(), {"elif", "else", "endif"});
      if (end == "elif") {
        stmt->exprs.push_back(parse_expression());
        expect_block_end();
      } else if (end == "else") {
        expect_block_end();
        stmt->bodies.emplace_back();
        parse_body(stmt->bodies.back(), {"endif"});
        expect_block_end();
        return stmt;
      } else {
        expect_block_end();
        return stmt;
      }
    }
  }

  std::unique_ptr<Stmt> parse_for() {
    auto stmt = make(StmtKind::kFor);
    do {
      stmt->targets.push_back(expect_name());
    } while (at_op(",") && next().type == TokenType::kOperator);
    if (!at_name("in")) fail(str("expected 'in' in for loop, found ", describe(peek())));
    next();
    stmt->exprs.push_back(parse_or());
    if (at_name("if")) {
      next();
      stmt->exprs.push_back(parse_expression());
    }
    if (at_name("recursive")) fail("recursive loops are not supported");
    expect_block_end();
    ++loop_depth_;
    stmt->bodies.emplace_back();
    std::string end = parse_body(stmt->bodies.back(), {"else", "endfor"});
    --loop_depth_;
    expect_block_end();
    if (end == "else") {
      stmt->bodies.emplace_back();
      parse_body(stmt->bodies.back(), {"endfor"});
      expect_block_end();
    }
    return stmt;
  }

  std::unique_ptr<Stmt> parse_set() {
    auto stmt = make(StmtKind::kSet);
    stmt->targets.push_back(expect_name());
    if (at_op(".")) {
      next();
      stmt->text = expect_name();
    }
    while (stmt->text.empty() && at_op(",")) {
      next();
      stmt->targets.push_back(expect_name());
    }
    if (peek().type == TokenType::kBlockEnd && stmt->targets.size() == 1) {
      next();
      stmt->kind = StmtKind::kSetBlock;
      stmt->bodies.emplace_back();
      parse_body(stmt->bodies.back(), {"endset"});
      expect_block_end();
      return stmt;
    }
    expect_op("=");
    stmt->exprs.push_back(parse_tuple_or_expression());
    expect_block_end();
    return stmt;
  }

  std::unique_ptr<Stmt> parse_macro() {
    auto stmt = make(StmtKind::kMacro);
    stmt->targets.push_back(expect_name());
    expect_op("(");
    while (!at_op(")")) {
      stmt->targets.push_back(expect_name());
      if (at_op("=")) {
        next();
        stmt->exprs.push_back(parse_expression());
      } else if (!stmt->exprs.empty()) {
        fail("a macro parameter without a default follows one with a default");
      } else {
        ++stmt->n_required;
      }
      if (!at_op(",")) break;
      next();
    }
    expect_op(")");
    expect_block_end();
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    stmt->bodies.emplace_back();
    parse_body(stmt->bodies.back(), {"endmacro"});
    loop_depth_ = saved_loops;
    expect_block_end();
    return stmt;
  }

  std::unique_ptr<Stmt> parse_filter_block() {
    auto stmt = make(StmtKind::kFilterBlock);
    ExprPtr filter = parse_filter(nullptr);
    while (at_op("|")) {
      next();
      filter = parse_filter(std::move(filter));
    }
    stmt->exprs.push_back(std::move(filter));
    expect_block_end();
    stmt->bodies.emplace_back();
    parse_body(stmt->bodies.back(), {"endfilter"});
    expect_block_end();
    return stmt;
  }

  ExprPtr node(ExprKind kind, int at_line) {
    auto expr = std::make_unique<Expr>();
    expr->kind = kind;
    expr->line = at_line;
    return expr;
  }

  ExprPtr binary(const std::string& op, ExprPtr lhs, ExprPtr rhs) {
    auto expr = node(ExprKind::kBinary, lhs->line);
    expr->name = op;
    expr->children.push_back(std::move(lhs));
    expr->children.push_back(std::move(rhs));
    return expr;
  }

  // "a, b" without brackets is a tuple where jinja2 allows it (set values).
  ExprPtr parse_tuple_or_expression() {
    ExprPtr first = parse_expression();
    if (!at_op(",")) return first;
    auto tuple = node(ExprKind::kTuple, first->line);
    tuple->children.push_back(std::move(first));
    while (at_op(",")) {
      next();
      tuple->children.push_back(parse_expression());
    }
    return tuple;
  }

  ExprPtr parse_expression() {
    DepthGuard guard(*this);
    ExprPtr value = parse_or();
    while (at_name("if")) {
      next();
      auto cond = node(ExprKind::kCondition, value->line);
      cond->children.push_back(std::move(value));
      cond->children.push_back(parse_or());
      if (at_name("else")) {
        next();
        cond->children.push_back(parse_expression());
      } else {
        cond->children.push_back(nullptr);
      }
      value = std::move(cond);
    }
    return value;
  }

  ExprPtr parse_or() {
    ExprPtr lhs = parse_and();
    while (at_name("or")) {
      next();
      lhs = binary("or", std::move(lhs), parse_and());
    }
    return lhs;
  }

  ExprPtr parse_and() {
    ExprPtr lhs = parse_not();
    while (at_name("and")) {
      next();
      lhs = binary("and", std::move(lhs), parse_not());
    }
    return lhs;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      DepthGuard guard(*this);
      auto expr = node(ExprKind::kUnary, line());
      next();
      expr->name = "not";
      expr->children.push_back(parse_not());
      return expr;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr lhs = parse_math1();
    while (true) {
      std::string op;
      if (peek().type == TokenType::kOperator &&
          (at_op("==") || at_op("!=") || at_op("<") || at_op("<=") || at_op(">") || at_op(">="))) {
        op = next().text;
      } else if (at_name("in")) {
        next();
        op = "in";
      } else if (at_name("not") && peek(1).type == TokenType::kName && peek(1).text == "in") {
        next();
        next();
        op = "not in";
      } else {
        return lhs;
      }
      lhs = binary(op, std::move(lhs), parse_math1());
    }
  }

  ExprPtr parse_math1() {
    ExprPtr lhs = parse_concat();
    while (at_op("+") || at_op("-")) {
      const std::string op = next().text;
      lhs = binary(op, std::move(lhs), parse_concat());
    }
    return lhs;
  }

  ExprPtr parse_concat() {
    ExprPtr lhs = parse_math2();
    while (at_op("~")) {
      next();
      lhs = binary("~", std::move(lhs), parse_math2());
    }
    return lhs;
  }

  ExprPtr parse_math2() {
    ExprPtr lhs = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const std::string op = next().text;
      lhs = binary(op, std::move(lhs), parse_pow());
    }
    return lhs;
  }

  ExprPtr parse_pow() {
    ExprPtr lhs = parse_unary(true);
    while (at_op("**")) {
      next();
      lhs = binary("**", std::move(lhs), parse_unary(true));
    }
    return lhs;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr expr;
    if (at_op("-") || at_op("+")) {
      expr = node(ExprKind::kUnary, line());
      expr->name = next().text;
      expr->children.push_back(parse_unary(false));
    } else {
      expr = parse_postfix(parse_primary());
    }
    if (with_filter) return parse_filters_and_tests(std::move(expr));
    return expr;
  }

  ExprPtr parse_primary() {
    const Token& token = peek();
    const int at_line = token.line;
    if (token.type == TokenType::kName) {
      next();
      if (token.text == "true" || token.text == "True")
        return literal(Value::from_bool(true), at_line);
      if (token.text == "false" || token.text == "False")
        return literal(Value::from_bool(false), at_line);
      if (token.text == "none" || token.text == "None") return literal(Value::none(), at_line);
      auto expr = node(ExprKind::kName, at_line);
      expr->name = token.text;
      return expr;
    }
    if (token.type == TokenType::kString) {
      std::string text;
      while (peek().type == TokenType::kString) text += next().text;
      return literal(Value::from_string(std::move(text)), at_line);
    }
    if (token.type == TokenType::kInt) {
      next();
      int64_t value = 0;
      const auto [ptr, ec] =
          std::from_chars(token.text.data(), token.text.data() + token.text.size(), value);
      if (ec != std::errc()) fail(str("integer literal ", token.text, " is too large"));
      return literal(Value::from_int(value), at_line);
    }
    if (token.type == TokenType::kFloat) {
      next();
      return literal(Value::from_float(std::strtod(token.text.c_str(), nullptr)), at_line);
    }
    if (at_op("(")) {
      next();
      if (at_op(")")) {
        next();
        return node(ExprKind::kTuple, at_line);
      }
      ExprPtr inner = parse_expression();
      if (at_op(",")) {
        auto tuple = node(ExprKind::kTuple, at_line);
        tuple->children.push_back(std::move(inner));
        while (at_op(",")) {
          next();
          if (at_op(")")) break;
          tuple->children.push_back(parse_expression());
        }
        inner = std::move(tuple);
      }
      expect_op(")");
      return inner;
    }
    if (at_op("[")) {
      next();
      auto list = node(ExprKind::kList, at_line);
      while (!at_op("]")) {
        list->children.push_back(parse_expression());
        if (!at_op(",")) break;
        next();
      }
      expect_op("]");
      return list;
    }
    if (at_op("{")) {
      next();
      auto dict = node(ExprKind::kDict, at_line);
      while (!at_op("}")) {
        dict->children.push_back(parse_expression());
        expect_op(":");
        dict->children.push_back(parse_expression());
        if (!at_op(",")) break;
        next();
      }
      expect_op("}");
      return dict;
    }
    fail(str("unexpected ", describe(token)));
  }

  ExprPtr literal(Value value, int at_line) {
    auto expr = node(ExprKind::kLiteral, at_line);
    expr->value = std::move(value);
    return expr;
  }

  ExprPtr parse_postfix(ExprPtr expr) {
    while (true) {
      if (at_op(".")) {
        next();
        auto attr = node(ExprKind::kAttr, expr->line);
        if (peek().type == TokenType::kInt) {  // jinja2: foo.0 is foo[0]
          attr->kind = ExprKind::kIndex;
          attr->children.push_back(std::move(expr));
          attr->children.push_back(parse_primary());
        } else {
          attr->name = expect_name();
          attr->children.push_back(std::move(expr));
        }
        expr = std::move(attr);
      } else if (at_op("[")) {
        next();
        expr = parse_subscript(std::move(expr));
      } else if (at_op("(")) {
        auto call = node(ExprKind::kCall, expr->line);
        call->children.push_back(std::move(expr));
        parse_call_args(*call);
        expr = std::move(call);
      } else {
        return expr;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    auto expr = node(ExprKind::kIndex, object->line);
    expr->children.push_back(std::move(object));
    ExprPtr parts[3];
    int n_parts = 0;
    bool slice = false;
    while (true) {
      if (!at_op(":") && !at_op("]")) parts[n_parts] = parse_expression();
      if (at_op(":") && n_parts < 2) {
        next();
        slice = true;
        ++n_parts;
        continue;
      }
      break;
    }
    expect_op("]");
    if (!slice) {
      if (!parts[0]) fail("empty subscript");
      expr->children.push_back(std::move(parts[0]));
      return expr;
    }
    expr->kind = ExprKind::kSlice;
    for (auto& part : parts) expr->children.push_back(std::move(part));
    return expr;
  }

  void parse_call_args(Expr& call) {
    expect_op("(");
    while (!at_op(")")) {
      if (peek().type == TokenType::kName && peek(1).type == TokenType::kOperator &&
          peek(1).text == "=") {
        call.arg_names.push_back(next().text);
        next();
      } else {
        if (!call.arg_names.empty() && !call.arg_names.back().empty()) {
          fail("a positional argument follows a keyword argument");
        }
        call.arg_names.emplace_back();
      }
      call.children.push_back(parse_expression());
      if (!at_op(",")) break;
      next();
    }
    expect_op(")");
  }

  ExprPtr parse_filter(ExprPtr object) {
    auto filter = node(ExprKind::kFilter, line());
    std::string name = expect_name();
    while (at_op(".")) {
      next();
      name += "." + expect_name();
    }
    filter->name = name;
    filter->children.push_back(std::move(object));
    if (at_op("(")) parse_call_args(*filter);
    return filter;
  }

  ExprPtr parse_filters_and_tests(ExprPtr expr) {
    while (true) {
      if (at_op("|")) {
        next();
        expr = parse_filter(std::move(expr));
      } else if (at_name("is")) {
        next();
        auto test = node(ExprKind::kTest, line());
        if (at_name("not")) {
          next();
          test->negated = true;
        }
        test->name = expect_name();
        test->children.push_back(std::move(expr));
        if (at_op("(")) {
          parse_call_args(*test);
        } else if (starts_test_argument()) {
          test->arg_names.emplace_back();
          test->children.push_back(parse_postfix(parse_primary()));
        }
        expr = std::move(test);
      } else {
        return expr;
      }
    }
  }

  // jinja2 takes one bare argument after a test name: "is divisibleby 3", "is sameas none".
  bool starts_test_argument() const {
    const Token& token = peek();
    switch (token.type) {
      case TokenType::kString:
      case TokenType::kInt:
      case TokenType::kFloat:
        return true;
      case TokenType::kName:
        return token.text != "else" && token.text != "or" && token.text != "and" &&
               token.text != "if" && token.text != "is" && token.text != "in" &&
               token.text != "not";
      case TokenType::kOperator:
        return token.text == "[" || token.text == "{";
      default:
        return false;
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Program parse(const std::string& source) {
  return Parser(tokenize(source)).run();
}

}  // namespace bottega::jinja
