// Filters, tests and methods with the behaviour of jinja2 3.1 and Python 3 for the inputs chat
// templates give them. Each checks its argument types and fails with a message naming itself.
#include "template/builtins.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <functional>
#include <map>

#include "core/error.h"
#include "template/python_str.h"

namespace bottega::jinja {
namespace {

using Filter = std::function<Value(const Value&, const CallArgs&)>;
using Test = std::function<bool(const Value&, const CallArgs&)>;

std::string object_type_repr(const Value& value) {
  if (value.is_none()) return "'None'";
  if (value.is_dict() && value.dict->is_namespace) return "'jinja2.utils.Namespace object'";
  return str('\'', type_name(value), " object'");
}

const Value& arg_or(const CallArgs& args, size_t index, const std::string& name,
                    const Value& fallback) {
  const Value* value = args.get(index, name);
  return value ? *value : fallback;
}

std::string string_arg(const CallArgs& args, size_t index, const std::string& name,
                       const char* who) {
  const Value* value = args.get(index, name);
  if (!value || !value->is_string()) {
    throw Error(str(who, ": argument '", name, "' must be a string"));
  }
  return value->text;
}

int64_t int_arg(const CallArgs& args, size_t index, const std::string& name, int64_t fallback) {
  const Value* value = args.get(index, name);
  if (!value || value->is_none()) return fallback;
  if (value->kind == Kind::kBool) return value->boolean;
  if (value->kind != Kind::kInt) throw Error(str("argument '", name, "' must be an integer"));
  return value->integer;
}

bool bool_arg(const CallArgs& args, size_t index, const std::string& name) {
  const Value* value = args.get(index, name);
  return value && truthy(*value);
}

std::string indent(const Value& input, const CallArgs& args) {
  std::string text = to_str(input) + "\n";
  const Value* width = args.get(0, "width");
  std::string pad(4, ' ');
  if (width && width->is_string()) pad = width->text;
  if (width && width->kind == Kind::kInt)
    pad.assign(static_cast<size_t>(std::clamp<int64_t>(width->integer, 0, 4096)), ' ');
  const bool first = bool_arg(args, 1, "first");
  const bool blank = bool_arg(args, 2, "blank");
  std::vector<std::string> lines = split_lines(text);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    if (i > 0 && (blank || !lines[i].empty())) out += pad;
    out += lines[i];
  }
  return first ? pad + out : out;
}

Value markup(std::string text) {
  Value value = Value::from_string(std::move(text));
  value.markup = true;
  return value;
}

Value escaped(const Value& value) {
  if (value.is_string() && value.markup) return value;
  return markup(html_escape(to_str(value)));
}

size_t length_of(const Value& value) {
  switch (value.kind) {
    case Kind::kUndefined:
      return 0;
    case Kind::kString:
      return code_point_count(value.text);
    case Kind::kList:
      if (value.view && std::string(value.view) == "generator") break;
      return value.list->size();
    case Kind::kDict:
      if (!value.dict->is_namespace) return value.dict->items.size();
      break;
    default:
      break;
  }
  throw Error(str("object of type '", type_name(value), "' has no len()"));
}

// "a.b.0" as jinja2's attribute= arguments read it.
Value attribute_path(const Value& value, const std::string& path) {
  Value current = value;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    current =
        digits ? get_item(current, Value::from_int(std::stoll(part))) : get_attr(current, part);
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

CallArgs shifted(const CallArgs& args, size_t skip) {
  CallArgs rest;
  for (size_t i = skip; i < args.positional.size(); ++i)
    rest.positional.push_back(args.positional[i]);
  return rest;
}

Value generator(List items) {
  Value value = Value::from_list(std::move(items));
  value.view = "generator";
  return value;
}

Value dict_view(List items, const char* view) {
  Value value = Value::from_list(std::move(items));
  value.view = view;
  return value;
}

// jinja2's select/reject/map family skip falsy inputs (none, empty) instead of iterating them.
Value select_filter(const Value& input, const CallArgs& args, bool by_attribute, bool keep) {
  if (!truthy(input)) return generator({});
  const char* who =
      by_attribute ? (keep ? "selectattr" : "rejectattr") : (keep ? "select" : "reject");
  List out;
  const size_t test_index = by_attribute ? 1 : 0;
  const std::string attribute = by_attribute ? string_arg(args, 0, "attribute", who) : "";
  const Value* test = args.get(test_index, "test");
  if (test && !test->is_string()) throw Error(str(who, ": the test must be named by a string"));
  const CallArgs test_args = shifted(args, test_index + 1);
  for (const Value& item : iterate(input)) {
    const Value subject = by_attribute ? attribute_path(item, attribute) : item;
    const bool passed = test ? apply_test(test->text, subject, test_args) : truthy(subject);
    if (passed == keep) out.push_back(item);
  }
  return generator(std::move(out));
}

Value map_filter(const Value& input, const CallArgs& args) {
  if (!truthy(input)) return generator({});
  List out;
  if (const Value* attribute = args.get(SIZE_MAX, "attribute")) {
    if (!attribute->is_string()) throw Error("map: attribute must be a string");
    const Value* fallback = args.get(SIZE_MAX, "default");
    for (const Value& item : iterate(input)) {
      Value value = attribute_path(item, attribute->text);
      out.push_back(value.is_undefined() && fallback ? *fallback : value);
    }
    return generator(std::move(out));
  }
  const std::string filter = string_arg(args, 0, "filter", "map");
  const CallArgs rest = shifted(args, 1);
  for (const Value& item : iterate(input)) out.push_back(apply_filter(filter, item, rest));
  return generator(std::move(out));
}

Value unique_filter(const Value& input, const CallArgs& args) {
  const bool case_sensitive = bool_arg(args, 0, "case_sensitive");
  const Value* attribute = args.get(1, "attribute");
  List out;
  List seen;
  for (const Value& item : iterate(input)) {
    Value key = attribute && attribute->is_string() ? attribute_path(item, attribute->text) : item;
    if (!case_sensitive && key.is_string()) key = Value::from_string(ascii_lower(key.text));
    const bool found = std::any_of(seen.begin(), seen.end(),
                                   [&](const Value& other) { return equals(other, key); });
    if (!found) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return generator(std::move(out));
}

Value sort_filter(const Value& input, const CallArgs& args) {
  const bool reverse = bool_arg(args, 0, "reverse");
  const bool case_sensitive = bool_arg(args, 1, "case_sensitive");
  const Value* attribute = args.get(2, "attribute");
  List items = iterate(input);
  const auto key = [&](const Value& item) {
    Value k = attribute && attribute->is_string() ? attribute_path(item, attribute->text) : item;
    if (!case_sensitive && k.is_string()) k = Value::from_string(ascii_lower(k.text));
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? compare(key(b), key(a)) < 0 : compare(key(a), key(b)) < 0;
  });
  return Value::from_list(std::move(items));
}

Value dictsort_filter(const Value& input, const CallArgs& args) {
  if (!input.is_dict()) throw Error("dictsort: expected a mapping");
  const bool case_sensitive = bool_arg(args, 0, "case_sensitive");
  const Value* by = args.get(1, "by");
  const bool by_value = by && by->is_string() && by->text == "value";
  const bool reverse = bool_arg(args, 2, "reverse");
  List items;
  for (const auto& [k, v] : input.dict->items) {
    items.push_back(Value::from_list({Value::from_string(k), v}, true));
  }
  const auto key = [&](const Value& pair) {
    Value k = (*pair.list)[by_value ? 1 : 0];
    if (!case_sensitive && k.is_string()) k = Value::from_string(ascii_lower(k.text));
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? compare(key(b), key(a)) < 0 : compare(key(a), key(b)) < 0;
  });
  return Value::from_list(std::move(items));
}

Value items_of(const Value& input, const char* view) {
  if (input.is_undefined()) return dict_view({}, view);
  if (!input.is_dict()) throw Error(str("items: expected a mapping, got ", type_name(input)));
  List items;
  for (const auto& [k, v] : input.dict->items) {
    items.push_back(Value::from_list({Value::from_string(k), v}, true));
  }
  return dict_view(std::move(items), view);
}

Value to_int(const Value& input, const CallArgs& args) {
  const Value fallback = arg_or(args, 0, "default", Value::from_int(0));
  switch (input.kind) {
    case Kind::kInt:
      return input;
    case Kind::kBool:
      return Value::from_int(input.boolean);
    case Kind::kFloat:
      return std::fabs(input.number) < 9.2e18 ? Value::from_int(static_cast<int64_t>(input.number))
                                              : fallback;
    case Kind::kString: {
      const std::string text = strip(input.text, nullptr, true, true);
      try {
        size_t used = 0;
        const long long value = std::stoll(text, &used, 10);
        if (used == text.size()) return Value::from_int(value);
        const double real = std::stod(text, &used);
        if (used == text.size() && std::fabs(real) < 9.2e18)
          return Value::from_int(static_cast<int64_t>(real));
      } catch (const std::exception&) {
      }
      return fallback;
    }
    default:
      return fallback;
  }
}

Value to_float(const Value& input, const CallArgs& args) {
  const Value fallback = arg_or(args, 0, "default", Value::from_float(0.0));
  switch (input.kind) {
    case Kind::kInt:
      return Value::from_float(static_cast<double>(input.integer));
    case Kind::kBool:
      return Value::from_float(input.boolean);
    case Kind::kFloat:
      return input;
    case Kind::kString: {
      const std::string text = strip(input.text, nullptr, true, true);
      try {
        size_t used = 0;
        const double value = std::stod(text, &used);
        if (used == text.size()) return Value::from_float(value);
      } catch (const std::exception&) {
      }
      return fallback;
    }
    default:
      return fallback;
  }
}

Value round_filter(const Value& input, const CallArgs& args) {
  if (!input.is_number()) throw Error(str("round: expected a number, got ", type_name(input)));
  const int64_t precision = int_arg(args, 0, "precision", 0);
  const Value* method = args.get(1, "method");
  const std::string how = method && method->is_string() ? method->text : "common";
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = input.as_double() * scale;
  double rounded = 0;
  if (how == "common") {
    if (input.kind == Kind::kInt) return input;  // Python's round() keeps ints
    rounded = std::nearbyint(x);                 // ties to even, as Python
  } else if (how == "ceil") {
    rounded = std::ceil(x);
  } else if (how == "floor") {
    rounded = std::floor(x);
  } else {
    throw Error("round: method must be 'common', 'ceil' or 'floor'");
  }
  return Value::from_float(rounded / scale);
}

Value first_or_last(const Value& input, bool first) {
  if (input.is_string()) {
    const auto chars = code_points(input.text);
    if (chars.empty()) return Value::undefined("No first item, sequence was empty.");
    return Value::from_string(first ? chars.front() : chars.back());
  }
  const List items = iterate(input);
  if (items.empty()) {
    return Value::undefined(first ? "No first item, sequence was empty."
                                  : "No last item, sequence was empty.");
  }
  return first ? items.front() : items.back();
}

size_t word_count(const std::string& text) {
  size_t count = 0;
  bool in_word = false;
  for (char c : text) {
    const bool word = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80);
    if (word && !in_word) ++count;
    in_word = word;
  }
  return count;
}

