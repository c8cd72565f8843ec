#include "grammar/json_schema.h"

#include <algorithm>
#include <cstdio>
#include <optional>

namespace bottega::grammar {

using json = nlohmann::ordered_json;

namespace {

// The JSON text rules. Whitespace is bounded (one space, or up to two newlines and an indent of
// 20), so a model cannot trap itself writing whitespace forever.
const std::map<std::string, std::string>& base_rules() {
  static const std::map<std::string, std::string> rules = {
      {"ws", R"(| " " | "\n"{1,2} [ \t]{0,20})"},
      {"json-char", R"([^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}))"},
      {"string", R"("\"" json-char* "\"")"},
      {"integer", R"("-"? ("0" | [1-9] [0-9]{0,15}))"},
      {"number", R"(integer ("." [0-9]+)? ([eE] [-+]? [0-9]+)?)"},
      {"boolean", R"("true" | "false")"},
      {"null", R"("null")"},
      {"value", R"(object | array | string | number | boolean | null)"},
      {"object", R"("{" ws (string ws ":" ws value ws ("," ws string ws ":" ws value ws)*)? "}")"},
      {"array", R"("[" ws (value ws ("," ws value ws)*)? "]")"},
      {"date", R"([0-9]{4} "-" ("0" [1-9] | "1" [0-2]) "-" ("0" [1-9] | [1-2] [0-9] | "3" [0-1]))"},
      {"time",
       R"(([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9]))"},
      {"uuid", R"([0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12})"},
  };
  return rules;
}

// The base rules each base rule uses, so that adding one adds what it needs.
const std::map<std::string, std::vector<std::string>>& base_dependencies() {
  static const std::map<std::string, std::vector<std::string>> deps = {
      {"string", {"json-char"}},
      {"number", {"integer"}},
      {"value", {"object", "array", "string", "number", "boolean", "null"}},
      {"object", {"ws", "string", "value"}},
      {"array", {"ws", "value"}},
  };
  return deps;
}

// Keywords that constrain values in ways this grammar does not enforce.
constexpr const char* kUnsupported[] = {"pattern",
                                        "patternProperties",
                                        "minimum",
                                        "maximum",
                                        "exclusiveMinimum",
                                        "exclusiveMaximum",
                                        "multipleOf",
                                        "not",
                                        "if",
                                        "then",
                                        "else",
                                        "dependentRequired",
                                        "dependentSchemas",
                                        "dependencies",
                                        "propertyNames",
                                        "unevaluatedProperties",
                                        "unevaluatedItems",
                                        "contains",
                                        "minContains",
                                        "maxContains",
                                        "minProperties",
                                        "maxProperties",
                                        "prefixItems",
                                        "contentEncoding",
                                        "contentMediaType",
                                        "$dynamicRef"};

std::string sanitize(const std::string& hint) {
  std::string out;
  for (char c : hint) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '-';
  }
  if (out.empty()) out = "schema";
  return out;
}

}  // namespace

