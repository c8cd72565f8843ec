// The tree-walking renderer. Errors anywhere are reported with the template line being executed;
// recursion (macro calls) and total work are bounded so a hostile template cannot crash or hang.
#include "template/renderer.h"

#include <cmath>

#include "core/error.h"
#include "template/builtins.h"
#include "template/python_str.h"

namespace bottega::jinja {

const Value* Scope::find(const std::string& name) const {
  for (const Scope* scope = this; scope; scope = scope->parent.get()) {
    const auto it = scope->vars.find(name);
    if (it != scope->vars.end()) return &it->second;
  }
  return nullptr;
}

namespace {

constexpr int kMaxCallDepth = 100;
constexpr size_t kMaxStringBytes = size_t{64} << 20;  // one computed string or the whole output

using ScopePtr = std::shared_ptr<Scope>;

ScopePtr child_of(const ScopePtr& parent) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  return scope;
}

struct SliceIndices {
  std::vector<size_t> picked;
};

int64_t optional_int(const Value& v, const char* what) {
  if (v.kind == Kind::kBool) return v.boolean;
  if (v.kind != Kind::kInt) throw Error(str("slice ", what, " must be an integer or none"));
  return v.integer;
}

// Python's slice rules for a sequence of n items.
std::vector<size_t> slice_indices(int64_t n, const Value* start_v, const Value* stop_v,
                                  const Value* step_v) {
  int64_t step = step_v && !step_v->is_none() ? optional_int(*step_v, "step") : 1;
  if (step == 0) throw Error("slice step cannot be zero");
  step = std::clamp(step, -(n + 1), n + 1);  // a longer stride picks the same items
  const auto bound = [&](const Value* v, int64_t fallback, int64_t lo, int64_t hi) {
    if (!v || v->is_none()) return fallback;
    int64_t i = optional_int(*v, "index");
    if (i < 0) i += n;
    return std::clamp(i, lo, hi);
  };
  std::vector<size_t> out;
  if (step > 0) {
    const int64_t start = bound(start_v, 0, 0, n);
    const int64_t stop = bound(stop_v, n, 0, n);
    for (int64_t i = start; i < stop; i += step) out.push_back(static_cast<size_t>(i));
  } else {
    const int64_t start = bound(start_v, n - 1, -1, n - 1);
    const int64_t stop = bound(stop_v, -1, -1, n - 1);
    for (int64_t i = start; i > stop; i += step) out.push_back(static_cast<size_t>(i));
  }
  return out;
}

class Renderer {
 public:
  explicit Renderer(const RenderOptions& options) : options_(options) {}