Value join_filter(const Value& input, const CallArgs& args) {
  const Value* separator = args.get(0, "d");
  const std::string sep = separator ? to_str(*separator) : "";
  const Value* attribute = args.get(1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(input)) {
    if (!first) out += sep;
    first = false;
    out +=
        to_str(attribute && attribute->is_string() ? attribute_path(item, attribute->text) : item);
  }
  return Value::from_string(out);
}

Value list_of(const Value& input) {
  return Value::from_list(iterate(input));
}

Value sum_filter(const Value& input, const CallArgs& args) {
  const Value* attribute = args.get(0, "attribute");
  Value total = arg_or(args, 1, "start", Value::from_int(0));
  for (const Value& item : iterate(input)) {
    const Value v =
        attribute && attribute->is_string() ? attribute_path(item, attribute->text) : item;
    if (!v.is_number() || !total.is_number()) throw Error("sum: items must be numbers");
    if (v.kind == Kind::kInt && total.kind == Kind::kInt) {
      total = Value::from_int(total.integer + v.integer);
    } else {
      total = Value::from_float(total.as_double() + v.as_double());
    }
  }
  return total;
}

Value default_filter(const Value& input, const CallArgs& args) {
  const bool boolean = bool_arg(args, 1, "boolean");
  if (input.is_undefined() || (boolean && !truthy(input))) {
    return arg_or(args, 0, "default_value", Value::from_string(""));
  }
  return input;
}

