// JSON schemas as grammars: documents valid for the schema are accepted and invalid ones refused,
// and text generated under the grammar from random logits on a real vocabulary always parses and
// validates (checked by a small validator of the supported keywords, written apart from the
// converter).
#include "grammar/json_schema.h"

#include <gtest/gtest.h>

#include <random>

#include "gguf/gguf.h"
#include "grammar/constraint.h"
#include "sampling/sampler.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace bottega::grammar {
namespace {

using json = nlohmann::ordered_json;

bool accepts(const json& schema, const std::string& text) {
  Matcher m(std::make_shared<const Grammar>(parse_gbnf(json_schema_to_gbnf(schema))));
  return m.accept(text) && m.can_end();
}

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Validation of the keywords the converter supports, from the JSON Schema rules.
bool valid(const json& v, const json& s, const json& root) {
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("$ref")) {
    const std::string ref = s["$ref"];
    return valid(v, root.at(json::json_pointer(ref.substr(1))), root);
  }
  if (s.contains("const") && v != s["const"]) return false;
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end()) {
    return false;
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    if (!s.contains(key)) continue;
    int n = 0;
    for (const auto& alt : s[key]) n += valid(v, alt, root);
    if (n == 0 || (std::string(key) == "oneOf" && n > 1)) return false;
  }
  if (s.contains("allOf") && !valid(v, s["allOf"][0], root)) return false;
  if (s.contains("type")) {
    std::vector<std::string> types;
    if (s["type"].is_string())
      types = {s["type"].get<std::string>()};
    else
      for (const auto& t : s["type"]) types.push_back(t);
    bool any = false;
    for (const auto& t : types) {
      any = any || (t == "object" && v.is_object()) || (t == "array" && v.is_array()) ||
            (t == "string" && v.is_string()) || (t == "number" && v.is_number()) ||
            (t == "integer" && v.is_number_integer()) || (t == "boolean" && v.is_boolean()) ||
            (t == "null" && v.is_null());
    }
    if (!any) return false;
  }
  if (v.is_object()) {
    for (const auto& r : s.value("required", json::array())) {
      if (!v.contains(r.get<std::string>())) return false;
    }
    const json props = s.value("properties", json::object());
    for (const auto& [k, x] : v.items()) {
      if (props.contains(k)) {
        if (!valid(x, props[k], root)) return false;
      } else if (s.contains("additionalProperties") && !valid(x, s["additionalProperties"], root)) {
        return false;
      }
    }
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return false;
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return false;
    if (s.contains("items")) {
      for (const auto& x : v) {
        if (!valid(x, s["items"], root)) return false;
      }
    }
  }
  if (v.is_string()) {
    const size_t n = code_points(v.get<std::string>());
    if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return false;
    if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return false;
  }
  return true;
}

const json kPerson = json::parse(R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 12},
    "age": {"type": "integer"},
    "email": {"type": ["string", "null"]},
    "tags": {"type": "array", "items": {"enum": ["a", "b", 3, null]}, "minItems": 1, "maxItems": 3},
    "address": {"$ref": "#/$defs/address"},
    "score": {"type": "number"},
    "ok": {"type": "boolean"}
  },
  "required": ["name", "age", "tags"],
  "additionalProperties": false,
  "$defs": {
    "address": {"type": "object", "properties": {"city": {"const": "Zürich"}, "zip": {"type": "string"}},
                "required": ["city"]}
  }
})");

TEST(JsonSchema, AcceptsValidDocuments) {
  EXPECT_TRUE(accepts(kPerson, R"({"name": "Ana", "age": 41, "tags": ["a"]})"));
  EXPECT_TRUE(accepts(kPerson,
                      "{\n  \"name\": \"B\\u00e9\",\n  \"age\": -3,\n  \"email\": null,\n"
                      "  \"tags\": [3, null, \"b\"],\n  \"address\": {\"city\": \"Zürich\"},\n"
                      "  \"score\": 1.5e-3,\n  \"ok\": true\n}"));
  EXPECT_TRUE(accepts(json::parse(R"({"type": "array"})"), R"([1, {"x": [true, null]}, "s"])"));
  EXPECT_TRUE(accepts(json::parse("{}"), R"("just a string")"));
  EXPECT_TRUE(accepts(json::parse(R"({"type": "string", "format": "date-time"})"),
                      R"("2026-12-05T09:30:00Z")"));
  EXPECT_TRUE(
      accepts(json::parse(R"({"type": "object", "additionalProperties": {"type": "integer"}})"),
              R"({"a": 1, "b": 2})"));
}

TEST(JsonSchema, RefusesInvalidDocuments) {
  EXPECT_FALSE(accepts(kPerson, R"({"age": 41, "tags": ["a"]})"));                  // no name
  EXPECT_FALSE(accepts(kPerson, R"({"name": "Ana", "age": 4.5, "tags": ["a"]})"));  // not integer
  EXPECT_FALSE(accepts(kPerson, R"({"name": "Ana", "age": 1, "tags": []})"));       // minItems
  EXPECT_FALSE(accepts(kPerson, R"({"name": "Ana", "age": 1, "tags": ["a","a","a","a"]})"));
  EXPECT_FALSE(accepts(kPerson, R"({"name": "Ana", "age": 1, "tags": ["c"]})"));  // enum
  EXPECT_FALSE(accepts(kPerson, R"({"name": "", "age": 1, "tags": ["a"]})"));     // minLength
  EXPECT_FALSE(accepts(kPerson, R"({"name": "Ana", "age": 1, "tags": ["a"], "x": 1})"));
  EXPECT_FALSE(accepts(kPerson, R"({"name": "Ana", "age": 01, "tags": ["a"]})"));  // leading 0
  EXPECT_FALSE(accepts(kPerson, R"({"name": "A\x", "age": 1, "tags": ["a"]})"));   // bad escape
  EXPECT_FALSE(
      accepts(kPerson, R"({"name": "Ana", "age": 1, "tags": ["a"], "address": {"city": "Bern"}})"));
  EXPECT_FALSE(accepts(json::parse(R"({"type": "string", "format": "date"})"), R"("2026-13-01")"));
}