  std::string run(const Program& program, const ScopePtr& globals) {
    install_globals(*globals);
    std::string output;
    out_ = &output;
    try {
      exec_body(program.body, globals);
    } catch (const Error& e) {
      throw Error(str("template line ", line_, ": ", e.what()));
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {  // a library routine's complaint about a bad value
      throw Error(str("template line ", line_, ": ", e.what()));
    }
    return output;
  }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  void step() {
    if (++steps_ > options_.max_steps) {
      throw Error(str("template does too much work (more than ", options_.max_steps,
                      " statements and loop iterations)"));
    }
  }

  void emit(const std::string& text) {
    if (out_->size() + text.size() > kMaxStringBytes) throw Error("template output exceeds 64 MiB");
    *out_ += text;
  }

  void install_globals(Scope& scope) {
    scope.vars.emplace("range", Value::from_callable("range", [](const CallArgs& a) {
                         const auto arg = [&](size_t i) {
                           const Value& v = a.positional[i];
                           if (v.kind != Kind::kInt)
                             throw Error("range() arguments must be integers");
                           return v.integer;
                         };
                         if (a.positional.empty() || a.positional.size() > 3)
                           throw Error("range expected 1 to 3 arguments");
                         const int64_t start = a.positional.size() == 1 ? 0 : arg(0);
                         const int64_t stop = a.positional.size() == 1 ? arg(0) : arg(1);
                         const int64_t step = a.positional.size() == 3 ? arg(2) : 1;
                         if (step == 0) throw Error("range() arg 3 must not be zero");
                         List items;
                         for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
                           if (items.size() >= 1'000'000)
                             throw Error("range() is limited to 1000000 items");
                           items.push_back(Value::from_int(i));
                           if (__builtin_add_overflow(i, step, &i)) break;
                         }
                         return Value::from_list(std::move(items));
                       }));
    const auto make_dict = [](const CallArgs& a, bool is_namespace) {
      Dict dict;
      dict.is_namespace = is_namespace;
      for (const Value& positional : a.positional) {
        if (!positional.is_dict()) throw Error("namespace()/dict() takes a mapping");
        for (const auto& [k, v] : positional.dict->items) dict.set(k, v);
      }
      for (const auto& [k, v] : a.named) dict.set(k, v);
      return Value::from_dict(std::move(dict));
    };
    scope.vars.emplace("namespace",
                       Value::from_callable("namespace", [make_dict](const CallArgs& a) {
                         return make_dict(a, true);
                       }));
    scope.vars.emplace("dict", Value::from_callable("dict", [make_dict](const CallArgs& a) {
                         return make_dict(a, false);
                       }));
    scope.vars.emplace("raise_exception",
                       Value::from_callable("raise_exception", [](const CallArgs& a) -> Value {
                         throw Error(a.positional.empty() ? std::string("raise_exception")
                                                          : to_str(a.positional[0]));
                       }));
    const std::optional<std::time_t> now = options_.now;
    scope.vars.emplace(
        "strftime_now", Value::from_callable("strftime_now", [now](const CallArgs& a) {
          if (a.positional.empty() || !a.positional[0].is_string()) {
            throw Error("strftime_now() takes a format string");
          }
          const std::time_t t = now ? *now : std::time(nullptr);
          std::tm parts{};
          if (now) {
            gmtime_r(&t, &parts);
          } else {
            localtime_r(&t, &parts);
          }
          char buffer[512];
          const size_t n =
              std::strftime(buffer, sizeof buffer, a.positional[0].text.c_str(), &parts);
          return Value::from_string(std::string(buffer, n));
        }));
  }