std::string GbnfBuilder::literal(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (b < 0x20 || b == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", b);
      out += hex;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string GbnfBuilder::unique_name(const std::string& hint) {
  const std::string base_name = sanitize(hint);
  std::string name = base_name;
  for (int i = 2; rules_.count(name) != 0 || base_rules().count(name) != 0; ++i) {
    name = base_name + "-" + std::to_string(i);
  }
  return name;
}

std::string GbnfBuilder::add_rule(const std::string& name, const std::string& body) {
  const std::string unique = unique_name(name);
  rules_.emplace(unique, body);
  order_.push_back(unique);
  return unique;
}

std::string GbnfBuilder::base(const std::string& name) {
  if (rules_.count(name) != 0) return name;
  const auto it = base_rules().find(name);
  BOTTEGA_CHECK(it != base_rules().end(), "no base rule ", name);
  rules_.emplace(name, it->second);
  order_.push_back(name);
  if (const auto deps = base_dependencies().find(name); deps != base_dependencies().end()) {
    for (const auto& d : deps->second) base(d);
  }
  return name;
}

std::string GbnfBuilder::text() const {
  std::string out;
  for (const auto& name : order_) out += name + " ::= " + rules_.at(name) + "\n";
  return out;
}

class SchemaConverter {
 public:
  SchemaConverter(GbnfBuilder& builder, const json& root) : b_(builder), root_(root) {}

  std::string visit(const json& s, const std::string& path, const std::string& hint) {
    if (s.is_boolean()) {
      if (!s.get<bool>()) fail(path, "the schema `false` matches no value");
      return b_.base("value");
    }
    if (!s.is_object()) fail(path, "a schema must be an object or a boolean");
    for (const char* keyword : kUnsupported) {
      if (s.contains(keyword)) {
        fail(path, str("'", keyword,
                       "' is not supported (bottega cannot enforce it while generating); remove "
                       "it or describe the constraint in the prompt"));
      }
    }
    if (s.value("uniqueItems", false)) {
      fail(path, "'uniqueItems' is not supported (it cannot be enforced while generating)");
    }
    if (const auto ref = s.find("$ref"); ref != s.end()) return visit_ref(*ref, path);
    if (const auto c = s.find("const"); c != s.end()) {
      return b_.add_rule(hint, GbnfBuilder::literal(c->dump()));
    }
    if (const auto e = s.find("enum"); e != s.end()) return visit_enum(*e, path, hint);
    for (const char* key : {"anyOf", "oneOf"}) {
      if (const auto alts = s.find(key); alts != s.end())
        return visit_any_of(*alts, path, key, hint);
    }
    if (const auto all = s.find("allOf"); all != s.end()) {
      if (!all->is_array() || all->size() != 1) {
        fail(path, "'allOf' is supported with exactly one schema only");
      }
      return visit((*all)[0], path + "/allOf/0", hint);
    }
    std::vector<std::string> types = types_of(s, path);
    std::vector<std::string> alternatives;
    for (const auto& type : types) alternatives.push_back(visit_type(s, type, path, hint));
    if (alternatives.size() == 1) return alternatives[0];
    return b_.add_rule(hint, join(alternatives, " | "));
  }

 private:
  [[noreturn]] static void fail(const std::string& path, const std::string& why) {
    throw SchemaError(str("JSON schema at '", path.empty() ? "#" : "#" + path, "': ", why));
  }

  static std::string join(const std::vector<std::string>& parts, const char* sep) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
    return out;
  }

  std::vector<std::string> types_of(const json& s, const std::string& path) {
    std::vector<std::string> types;
    const auto type = s.find("type");
    if (type == s.end()) {
      if (s.contains("properties") || s.contains("additionalProperties") ||
          s.contains("required")) {
        types = {"object"};
      } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
        types = {"array"};
      } else {
        types = {"any"};
      }
    } else if (type->is_string()) {
      types = {type->get<std::string>()};
    } else if (type->is_array() && !type->empty()) {
      for (const auto& t : *type) {
        if (!t.is_string()) fail(path + "/type", "'type' must be a string or strings");
        types.push_back(t.get<std::string>());
      }
    } else {
      fail(path + "/type", "'type' must be a string or a non-empty array of strings");
    }
    if (s.value("nullable", false) &&
        std::find(types.begin(), types.end(), "null") == types.end()) {
      types.push_back("null");
    }
    return types;
  }

  std::string visit_type(const json& s, const std::string& type, const std::string& path,
                         const std::string& hint) {
    if (type == "any") return b_.base("value");
    if (type == "object") return visit_object(s, path, hint);
    if (type == "array") return visit_array(s, path, hint);
    if (type == "string") return visit_string(s, path, hint);
    if (type == "number" || type == "integer" || type == "boolean" || type == "null") {
      return b_.base(type);
    }
    fail(path + "/type", "unknown type '" + type +
                             "' (expected object, array, string, number, integer, boolean or "
                             "null)");
  }

  std::string visit_ref(const json& ref, const std::string& path) {
    if (!ref.is_string()) fail(path + "/$ref", "'$ref' must be a string");
    const std::string target = ref.get<std::string>();
    if (const auto it = refs_.find(target); it != refs_.end()) return it->second;
    if (target.empty() || target[0] != '#') {
      fail(
          path + "/$ref",
          "only references within the schema ('#/$defs/NAME') are supported, not '" + target + "'");
    }
    const json* node = &root_;
    std::string pointer = target.substr(1);
    size_t at = 0;
    while (at < pointer.size()) {
      if (pointer[at] != '/') fail(path + "/$ref", "malformed reference '" + target + "'");
      const size_t next = pointer.find('/', at + 1);
      std::string token =
          pointer.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
      for (size_t p; (p = token.find("~1")) != std::string::npos;) token.replace(p, 2, "/");
      for (size_t p; (p = token.find("~0")) != std::string::npos;) token.replace(p, 2, "~");
      if (!node->is_object() || !node->contains(token)) {
        fail(path + "/$ref", "the reference '" + target + "' points at nothing in the schema");
      }
      node = &(*node)[token];
      at = next == std::string::npos ? pointer.size() : next;
    }
    // Named before it is visited, so a recursive schema refers back to its own rule.
    const std::string name = b_.unique_name("ref-" + target.substr(target.rfind('/') + 1));
    refs_.emplace(target, name);
    b_.rules_.emplace(name, "");
    b_.order_.push_back(name);
    const std::string body = visit(*node, target.substr(1), name + "-body");
    b_.rules_[name] = body;
    return name;
  }

  std::string visit_enum(const json& values, const std::string& path, const std::string& hint) {
    if (!values.is_array() || values.empty()) {
      fail(path + "/enum", "'enum' must be a non-empty array (an empty one matches no value)");
    }
    std::vector<std::string> literals;
    for (const auto& v : values) literals.push_back(GbnfBuilder::literal(v.dump()));
    return b_.add_rule(hint, join(literals, " | "));
  }

  std::string visit_any_of(const json& alts, const std::string& path, const char* key,
                           const std::string& hint) {
    if (!alts.is_array() || alts.empty()) {
      fail(path + "/" + key, str("'", key, "' must be a non-empty array of schemas"));
    }
    std::vector<std::string> rules;
    for (size_t i = 0; i < alts.size(); ++i) {
      rules.push_back(visit(alts[i], str(path, "/", key, "/", i), str(hint, "-", i)));
    }
    return b_.add_rule(hint, join(rules, " | "));
  }

  static std::optional<uint64_t> count(const json& s, const char* key, const std::string& path) {
    const auto it = s.find(key);
    if (it == s.end()) return std::nullopt;
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
      fail(path + "/" + key, str("'", key, "' must be a non-negative integer"));
    }
    const auto n = it->get<uint64_t>();
    if (n > 1000) fail(path + "/" + key, str("'", key, "' above 1000 is not supported"));
    return n;
  }

  static std::string repeat(const std::string& item, uint64_t min, std::optional<uint64_t> max) {
    if (max && *max == 0) return "";
    if (max) return str("(", item, "){", min, ",", *max, "}");
    return str("(", item, "){", min, ",}");
  }

  std::string visit_object(const json& s, const std::string& path, const std::string& hint) {
    const auto props = s.find("properties");
    std::vector<std::string> required;
    if (const auto req = s.find("required"); req != s.end()) {
      if (!req->is_array()) fail(path + "/required", "'required' must be an array of names");
      for (const auto& r : *req) {
        if (!r.is_string()) fail(path + "/required", "'required' must be an array of names");
        if (props == s.end() || !props->is_object() || !props->contains(r.get<std::string>())) {
          fail(path + "/required", "the required property '" + r.get<std::string>() +
                                       "' is not defined in 'properties'");
        }
        required.push_back(r.get<std::string>());
      }
    }
    const std::string ws = b_.base("ws");
    if (props == s.end() || props->empty()) {
      const auto extra = s.find("additionalProperties");
      if (extra != s.end() && extra->is_boolean() && !extra->get<bool>()) {
        return b_.add_rule(hint, "\"{\" " + ws + " \"}\"");
      }
      if (extra == s.end() || extra->is_boolean()) return b_.base("object");
      const std::string value = visit(*extra, path + "/additionalProperties", hint + "-value");
      const std::string member = b_.base("string") + " " + ws + " \":\" " + ws + " " + value;
      return b_.add_rule(hint, str("\"{\" ", ws, " (", member, " ", ws, " (\",\" ", ws, " ", member,
                                   " ", ws, ")*)? \"}\""));
    }
    if (!props->is_object()) fail(path + "/properties", "'properties' must be an object");
    // Properties in the schema's order; required ones always, optional ones may be left out.
    // first_i: members from i on when none came before; rest_i: after at least one (a comma).
    std::vector<std::string> members;
    std::vector<bool> is_required;
    for (const auto& [name, sub] : props->items()) {
      const std::string value = visit(sub, path + "/properties/" + name, hint + "-" + name);
      members.push_back(GbnfBuilder::literal(json(name).dump()) + " " + ws + " \":\" " + ws + " " +
                        value);
      is_required.push_back(std::find(required.begin(), required.end(), name) != required.end());
    }
    const size_t n = members.size();
    std::vector<std::string> first(n + 1), rest(n + 1);
    first[n] = b_.add_rule(hint + "-end", "\"\"");
    rest[n] = first[n];
    for (size_t i = n; i-- > 0;) {
      std::string with_rest = str("\",\" ", ws, " ", members[i], " ", ws, " ", rest[i + 1]);
      rest[i] =
          b_.add_rule(hint + "-rest", is_required[i] ? with_rest : with_rest + " | " + rest[i + 1]);
      std::string with_first = str(members[i], " ", ws, " ", rest[i + 1]);
      first[i] = b_.add_rule(hint + "-first",
                             is_required[i] ? with_first : with_first + " | " + first[i + 1]);
    }
    return b_.add_rule(hint, str("\"{\" ", ws, " ", first[0], " \"}\""));
  }

  std::string visit_array(const json& s, const std::string& path, const std::string& hint) {
    std::string item;
    if (const auto items = s.find("items"); items != s.end()) {
      if (items->is_array()) fail(path + "/items", "tuple 'items' (an array) is not supported");
      item = visit(*items, path + "/items", hint + "-item");
    } else {
      item = b_.base("value");
    }
    const uint64_t min = count(s, "minItems", path).value_or(0);
    const std::optional<uint64_t> max = count(s, "maxItems", path);
    if (max && *max < min) fail(path, "'minItems' is above 'maxItems': no array satisfies both");
    const std::string ws = b_.base("ws");
    if (max && *max == 0) return b_.add_rule(hint, str("\"[\" ", ws, " \"]\""));
    const std::string more = repeat(str("\",\" ", ws, " ", item, " ", ws), min > 0 ? min - 1 : 0,
                                    max ? std::optional<uint64_t>(*max - 1) : std::nullopt);
    const std::string items = str(item, " ", ws, " ", more);
    if (min == 0) return b_.add_rule(hint, str("\"[\" ", ws, " (", items, ")? \"]\""));
    return b_.add_rule(hint, str("\"[\" ", ws, " ", items, " \"]\""));
  }

  std::string visit_string(const json& s, const std::string& path, const std::string& hint) {
    if (const auto format = s.find("format"); format != s.end()) {
      const std::string f = format->is_string() ? format->get<std::string>() : "";
      std::string body;
      if (f == "date" || f == "time" || f == "uuid") body = b_.base(f);
      if (f == "date-time") body = b_.base("date") + " \"T\" " + b_.base("time");
      if (body.empty()) {
        fail(path + "/format", "the string format '" + f +
                                   "' is not supported (supported: date, time, date-time, uuid)");
      }
      return b_.add_rule(hint, "\"\\\"\" " + body + " \"\\\"\"");
    }
    const uint64_t min = count(s, "minLength", path).value_or(0);
    const std::optional<uint64_t> max = count(s, "maxLength", path);
    if (max && *max < min) fail(path, "'minLength' is above 'maxLength': no string satisfies both");
    if (min == 0 && !max) return b_.base("string");
    return b_.add_rule(hint, "\"\\\"\" " + repeat(b_.base("json-char"), min, max) + " \"\\\"\"");
  }

  GbnfBuilder& b_;
  const json& root_;
  std::map<std::string, std::string> refs_;
};

std::string GbnfBuilder::add_schema(const json& schema, const std::string& name_hint) {
  SchemaConverter converter(*this, schema);
  return converter.visit(schema, "", name_hint);
}

std::string json_schema_to_gbnf(const json& schema) {
  GbnfBuilder builder;
  const std::string value = builder.add_schema(schema, "schema");
  builder.add_rule("root", value + " " + builder.base("ws"));
  return builder.text();
}

}  // namespace bottega::grammar