const std::map<std::string, Filter>& filters() {
  static const std::map<std::string, Filter> table = {
      {"trim",
       [](const Value& v, const CallArgs& a) {
         Value out = Value::from_string(strip(to_str(v), a.get(0, "chars"), true, true));
         out.markup = v.is_string() && v.markup;  // Markup.strip() stays Markup
         return out;
       }},
      {"length",
       [](const Value& v, const CallArgs&) {
         return Value::from_int(static_cast<int64_t>(length_of(v)));
       }},
      {"count",
       [](const Value& v, const CallArgs&) {
         return Value::from_int(static_cast<int64_t>(length_of(v)));
       }},
      {"upper",
       [](const Value& v, const CallArgs&) { return Value::from_string(ascii_upper(to_str(v))); }},
      {"lower",
       [](const Value& v, const CallArgs&) { return Value::from_string(ascii_lower(to_str(v))); }},
      {"title",
       [](const Value& v, const CallArgs&) { return Value::from_string(title_case(to_str(v))); }},
      {"capitalize",
       [](const Value& v, const CallArgs&) { return Value::from_string(capitalize(to_str(v))); }},
      {"replace",
       [](const Value& v, const CallArgs& a) {
         return Value::from_string(replace(to_str(v), to_str(arg_or(a, 0, "old", Value())),
                                           to_str(arg_or(a, 1, "new", Value())),
                                           int_arg(a, 2, "count", -1)));
       }},
      {"join", join_filter},
      {"first", [](const Value& v, const CallArgs&) { return first_or_last(v, true); }},
      {"last", [](const Value& v, const CallArgs&) { return first_or_last(v, false); }},
      {"default", default_filter},
      {"d", default_filter},
      {"tojson",
       [](const Value& v, const CallArgs& a) {
         const Value* width = a.get(0, "indent");
         std::optional<int> indent;
         if (width && width->kind == Kind::kInt)
           indent = static_cast<int>(std::clamp<int64_t>(width->integer, 0, 64));
         if (v.is_undefined()) throw Error("Object of type Undefined is not JSON serializable");
         return Value::from_string(to_json(v, indent));
       }},
      {"string", [](const Value& v, const CallArgs&) { return Value::from_string(to_str(v)); }},
      {"int", to_int},
      {"float", to_float},
      {"list", [](const Value& v, const CallArgs&) { return list_of(v); }},
      {"items", [](const Value& v, const CallArgs&) { return items_of(v, "generator"); }},
      {"dictsort", dictsort_filter},
      {"sort", sort_filter},
      {"selectattr",
       [](const Value& v, const CallArgs& a) { return select_filter(v, a, true, true); }},
      {"rejectattr",
       [](const Value& v, const CallArgs& a) { return select_filter(v, a, true, false); }},
      {"select",
       [](const Value& v, const CallArgs& a) { return select_filter(v, a, false, true); }},
      {"reject",
       [](const Value& v, const CallArgs& a) { return select_filter(v, a, false, false); }},
      {"map", map_filter},
      {"unique", unique_filter},
      {"safe", [](const Value& v, const CallArgs&) { return markup(to_str(v)); }},
      {"escape", [](const Value& v, const CallArgs&) { return escaped(v); }},
      {"e", [](const Value& v, const CallArgs&) { return escaped(v); }},
      {"indent",
       [](const Value& v, const CallArgs& a) { return Value::from_string(indent(v, a)); }},
      {"wordcount",
       [](const Value& v, const CallArgs&) {
         return Value::from_int(static_cast<int64_t>(word_count(to_str(v))));
       }},
      {"abs",
       [](const Value& v, const CallArgs&) {
         if (v.kind == Kind::kInt) return Value::from_int(v.integer < 0 ? -v.integer : v.integer);
         if (v.kind == Kind::kFloat) return Value::from_float(std::fabs(v.number));
         throw Error(str("bad operand type for abs(): '", type_name(v), "'"));
       }},
      {"round", round_filter},
      {"sum", sum_filter},
      {"reverse",
       [](const Value& v, const CallArgs&) {
         if (v.is_string()) {
           auto chars = code_points(v.text);
           std::string out;
           for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
           return Value::from_string(out);
         }
         List items = iterate(v);
         std::reverse(items.begin(), items.end());
         return Value::from_list(std::move(items));
       }},
      {"attr", [](const Value& v,
                  const CallArgs& a) { return get_attr(v, string_arg(a, 0, "name", "attr")); }},
      {"min",
       [](const Value& v, const CallArgs&) {
         List items = iterate(v);
         if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
         return *std::min_element(items.begin(), items.end(),
                                  [](const Value& x, const Value& y) { return compare(x, y) < 0; });
       }},
      {"max",
       [](const Value& v, const CallArgs&) {
         List items = iterate(v);
         if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
         return *std::max_element(items.begin(), items.end(),
                                  [](const Value& x, const Value& y) { return compare(x, y) < 0; });
       }},
  };
  return table;
}

