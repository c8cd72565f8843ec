// jinja2's filters and tests, Python's str/dict methods, and attribute/item lookup as jinja2's
// environment does them. Names not known here are errors that name them.
#pragma once

#include <optional>
#include <string>

#include "template/value.h"

namespace bottega::jinja {

// obj.name: a dict's item, else undefined with jinja2's hint ("'dict object' has no attribute
// 'x'"). Throws when obj itself is undefined.
Value get_attr(const Value& object, const std::string& name);
// obj[key]: dict key, list/string index (negative from the end), else undefined.
Value get_item(const Value& object, const Value& key);
// The values a for loop visits: list items, dict keys, string characters; undefined visits none.
List iterate(const Value& value);

bool has_filter(const std::string& name);
bool has_test(const std::string& name);
Value apply_filter(const std::string& name, const Value& input, const CallArgs& args);
bool apply_test(const std::string& name, const Value& input, const CallArgs& args);
// obj.name(args) for str and dict methods; nullopt when the type has no such method.
std::optional<Value> call_method(const Value& object, const std::string& name,
                                 const CallArgs& args);

}  // namespace bottega::jinja
