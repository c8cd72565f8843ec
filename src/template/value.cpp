// Python semantics for template values: truth, equality, ordering, str(), repr() and json.dumps.
#include "template/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace bottega::jinja {

const Value* Dict::find(const std::string& key) const {
  for (const auto& [name, value] : items) {
    if (name == key) return &value;
  }
  return nullptr;
}

void Dict::set(const std::string& key, Value value) {
  for (auto& [name, existing] : items) {
    if (name == key) {
      existing = std::move(value);
      return;
    }
  }
  items.emplace_back(key, std::move(value));
}

const Value* CallArgs::get(size_t index, const std::string& name) const {
  for (const auto& [key, value] : named) {
    if (key == name) return &value;
  }
  return index < positional.size() ? &positional[index] : nullptr;
}

Value Value::undefined(std::string hint) {
  Value v;
  v.text = std::move(hint);
  return v;
}
Value Value::none() {
  Value v;
  v.kind = Kind::kNone;
  return v;
}
Value Value::from_bool(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.boolean = b;
  return v;
}
Value Value::from_int(int64_t i) {
  Value v;
  v.kind = Kind::kInt;
  v.integer = i;
  return v;
}
Value Value::from_float(double f) {
  Value v;
  v.kind = Kind::kFloat;
  v.number = f;
  return v;
}
Value Value::from_string(std::string s) {
  Value v;
  v.kind = Kind::kString;
  v.text = std::move(s);
  return v;
}
Value Value::from_list(List items, bool tuple) {
  Value v;
  v.kind = Kind::kList;
  v.list = std::make_shared<List>(std::move(items));
  v.is_tuple = tuple;
  return v;
}
Value Value::from_dict(Dict dict) {
  Value v;
  v.kind = Kind::kDict;
  v.dict = std::make_shared<Dict>(std::move(dict));
  return v;
}
Value Value::from_callable(std::string name, std::function<Value(const CallArgs&)> call) {
  Value v;
  v.kind = Kind::kCallable;
  v.callable = std::make_shared<Callable>(Callable{std::move(name), std::move(call)});
  return v;
}