bool divisible(const Value& v, const CallArgs& a, int64_t by) {
  if (v.kind != Kind::kInt) throw Error(str("expected an integer, got ", type_name(v)));
  const int64_t divisor = by ? by : int_arg(a, 0, "num", 1);
  if (divisor == 0) throw Error("integer division or modulo by zero");
  return v.integer % divisor == 0;
}

bool contains(const Value& container, const Value& item);

const Value& test_operand(const CallArgs& a) {
  const Value* other = a.get(0, "other");
  if (!other) throw Error("the test needs a value to compare with");
  return *other;
}

const std::map<std::string, Test>& tests() {
  static const std::map<std::string, Test> table = {
      {"defined", [](const Value& v, const CallArgs&) { return !v.is_undefined(); }},
      {"undefined", [](const Value& v, const CallArgs&) { return v.is_undefined(); }},
      {"none", [](const Value& v, const CallArgs&) { return v.is_none(); }},
      {"string", [](const Value& v, const CallArgs&) { return v.is_string(); }},
      {"number",
       [](const Value& v, const CallArgs&) { return v.is_number() || v.kind == Kind::kBool; }},
      {"integer", [](const Value& v, const CallArgs&) { return v.kind == Kind::kInt; }},
      {"float", [](const Value& v, const CallArgs&) { return v.kind == Kind::kFloat; }},
      {"boolean", [](const Value& v, const CallArgs&) { return v.kind == Kind::kBool; }},
      {"true", [](const Value& v, const CallArgs&) { return v.kind == Kind::kBool && v.boolean; }},
      {"false",
       [](const Value& v, const CallArgs&) { return v.kind == Kind::kBool && !v.boolean; }},
      {"mapping",
       [](const Value& v, const CallArgs&) { return v.is_dict() && !v.dict->is_namespace; }},
      {"iterable",
       [](const Value& v, const CallArgs&) {
         return v.is_undefined() || v.is_string() || v.is_list() ||
                (v.is_dict() && !v.dict->is_namespace);
       }},
      {"sequence",
       [](const Value& v, const CallArgs&) {
         return v.is_string() || (v.is_list() && !v.view) || (v.is_dict() && !v.dict->is_namespace);
       }},
      {"callable", [](const Value& v, const CallArgs&) { return v.kind == Kind::kCallable; }},
      {"odd", [](const Value& v, const CallArgs& a) { return !divisible(v, a, 2); }},
      {"even", [](const Value& v, const CallArgs& a) { return divisible(v, a, 2); }},
      {"divisibleby", [](const Value& v, const CallArgs& a) { return divisible(v, a, 0); }},
      {"equalto", [](const Value& v, const CallArgs& a) { return equals(v, test_operand(a)); }},
      {"eq", [](const Value& v, const CallArgs& a) { return equals(v, test_operand(a)); }},
      {"==", [](const Value& v, const CallArgs& a) { return equals(v, test_operand(a)); }},
      {"ne", [](const Value& v, const CallArgs& a) { return !equals(v, test_operand(a)); }},
      {"!=", [](const Value& v, const CallArgs& a) { return !equals(v, test_operand(a)); }},
      {"lt", [](const Value& v, const CallArgs& a) { return compare(v, test_operand(a)) < 0; }},
      {"le", [](const Value& v, const CallArgs& a) { return compare(v, test_operand(a)) <= 0; }},
      {"gt", [](const Value& v, const CallArgs& a) { return compare(v, test_operand(a)) > 0; }},
      {"ge", [](const Value& v, const CallArgs& a) { return compare(v, test_operand(a)) >= 0; }},
      {"sameas",
       [](const Value& v, const CallArgs& a) {
         const Value& other = test_operand(a);
         if (v.kind != other.kind) return false;
         if (v.is_list()) return v.list == other.list;
         if (v.is_dict()) return v.dict == other.dict;
         return equals(v, other);
       }},
      {"in", [](const Value& v, const CallArgs& a) { return contains(test_operand(a), v); }},
      {"lower", [](const Value& v,
                   const CallArgs&) { return v.is_string() && ascii_lower(v.text) == v.text; }},
      {"upper", [](const Value& v,
                   const CallArgs&) { return v.is_string() && ascii_upper(v.text) == v.text; }},
      {"filter",
       [](const Value& v, const CallArgs&) { return v.is_string() && has_filter(v.text); }},
      {"test", [](const Value& v, const CallArgs&) { return v.is_string() && has_test(v.text); }},
  };
  return table;
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind) {
    case Kind::kUndefined:
      return false;
    case Kind::kString:
      if (!item.is_string()) {
        throw Error(str("'in <string>' requires string as left operand, not ", type_name(item)));
      }
      return container.text.find(item.text) != std::string::npos;
    case Kind::kList:
      return std::any_of(container.list->begin(), container.list->end(),
                         [&](const Value& x) { return equals(x, item); });
    case Kind::kDict:
      if (container.dict->is_namespace) break;
      return item.is_string() && container.dict->find(item.text) != nullptr;
    default:
      break;
  }
  throw Error(str("argument of type '", type_name(container), "' is not iterable"));
}

