// The values a Jinja template computes with, modelled on the Python objects jinja2 sees so that
// rendering is byte-exact: undefined is distinct from none, dicts keep insertion order, ints and
// floats print as Python prints them, and lists/dicts/namespaces are shared by reference.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bottega::jinja {

struct Value;
using List = std::vector<Value>;

// An ordered mapping with string keys (every template and JSON input uses string keys).
struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  bool is_namespace = false;  // namespace() objects: attribute assignment allowed, own repr
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
  const Value* get(size_t index, const std::string& name) const;
};

struct Callable {
  std::string name;
  std::function<Value(const CallArgs&)> call;
};

enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kCallable };

struct Value {
  Kind kind = Kind::kUndefined;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0.0;
  std::string text;  // kString: the UTF-8 text; kUndefined: why it is undefined (jinja2's hint)
  // kString marked safe (markupsafe.Markup, from the safe/escape filters): adding a plain string
  // to it HTML-escapes that string, as jinja2 does even without autoescaping.
  bool markup = false;
  std::shared_ptr<List> list;
  bool is_tuple = false;  // a list that prints as a Python tuple
  // A list standing for a Python iterator or dict view ("generator", "dict_items", "dict_keys",
  // "dict_values"): what jinja2's map/select filters and dict methods return. They differ from
  // lists in truth, len(), printing and json.dumps, and templates' output depends on it.
  const char* view = nullptr;
  std::shared_ptr<Dict> dict;
  std::shared_ptr<Callable> callable;

  Value() = default;
  static Value undefined(std::string hint);
  static Value none();
  static Value from_bool(bool b);
  static Value from_int(int64_t i);
  static Value from_float(double f);
  static Value from_string(std::string s);
  static Value from_list(List items, bool tuple = false);
  static Value from_dict(Dict dict);
  static Value from_callable(std::string name, std::function<Value(const CallArgs&)> call);
  static Value from_json(const nlohmann::json& json);          // objects arrive with sorted keys
  static Value from_json(const nlohmann::ordered_json& json);  // objects keep their key order

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  bool is_list() const { return kind == Kind::kList; }
  bool is_dict() const { return kind == Kind::kDict; }
  double as_double() const { return kind == Kind::kInt ? static_cast<double>(integer) : number; }
};

// Python's type name as jinja2's messages use it: "str", "dict", "list", "int", "NoneType"...
std::string type_name(const Value& value);
// Throws the error jinja2's Undefined raises when it is used for more than printing or testing.
[[noreturn]] void fail_undefined(const Value& value);

bool truthy(const Value& value);
bool equals(const Value& a, const Value& b);
// -1, 0 or 1 as Python's < and > order numbers and strings; throws for unorderable types.
int compare(const Value& a, const Value& b);

std::string to_str(const Value& value);  // Python str()
std::string repr(const Value& value);    // Python repr()
std::string float_repr(double value);    // Python repr(float): shortest round-trip digits
// Python json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=False): item separator
// ", " without indent and "," with it.
std::string to_json(const Value& value, std::optional<int> indent);

// Strings are UTF-8; Python indexes and measures them in code points.
std::vector<std::string> code_points(const std::string& text);
size_t code_point_count(const std::string& text);

}  // namespace bottega::jinja
