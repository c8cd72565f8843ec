// JSON schemas (the subset OpenAI's structured outputs and function parameters use) as GBNF, so
// generated JSON always parses and validates. What a schema asks that the grammar cannot enforce
// is refused with SchemaError naming the keyword and where it is, never silently dropped.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"

namespace bottega::grammar {

class SchemaError : public Error {
 public:
  using Error::Error;
};

// Collects GBNF rules; several schemas (the parameters of several tools) can share one grammar.
class GbnfBuilder {
 public:
  // Adds the rules matching `schema` (its $refs resolved within it); returns the rule's name.
  // Throws SchemaError.
  std::string add_schema(const nlohmann::ordered_json& schema, const std::string& name_hint);
  // Adds `name ::= body` under a unique name derived from `name`, which it returns.
  std::string add_rule(const std::string& name, const std::string& body);
  // A rule every JSON grammar uses: ws, string, number, integer, boolean, null, value, object,
  // array. Added on first use; returns its name.
  std::string base(const std::string& name);
  // The grammar text, rules in the order they were added.
  std::string text() const;

  // A GBNF literal ("...") matching exactly `text`.
  static std::string literal(std::string_view text);

 private:
  friend class SchemaConverter;
  std::string unique_name(const std::string& hint);

  std::map<std::string, std::string> rules_;
  std::vector<std::string> order_;
};

// The whole grammar for one schema: root ::= the schema's value, then optional whitespace.
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema);

}  // namespace bottega::grammar