std::optional<Value> string_method(const std::string& s, const std::string& name,
                                   const CallArgs& a) {
  if (name == "strip") return Value::from_string(strip(s, a.get(0, "chars"), true, true));
  if (name == "lstrip") return Value::from_string(strip(s, a.get(0, "chars"), true, false));
  if (name == "rstrip") return Value::from_string(strip(s, a.get(0, "chars"), false, true));
  if (name == "split")
    return Value::from_list(split(s, a.get(0, "sep"), int_arg(a, 1, "maxsplit", -1)));
  if (name == "upper") return Value::from_string(ascii_upper(s));
  if (name == "lower") return Value::from_string(ascii_lower(s));
  if (name == "title") return Value::from_string(title_case(s));
  if (name == "capitalize") return Value::from_string(capitalize(s));
  if (name == "startswith" || name == "endswith") {
    const Value* affix = a.get(0, "prefix");
    if (!affix) throw Error(str(name, "() takes at least 1 argument (0 given)"));
    return Value::from_bool(affix_match(s, *affix, name == "startswith"));
  }
  if (name == "replace") {
    return Value::from_string(replace(s, string_arg(a, 0, "old", "replace"),
                                      string_arg(a, 1, "new", "replace"),
                                      int_arg(a, 2, "count", -1)));
  }
  if (name == "find" || name == "count") {
    const std::string needle = string_arg(a, 0, "sub", name.c_str());
    if (name == "find") {
      const size_t at = s.find(needle);
      return Value::from_int(
          at == std::string::npos ? -1 : static_cast<int64_t>(code_point_count(s.substr(0, at))));
    }
    if (needle.empty()) return Value::from_int(static_cast<int64_t>(code_point_count(s) + 1));
    int64_t n = 0;
    for (size_t at = s.find(needle); at != std::string::npos;
         at = s.find(needle, at + needle.size()))
      ++n;
    return Value::from_int(n);
  }
  if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& item : iterate(arg_or(a, 0, "iterable", Value::from_list({})))) {
      if (!item.is_string())
        throw Error(str("sequence item: expected str instance, ", type_name(item), " found"));
      if (!first) out += s;
      first = false;
      out += item.text;
    }
    return Value::from_string(out);
  }
  if (name == "splitlines") {
    List lines;
    for (auto& line : split_lines(s)) lines.push_back(Value::from_string(line));
    return Value::from_list(std::move(lines));
  }
  return std::nullopt;
}