std::string error_of(const json& schema) {
  try {
    json_schema_to_gbnf(schema);
  } catch (const SchemaError& e) {
    return e.what();
  }
  return "";
}

TEST(JsonSchema, UnsupportedOrUnsatisfiableSchemasAreRefusedByName) {
  EXPECT_NE(error_of(json::parse(R"({"type": "string", "pattern": "^a"})"))
                .find("'pattern' is not supported"),
            std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"properties": {"n": {"type": "integer", "minimum": 0}}})"))
                .find("'#/properties/n': 'minimum' is not supported"),
            std::string::npos);
  EXPECT_NE(
      error_of(json::parse(R"({"type": "array", "minItems": 3, "maxItems": 2})")).find("no array"),
      std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"enum": []})")).find("non-empty"), std::string::npos);
  EXPECT_NE(error_of(json::parse("false")).find("matches no value"), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"type": "object", "required": ["x"], "properties": {}})"))
                .find("'x' is not defined"),
            std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"$ref": "#/$defs/missing"})")).find("points at nothing"),
            std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"$ref": "https://example.com/s.json"})"))
                .find("only references within"),
            std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"type": "strin"})")).find("unknown type 'strin'"),
            std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"type": "string", "format": "email"})"))
                .find("'email' is not supported"),
            std::string::npos);
}

TEST(JsonSchema, RecursiveSchemas) {
  const json tree = json::parse(R"({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
    "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
    "required": ["v"]}}})");
  EXPECT_TRUE(
      accepts(tree, R"({"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": [{"v": 4, "kids": []}]}]})"));
  EXPECT_FALSE(accepts(tree, R"({"v": 1, "kids": [{"w": 2}]})"));
}

// Random logits, with a push towards short structural tokens so documents end, sampled under the
// grammar until an end token: every finished document parses and validates.
TEST(JsonSchema, GeneratedTextAlwaysValidates) {
  const json schemas[] = {
      kPerson,
      json::parse(R"({"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "kind": {"enum": ["x", "y"]}}, "required": ["id", "kind"]},
        "maxItems": 4})"),
      json::parse(
          R"({"anyOf": [{"type": "number"}, {"type": "object", "properties": {"b": {"type": "boolean"}}}]})"),
  };
  for (const char* vocab_file :
       {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf"}) {
    const auto file = gguf::File::open(testing::shared_file(vocab_file));
    const auto tok = tokenizer::load_tokenizer(file);
    const auto vocab = TokenVocabulary::from_tokenizer(*tok);
    std::vector<float> bias(vocab->pieces.size(), 0.0f);
    for (size_t t = 0; t < bias.size(); ++t) {
      const std::string& p = vocab->pieces[t];
      if (vocab->is_end[t] ||
          (p.size() == 1 && std::string("\"{}[],:0123456789tfn").find(p[0]) != std::string::npos)) {
        bias[t] = 9.0f;
      }
    }
    int finished = 0;
    for (const auto& schema : schemas) {
      const auto grammar = std::make_shared<const Grammar>(parse_gbnf(json_schema_to_gbnf(schema)));
      for (uint64_t seed = 1; seed <= 8; ++seed) {
        GrammarConstraint constraint(grammar, vocab, true);
        SamplingParams params;
        params.seed = seed;
        params.temperature = 1.0f;
        params.top_k = 0;
        params.top_p = 1.0f;
        params.min_p = 0.0f;
        Sampler sampler(params, vocab->n_tokens());
        std::mt19937 rng(static_cast<uint32_t>(seed));
        std::normal_distribution<float> noise(0.0f, 2.0f);
        std::vector<int32_t> out;
        bool ended = false;
        std::vector<float> logits(bias.size());
        for (int step = 0; step < 600 && !ended; ++step) {
          for (size_t t = 0; t < logits.size(); ++t) logits[t] = bias[t] + noise(rng);
          const auto token = sampler.sample(logits, constraint);
          ASSERT_TRUE(token.has_value());
          constraint.accept(*token);
          if (vocab->is_end[static_cast<size_t>(*token)]) {
            ended = true;
          } else {
            out.push_back(*token);
          }
        }
        if (!ended) continue;
        ++finished;
        const std::string text = tok->decode(out);
        const json doc = json::parse(text, nullptr, false);
        ASSERT_FALSE(doc.is_discarded()) << vocab_file << ": " << text;
        EXPECT_TRUE(valid(doc, schema, schema)) << vocab_file << ": " << text;
      }
    }
    EXPECT_GE(finished, 20) << vocab_file;  // most walks end; a test of nothing would fail here
  }
}

}  // namespace
}  // namespace bottega::grammar