namespace {

template <typename Json>
Value value_from_json(const Json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value::from_bool(json.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::from_int(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = json.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::from_float(static_cast<double>(u));
      return Value::from_int(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::from_float(json.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::from_string(json.template get<std::string>());
    case nlohmann::json::value_t::array: {
      List items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(value_from_json(item));
      return Value::from_list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict dict;
      for (const auto& [key, item] : json.items()) {
        dict.items.emplace_back(key, value_from_json(item));
      }
      return Value::from_dict(std::move(dict));
    }
    case nlohmann::json::value_t::binary:
      break;
  }
  throw Error("template context: binary JSON values are not supported");
}

}  // namespace

Value Value::from_json(const nlohmann::json& json) {
  return value_from_json(json);
}
Value Value::from_json(const nlohmann::ordered_json& json) {
  return value_from_json(json);
}

std::string type_name(const Value& value) {
  switch (value.kind) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return value.view ? value.view : value.is_tuple ? "tuple" : "list";
    case Kind::kDict:
      return value.dict->is_namespace ? "Namespace" : "dict";
    case Kind::kCallable:
      return "function";
  }
  return "object";
}

void fail_undefined(const Value& value) {
  throw Error(value.text.empty() ? std::string("undefined value") : value.text);
}

bool truthy(const Value& value) {
  switch (value.kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return value.boolean;
    case Kind::kInt:
      return value.integer != 0;
    case Kind::kFloat:
      return value.number != 0.0;
    case Kind::kString:
      return !value.text.empty();
    case Kind::kList:
      return !value.list->empty() || (value.view && std::string(value.view) == "generator");
    case Kind::kDict:
      return value.dict->is_namespace || !value.dict->items.empty();
    case Kind::kCallable:
      return true;
  }
  return false;
}

bool equals(const Value& a, const Value& b) {
  // Python: True == 1 and 1 == 1.0.
  const auto numeric = [](const Value& v) { return v.is_number() || v.kind == Kind::kBool; };
  if (numeric(a) && numeric(b)) {
    if (a.kind == Kind::kFloat || b.kind == Kind::kFloat) {
      const auto as_d = [](const Value& v) {
        return v.kind == Kind::kBool ? (v.boolean ? 1.0 : 0.0) : v.as_double();
      };
      return as_d(a) == as_d(b);
    }
    const auto as_i = [](const Value& v) {
      return v.kind == Kind::kBool ? int64_t{v.boolean} : v.integer;
    };
    return as_i(a) == as_i(b);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.text == b.text;
    case Kind::kList: {
      if (a.list->size() != b.list->size()) return false;
      for (size_t i = 0; i < a.list->size(); ++i) {
        if (!equals((*a.list)[i], (*b.list)[i])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      if (a.dict == b.dict) return true;
      if (a.dict->is_namespace || b.dict->is_namespace) return false;
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [key, item] : a.dict->items) {
        const Value* other = b.dict->find(key);
        if (!other || !equals(item, *other)) return false;
      }
      return true;
    }
    case Kind::kCallable:
      return a.callable == b.callable;
    default:
      return false;
  }
}

int compare(const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  const auto numeric = [](const Value& v) { return v.is_number() || v.kind == Kind::kBool; };
  if (numeric(a) && numeric(b)) {
    const auto as_d = [](const Value& v) {
      return v.kind == Kind::kBool ? (v.boolean ? 1.0 : 0.0) : v.as_double();
    };
    if (a.kind == Kind::kInt && b.kind == Kind::kInt) {
      return a.integer < b.integer ? -1 : (a.integer > b.integer ? 1 : 0);
    }
    return as_d(a) < as_d(b) ? -1 : (as_d(a) > as_d(b) ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) return a.text < b.text ? -1 : (a.text > b.text ? 1 : 0);
  if (a.is_list() && b.is_list()) {
    for (size_t i = 0; i < a.list->size() && i < b.list->size(); ++i) {
      if (!equals((*a.list)[i], (*b.list)[i])) return compare((*a.list)[i], (*b.list)[i]);
    }
    return a.list->size() < b.list->size() ? -1 : (a.list->size() > b.list->size() ? 1 : 0);
  }
  throw Error(
      str("'<' not supported between instances of '", type_name(a), "' and '", type_name(b), "'"));
}

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // Shortest round-trip digits and exponent, then Python's layout: positional for
  // -4 <= exponent < 16, scientific otherwise, always with a '.' or an exponent.
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string sci(buffer, result.ptr);
  const size_t e_pos = sci.find('e');
  std::string mantissa = sci.substr(0, e_pos);
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string sign;
  if (mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  if (exponent < -4 || exponent >= 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_text[16];
    std::snprintf(exp_text, sizeof exp_text, "e%c%02d", exponent < 0 ? '-' : '+',
                  exponent < 0 ? -exponent : exponent);
    return out + exp_text;
  }
  if (exponent < 0) return sign + "0." + std::string(-exponent - 1, '0') + digits;
  const size_t int_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= int_digits) {
    return sign + digits + std::string(int_digits - digits.size(), '0') + ".0";
  }
  return sign + digits.substr(0, int_digits) + "." + digits.substr(int_digits);
}

namespace {

std::string string_repr(const std::string& text) {
  const bool has_single = text.find('\'') != std::string::npos;
  const bool has_double = text.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : text) {
    if (c == quote || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\u%04x", c);
          out += hex;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void append_json(const Value& value, std::optional<int> indent, int level, std::string& out) {
  const auto newline = [&](int depth) {
    out += '\n';
    out.append(static_cast<size_t>(*indent) * static_cast<size_t>(depth), ' ');
  };
  const char* item_separator = indent ? "," : ", ";
  switch (value.kind) {
    case Kind::kNone:
      out += "null";
      return;
    case Kind::kBool:
      out += value.boolean ? "true" : "false";
      return;
    case Kind::kInt:
      out += std::to_string(value.integer);
      return;
    case Kind::kFloat: {
      if (std::isnan(value.number)) {
        out += "NaN";
      } else if (std::isinf(value.number)) {
        out += value.number > 0 ? "Infinity" : "-Infinity";
      } else {
        out += float_repr(value.number);
      }
      return;
    }
    case Kind::kString:
      out += json_string(value.text);
      return;
    case Kind::kList: {
      if (value.view) break;
      if (value.list->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      bool first = true;
      for (const Value& item : *value.list) {
        if (!first) out += item_separator;
        first = false;
        if (indent) newline(level + 1);
        append_json(item, indent, level + 1, out);
      }
      if (indent) newline(level);
      out += ']';
      return;
    }
    case Kind::kDict: {
      if (value.dict->is_namespace) break;
      if (value.dict->items.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      bool first = true;
      for (const auto& [key, item] : value.dict->items) {
        if (!first) out += item_separator;
        first = false;
        if (indent) newline(level + 1);
        out += json_string(key);
        out += ": ";
        append_json(item, indent, level + 1, out);
      }
      if (indent) newline(level);
      out += '}';
      return;
    }
    default:
      break;
  }
  throw Error(str("Object of type ", type_name(value), " is not JSON serializable"));
}

}  // namespace

std::string to_json(const Value& value, std::optional<int> indent) {
  std::string out;
  append_json(value, indent, 0, out);
  return out;
}

std::string to_str(const Value& value) {
  switch (value.kind) {
    case Kind::kUndefined:
      return "";
    case Kind::kString:
      return value.text;
    default:
      return repr(value);
  }
}

std::string repr(const Value& value) {
  switch (value.kind) {
    case Kind::kUndefined:
      return "";
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return value.boolean ? "True" : "False";
    case Kind::kInt:
      return std::to_string(value.integer);
    case Kind::kFloat:
      return float_repr(value.number);
    case Kind::kString:
      return string_repr(value.text);
    case Kind::kList: {
      if (value.view && std::string(value.view) == "generator") return "<generator object>";
      std::string out = value.is_tuple ? "(" : "[";
      for (size_t i = 0; i < value.list->size(); ++i) {
        if (i) out += ", ";
        out += repr((*value.list)[i]);
      }
      if (value.is_tuple && value.list->size() == 1) out += ",";
      out += value.is_tuple ? ")" : "]";
      return value.view ? str(value.view, "(", out, ")") : out;
    }
    case Kind::kDict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, item] : value.dict->items) {
        if (!first) out += ", ";
        first = false;
        out += string_repr(key) + ": " + repr(item);
      }
      out += "}";
      return value.dict->is_namespace ? "<Namespace " + out + ">" : out;
    }
    case Kind::kCallable:
      return "<function " + value.callable->name + ">";
  }
  return "";
}

std::vector<std::string> code_points(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (i + length > text.size()) length = text.size() - i;
    out.push_back(text.substr(i, length));
    i += length;
  }
  return out;
}

size_t code_point_count(const std::string& text) {
  size_t count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80;
  return count;
}

}  // namespace bottega::jinja