std::optional<Value> dict_method(const Value& d, const std::string& name, const CallArgs& a) {
  if (name == "items") return items_of(d, "dict_items");
  if (name == "keys") return dict_view(iterate(d), "dict_keys");
  if (name == "values") {
    List values;
    for (const auto& [k, v] : d.dict->items) values.push_back(v);
    return dict_view(std::move(values), "dict_values");
  }
  if (name == "get") {
    const Value* key = a.get(0, "key");
    if (!key) throw Error("get expected at least 1 argument, got 0");
    const Value* found = key->is_string() ? d.dict->find(key->text) : nullptr;
    return found ? *found : arg_or(a, 1, "default", Value::none());
  }
  return std::nullopt;
}

}  // namespace

Value get_attr(const Value& object, const std::string& name) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_dict()) {
    if (const Value* found = object.dict->find(name)) return *found;
  }
  return Value::undefined(str(object_type_repr(object), " has no attribute '", name, "'"));
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_dict() && key.is_string()) {
    if (const Value* found = object.dict->find(key.text)) return *found;
    return Value::undefined(str(object_type_repr(object), " has no attribute '", key.text, "'"));
  }
  if (((object.is_list() && !object.view) || object.is_string()) && key.kind == Kind::kInt) {
    const bool text = object.is_string();
    const std::vector<std::string> chars =
        text ? code_points(object.text) : std::vector<std::string>{};
    const auto size = static_cast<int64_t>(text ? chars.size() : object.list->size());
    const int64_t index = key.integer < 0 ? key.integer + size : key.integer;
    if (index >= 0 && index < size) {
      return text ? Value::from_string(chars[static_cast<size_t>(index)])
                  : (*object.list)[static_cast<size_t>(index)];
    }
  }
  if (key.is_string()) return get_attr(object, key.text);
  return Value::undefined(str(type_name(object), " object has no element ", repr(key)));
}