  Flow exec_body(const Body& body, const ScopePtr& scope) {
    for (const auto& stmt : body) {
      const Flow flow = exec(*stmt, scope);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow exec(const Stmt& stmt, const ScopePtr& scope) {
    step();
    line_ = stmt.line;
    switch (stmt.kind) {
      case StmtKind::kText:
        emit(stmt.text);
        return Flow::kNormal;
      case StmtKind::kOutput: {
        const Value value = eval(*stmt.exprs[0], scope);
        emit(to_str(value));
        return Flow::kNormal;
      }
      case StmtKind::kIf: {
        for (size_t i = 0; i < stmt.exprs.size(); ++i) {
          if (truthy(eval(*stmt.exprs[i], scope))) return exec_body(stmt.bodies[i], scope);
        }
        if (stmt.bodies.size() > stmt.exprs.size()) return exec_body(stmt.bodies.back(), scope);
        return Flow::kNormal;
      }
      case StmtKind::kFor:
        exec_for(stmt, scope);
        return Flow::kNormal;
      case StmtKind::kSet:
        exec_set(stmt, scope);
        return Flow::kNormal;
      case StmtKind::kSetBlock:
        scope->vars[stmt.targets[0]] = Value::from_string(capture(stmt.bodies[0], scope));
        return Flow::kNormal;
      case StmtKind::kMacro:
        define_macro(stmt, scope);
        return Flow::kNormal;
      case StmtKind::kBreak:
        return Flow::kBreak;
      case StmtKind::kContinue:
        return Flow::kContinue;
      case StmtKind::kFilterBlock: {
        const Value body = Value::from_string(capture(stmt.bodies[0], scope));
        line_ = stmt.line;
        emit(to_str(apply_filter_chain(*stmt.exprs[0], body, scope)));
        return Flow::kNormal;
      }
    }
    return Flow::kNormal;
  }

  std::string capture(const Body& body, const ScopePtr& scope) {
    std::string captured;
    std::string* saved = out_;
    out_ = &captured;
    exec_body(body, scope);
    out_ = saved;
    return captured;
  }

  // A filter block's chain: the innermost filter's input is the block's text.
  Value apply_filter_chain(const Expr& filter, const Value& body, const ScopePtr& scope) {
    const Value input =
        filter.children[0] ? apply_filter_chain(*filter.children[0], body, scope) : body;
    return apply_filter(filter.name, input, eval_args(filter, 1, scope));
  }

  void bind_targets(Scope& scope, const std::vector<std::string>& targets, const Value& item) {
    if (targets.size() == 1) {
      scope.vars[targets[0]] = item;
      return;
    }
    const List values = iterate(item);
    if (values.size() != targets.size()) {
      throw Error(str(values.size() < targets.size() ? "not enough" : "too many",
                      " values to unpack (expected ", targets.size(), ", got ", values.size(),
                      ")"));
    }
    for (size_t i = 0; i < targets.size(); ++i) scope.vars[targets[i]] = values[i];
  }

  void exec_for(const Stmt& stmt, const ScopePtr& scope) {
    List items = iterate(eval(*stmt.exprs[0], scope));
    if (stmt.exprs.size() > 1) {  // {% for x in xs if cond %}: loop.length counts what passes
      List kept;
      for (const Value& item : items) {
        step();
        auto probe = child_of(scope);
        bind_targets(*probe, stmt.targets, item);
        if (truthy(eval(*stmt.exprs[1], probe))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const auto n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      step();
      auto body_scope = child_of(scope);
      bind_targets(*body_scope, stmt.targets, items[static_cast<size_t>(i)]);
      body_scope->vars["loop"] = loop_object(items, i);
      const Flow flow = exec_body(stmt.bodies[0], body_scope);
      if (flow == Flow::kBreak) break;
    }
    if (items.empty() && stmt.bodies.size() > 1) exec_body(stmt.bodies[1], child_of(scope));
  }

  static Value loop_object(const List& items, int64_t i) {
    const auto n = static_cast<int64_t>(items.size());
    Dict loop;
    loop.items.reserve(12);
    loop.set("index", Value::from_int(i + 1));
    loop.set("index0", Value::from_int(i));
    loop.set("revindex", Value::from_int(n - i));
    loop.set("revindex0", Value::from_int(n - i - 1));
    loop.set("first", Value::from_bool(i == 0));
    loop.set("last", Value::from_bool(i == n - 1));
    loop.set("length", Value::from_int(n));
    loop.set("depth", Value::from_int(1));
    loop.set("depth0", Value::from_int(0));
    loop.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)]
                               : Value::undefined("there is no previous item"));
    loop.set("nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)]
                                   : Value::undefined("there is no next item"));
    loop.set("cycle", Value::from_callable("cycle", [i](const CallArgs& a) {
               if (a.positional.empty()) throw Error("no items for cycling given");
               return a.positional[static_cast<size_t>(i) % a.positional.size()];
             }));
    return Value::from_dict(std::move(loop));
  }

  void exec_set(const Stmt& stmt, const ScopePtr& scope) {
    Value value = eval(*stmt.exprs[0], scope);
    if (!stmt.text.empty()) {
      const Value* target = scope->find(stmt.targets[0]);
      if (!target || !target->is_dict() || !target->dict->is_namespace) {
        throw Error("cannot assign attribute on non-namespace object");
      }
      target->dict->set(stmt.text, std::move(value));
      return;
    }
    bind_targets(*scope, stmt.targets, value);
  }

  void define_macro(const Stmt& stmt, const ScopePtr& scope) {
    const std::string name = stmt.targets[0];
    const Stmt* macro = &stmt;
    std::weak_ptr<Scope> defined_in = scope;
    scope->vars[name] = Value::from_callable(name, [this, macro, defined_in](const CallArgs& a) {
      return call_macro(*macro, defined_in.lock(), a);
    });
  }

  Value call_macro(const Stmt& macro, const ScopePtr& defined_in, const CallArgs& args) {
    const std::string& name = macro.targets[0];
    const size_t n_params = macro.targets.size() - 1;
    if (args.positional.size() > n_params) {
      throw Error(str("macro '", name, "' takes not more than ", n_params, " argument(s)"));
    }
    if (++call_depth_ > kMaxCallDepth) {
      throw Error(str("macro calls nested deeper than ", kMaxCallDepth, " (endless recursion?)"));
    }
    const int caller_line = line_;
    auto scope = child_of(defined_in);
    for (const auto& [key, value] : args.named) {
      bool known = false;
      for (size_t p = 1; p <= n_params; ++p) known = known || macro.targets[p] == key;
      if (!known) throw Error(str("macro '", name, "' takes no keyword argument '", key, "'"));
    }
    for (size_t p = 0; p < n_params; ++p) {
      const std::string& param = macro.targets[p + 1];
      if (const Value* given = args.get(p, param)) {
        scope->vars[param] = *given;
      } else if (p >= macro.n_required) {
        scope->vars[param] = eval(*macro.exprs[p - macro.n_required], scope);
      } else {
        scope->vars[param] = Value::undefined(str("parameter '", param, "' was not provided"));
      }
    }
    std::string result = capture(macro.bodies[0], scope);
    --call_depth_;
    line_ = caller_line;
    return Value::from_string(std::move(result));
  }

  CallArgs eval_args(const Expr& expr, size_t first, const ScopePtr& scope) {
    CallArgs args;
    for (size_t i = first; i < expr.children.size(); ++i) {
      Value value = eval(*expr.children[i], scope);
      const std::string& name = expr.arg_names[i - first];
      if (name.empty()) {
        args.positional.push_back(std::move(value));
      } else {
        args.named.emplace_back(name, std::move(value));
      }
    }
    return args;
  }

  static Value call_value(const Value& callee, const CallArgs& args) {
    if (callee.kind == Kind::kCallable) return callee.callable->call(args);
    if (callee.is_undefined()) fail_undefined(callee);
    throw Error(str("'", type_name(callee), "' object is not callable"));
  }

  Value eval_call(const Expr& expr, const ScopePtr& scope) {
    const Expr& callee = *expr.children[0];
    if (callee.kind == ExprKind::kAttr) {
      const Value object = eval(*callee.children[0], scope);
      const CallArgs args = eval_args(expr, 1, scope);
      if (object.is_dict()) {
        const Value* member = object.dict->find(callee.name);
        if (member && member->kind == Kind::kCallable) return call_value(*member, args);
      }
      if (auto result = call_method(object, callee.name, args)) return *result;
      return call_value(get_attr(object, callee.name), args);
    }
    const Value function = eval(callee, scope);
    return call_value(function, eval_args(expr, 1, scope));
  }

  Value eval(const Expr& expr, const ScopePtr& scope) {
    switch (expr.kind) {
      case ExprKind::kLiteral:
        return expr.value;
      case ExprKind::kName: {
        const Value* found = scope->find(expr.name);
        return found ? *found : Value::undefined(str("'", expr.name, "' is undefined"));
      }
      case ExprKind::kList:
      case ExprKind::kTuple: {
        List items;
        for (const auto& child : expr.children) items.push_back(eval(*child, scope));
        return Value::from_list(std::move(items), expr.kind == ExprKind::kTuple);
      }
      case ExprKind::kDict: {
        Dict dict;
        for (size_t i = 0; i + 1 < expr.children.size(); i += 2) {
          const Value key = eval(*expr.children[i], scope);
          if (!key.is_string()) throw Error("dict keys must be strings");
          dict.set(key.text, eval(*expr.children[i + 1], scope));
        }
        return Value::from_dict(std::move(dict));
      }
      case ExprKind::kAttr:
        return get_attr(eval(*expr.children[0], scope), expr.name);
      case ExprKind::kIndex:
        return get_item(eval(*expr.children[0], scope), eval(*expr.children[1], scope));
      case ExprKind::kSlice:
        return eval_slice(expr, scope);
      case ExprKind::kCall:
        return eval_call(expr, scope);
      case ExprKind::kFilter: {
        line_ = expr.line;
        const Value input = eval(*expr.children[0], scope);
        line_ = expr.line;
        return apply_filter(expr.name, input, eval_args(expr, 1, scope));
      }
      case ExprKind::kTest: {
        const Value input = eval(*expr.children[0], scope);
        line_ = expr.line;
        const bool passed = apply_test(expr.name, input, eval_args(expr, 1, scope));
        return Value::from_bool(passed != expr.negated);
      }
      case ExprKind::kUnary:
        return eval_unary(expr, scope);
      case ExprKind::kBinary:
        return eval_binary(expr, scope);
      case ExprKind::kCondition: {
        if (truthy(eval(*expr.children[1], scope))) return eval(*expr.children[0], scope);
        if (expr.children[2]) return eval(*expr.children[2], scope);
        return Value::undefined(
            "the inline if-expression evaluated to false and no else section was defined.");
      }
    }
    return Value();
  }

  Value eval_slice(const Expr& expr, const ScopePtr& scope) {
    const Value object = eval(*expr.children[0], scope);
    Value parts[3];
    for (int i = 0; i < 3; ++i) {
      if (expr.children[static_cast<size_t>(i) + 1])
        parts[i] = eval(*expr.children[static_cast<size_t>(i) + 1], scope);
      else
        parts[i] = Value::none();
    }
    if (object.is_undefined()) fail_undefined(object);
    if (object.is_string()) {
      const auto chars = code_points(object.text);
      std::string out;
      for (size_t i :
           slice_indices(static_cast<int64_t>(chars.size()), &parts[0], &parts[1], &parts[2]))
        out += chars[i];
      return Value::from_string(out);
    }
    if (object.is_list()) {
      List out;
      for (size_t i : slice_indices(static_cast<int64_t>(object.list->size()), &parts[0], &parts[1],
                                    &parts[2])) {
        out.push_back((*object.list)[i]);
      }
      return Value::from_list(std::move(out), object.is_tuple);
    }
    throw Error(str("'", type_name(object), "' object is not subscriptable"));
  }

  Value eval_unary(const Expr& expr, const ScopePtr& scope) {
    const Value operand = eval(*expr.children[0], scope);
    if (expr.name == "not") return Value::from_bool(!truthy(operand));
    if (operand.is_undefined()) fail_undefined(operand);
    const bool negate = expr.name == "-";
    if (operand.kind == Kind::kInt) {
      if (negate && operand.integer == INT64_MIN) throw Error("integer overflow");
      return Value::from_int(negate ? -operand.integer : operand.integer);
    }
    if (operand.kind == Kind::kBool)
      return Value::from_int(negate ? -int64_t{operand.boolean} : operand.boolean);
    if (operand.kind == Kind::kFloat)
      return Value::from_float(negate ? -operand.number : operand.number);
    throw Error(str("bad operand type for unary ", expr.name, ": '", type_name(operand), "'"));
  }

  static bool is_numeric(const Value& v) { return v.is_number() || v.kind == Kind::kBool; }
  static int64_t as_int(const Value& v) { return v.kind == Kind::kBool ? v.boolean : v.integer; }
  static double as_real(const Value& v) {
    return v.kind == Kind::kBool ? v.boolean : v.as_double();
  }

  static Value repeat(const Value& sequence, int64_t times) {
    times = std::max<int64_t>(times, 0);
    if (sequence.is_string()) {
      if (times > 0 && sequence.text.size() > kMaxStringBytes / static_cast<size_t>(times))
        throw Error("string repetition too large");
      std::string out;
      for (int64_t i = 0; i < times; ++i) out += sequence.text;
      return Value::from_string(out);
    }
    if (times > 0 && sequence.list->size() > 1'000'000 / static_cast<size_t>(times))
      throw Error("list repetition too large");
    List out;
    for (int64_t i = 0; i < times; ++i)
      out.insert(out.end(), sequence.list->begin(), sequence.list->end());
    return Value::from_list(std::move(out));
  }

  Value eval_binary(const Expr& expr, const ScopePtr& scope) {
    const std::string& op = expr.name;
    if (op == "and" || op == "or") {
      Value lhs = eval(*expr.children[0], scope);
      if (truthy(lhs) == (op == "or")) return lhs;
      return eval(*expr.children[1], scope);
    }
    const Value lhs = eval(*expr.children[0], scope);
    const Value rhs = eval(*expr.children[1], scope);
    line_ = expr.line;
    if (op == "~") return Value::from_string(to_str(lhs) + to_str(rhs));
    if (op == "==") return Value::from_bool(equals(lhs, rhs));
    if (op == "!=") return Value::from_bool(!equals(lhs, rhs));
    if (op == "in" || op == "not in") {
      CallArgs args;
      args.positional.push_back(rhs);
      return Value::from_bool(apply_test("in", lhs, args) == (op == "in"));
    }
    if (op == "<") return Value::from_bool(compare(lhs, rhs) < 0);
    if (op == "<=") return Value::from_bool(compare(lhs, rhs) <= 0);
    if (op == ">") return Value::from_bool(compare(lhs, rhs) > 0);
    if (op == ">=") return Value::from_bool(compare(lhs, rhs) >= 0);
    if (lhs.is_undefined()) fail_undefined(lhs);
    if (rhs.is_undefined()) fail_undefined(rhs);
    return arithmetic(op, lhs, rhs);
  }

  static Value arithmetic(const std::string& op, const Value& lhs, const Value& rhs) {
    if (op == "+" && lhs.is_string() && rhs.is_string()) {
      if (lhs.text.size() + rhs.text.size() > kMaxStringBytes) throw Error("string too large");
      if (!lhs.markup && !rhs.markup) return Value::from_string(lhs.text + rhs.text);
      const auto safe = [](const Value& v) { return v.markup ? v.text : html_escape(v.text); };
      Value joined = Value::from_string(safe(lhs) + safe(rhs));
      joined.markup = true;
      return joined;
    }
    if (op == "+" && lhs.is_list() && rhs.is_list() && !lhs.view && !rhs.view) {
      List out = *lhs.list;
      out.insert(out.end(), rhs.list->begin(), rhs.list->end());
      return Value::from_list(std::move(out));
    }
    if (op == "*" && (lhs.is_string() || lhs.is_list()) &&
        (rhs.kind == Kind::kInt || rhs.kind == Kind::kBool)) {
      return repeat(lhs, as_int(rhs));
    }
    if (op == "*" && (rhs.is_string() || rhs.is_list()) &&
        (lhs.kind == Kind::kInt || lhs.kind == Kind::kBool)) {
      return repeat(rhs, as_int(lhs));
    }
    if (op == "%" && lhs.is_string()) throw Error("string formatting with '%' is not supported");
    if (op == "+" && (lhs.is_string() || (lhs.is_list() && !lhs.view))) {
      throw Error(str("can only concatenate ", type_name(lhs), " (not \"", type_name(rhs),
                      "\") to ", type_name(lhs)));
    }
    if (!is_numeric(lhs) || !is_numeric(rhs)) {
      throw Error(str("unsupported operand type(s) for ", op, ": '", type_name(lhs), "' and '",
                      type_name(rhs), "'"));
    }
    const bool integral = lhs.kind != Kind::kFloat && rhs.kind != Kind::kFloat;
    if (op == "/") {
      if (as_real(rhs) == 0) throw Error("division by zero");
      return Value::from_float(as_real(lhs) / as_real(rhs));
    }
    if (integral) {
      const int64_t a = as_int(lhs);
      const int64_t b = as_int(rhs);
      int64_t exact = 0;  // Python ints do not overflow; ours fail instead of wrapping
      if (op == "+" || op == "-" || op == "*") {
        const bool overflow = op == "+"   ? __builtin_add_overflow(a, b, &exact)
                              : op == "-" ? __builtin_sub_overflow(a, b, &exact)
                                          : __builtin_mul_overflow(a, b, &exact);
        if (overflow) throw Error(str("integer overflow in ", a, " ", op, " ", b));
        return Value::from_int(exact);
      }
      if (op == "//" || op == "%") {
        if (b == 0) throw Error("integer division or modulo by zero");
        if (a == INT64_MIN && b == -1) throw Error("integer overflow");
        int64_t q = a / b;
        int64_t r = a % b;
        if (r != 0 && ((r < 0) != (b < 0))) {  // Python floors toward negative infinity
          --q;
          r += b;
        }
        return Value::from_int(op == "//" ? q : r);
      }
      if (op == "**") {
        if (b < 0)
          return Value::from_float(std::pow(static_cast<double>(a), static_cast<double>(b)));
        int64_t result = 1;
        for (int64_t i = 0; i < b; ++i) {
          if (__builtin_mul_overflow(result, a, &result)) throw Error("integer overflow in **");
          if (result == 0 || result == 1) break;
        }
        return Value::from_int(result);
      }
    }
    const double a = as_real(lhs);
    const double b = as_real(rhs);
    if (op == "+") return Value::from_float(a + b);
    if (op == "-") return Value::from_float(a - b);
    if (op == "*") return Value::from_float(a * b);
    if (op == "**") return Value::from_float(std::pow(a, b));
    if (op == "//" || op == "%") {
      if (b == 0) throw Error("float division by zero");
      const double q = std::floor(a / b);
      return Value::from_float(op == "//" ? q : a - q * b);
    }
    throw Error(str("unknown operator '", op, "'"));
  }

  const RenderOptions& options_;
  std::string* out_ = nullptr;
  int line_ = 1;
  int call_depth_ = 0;
  uint64_t steps_ = 0;
};

}  // namespace

std::string render_program(const Program& program, std::shared_ptr<Scope> globals,
                           const RenderOptions& options) {
  return Renderer(options).run(program, globals);
}

}  // namespace bottega::jinja