List iterate(const Value& value) {
  switch (value.kind) {
    case Kind::kUndefined:
      return {};
    case Kind::kList:
      return *value.list;
    case Kind::kString: {
      List chars;
      for (auto& ch : code_points(value.text)) chars.push_back(Value::from_string(ch));
      return chars;
    }
    case Kind::kDict: {
      if (value.dict->is_namespace) break;
      List keys;
      for (const auto& [k, v] : value.dict->items) keys.push_back(Value::from_string(k));
      return keys;
    }
    default:
      break;
  }
  throw Error(str("'", type_name(value), "' object is not iterable"));
}

bool has_filter(const std::string& name) {
  return filters().count(name) != 0;
}
bool has_test(const std::string& name) {
  return tests().count(name) != 0;
}

Value apply_filter(const std::string& name, const Value& input, const CallArgs& args) {
  const auto it = filters().find(name);
  if (it == filters().end()) throw Error(str("unknown filter '", name, "'"));
  // jinja2's filters receive Undefined like any value; those that compute with it fail.
  if (input.is_undefined() &&
      (name == "abs" || name == "round" || name == "sum" || name == "dictsort" || name == "attr")) {
    fail_undefined(input);
  }
  return it->second(input, args);
}

bool apply_test(const std::string& name, const Value& input, const CallArgs& args) {
  const auto it = tests().find(name);
  if (it == tests().end()) throw Error(str("unknown test '", name, "'"));
  return it->second(input, args);
}

std::optional<Value> call_method(const Value& object, const std::string& name,
                                 const CallArgs& args) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_string()) return string_method(object.text, name, args);
  if (object.is_dict() && !object.dict->is_namespace) {
    static const char* const kMutating[] = {"update", "pop", "popitem", "setdefault", "clear"};
    for (const char* m : kMutating) {
      if (name == m)
        throw Error(str("access to attribute '", name, "' of 'dict' object is unsafe."));
    }
    return dict_method(object, name, args);
  }
  if (object.is_list()) {
    static const char* const kMutating[] = {"append", "extend", "insert", "pop",
                                            "remove", "clear",  "sort",   "reverse"};
    for (const char* m : kMutating) {
      if (name == m)
        throw Error(str("access to attribute '", name, "' of 'list' object is unsafe."));
    }
  }
  return std::nullopt;
}

}  // namespace bottega::jinja
