#include "server/openai_request.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "grammar/json_schema.h"

namespace bottega::server {

using json = nlohmann::ordered_json;

json error_body(const ApiError& error) {
  return {{"error",
           {{"message", error.what()},
            {"type", error.type},
            {"param", error.param ? json(*error.param) : json(nullptr)},
            {"code", error.code ? json(*error.code) : json(nullptr)}}}};
}

json parse_body(std::string_view body) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    throw ApiError(400,
                   "We could not parse the JSON body of your request. The body must be valid JSON "
                   "(check quoting and commas).");
  }
  if (!parsed.is_object()) throw ApiError(400, "The request body must be a JSON object.");
  return parsed;
}

namespace {

[[noreturn]] void bad_type(const std::string& name, const char* expected) {
  throw ApiError(400, "Invalid type for '" + name + "': expected " + expected + ".",
                 "invalid_request_error", name, "invalid_type");
}

[[noreturn]] void bad_value(const std::string& name, const std::string& why) {
  throw ApiError(400, "Invalid value for '" + name + "': " + why, "invalid_request_error", name,
                 "invalid_value");
}

[[noreturn]] void missing(const std::string& name) {
  throw ApiError(400, "Missing required parameter: '" + name + "'.", "invalid_request_error", name,
                 "missing_required_parameter");
}

// The field, or nullptr when absent or JSON null (OpenAI treats null as "use the default").
const json* field(const json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number(const json& body, const char* name, double lo, double hi) {
  const json* value = field(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) bad_type(name, "a number");
  const double x = value->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    bad_value(name, "must be between " + json(lo).dump() + " and " + json(hi).dump() + ", got " +
                        value->dump() + ".");
  }
  return x;
}

std::optional<int64_t> integer(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* value = field(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer()) bad_type(name, "an integer");
  const auto x = value->get<int64_t>();
  if (x < lo || x > hi) {
    bad_value(name, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                        ", got " + std::to_string(x) + ".");
  }
  return x;
}

std::optional<bool> boolean(const json& body, const char* name) {
  const json* value = field(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) bad_type(name, "a boolean");
  return value->get<bool>();
}

std::vector<std::string> stop_sequences(const json& body) {
  const json* value = field(body, "stop");
  if (value == nullptr) return {};
  if (value->is_string()) return {value->get<std::string>()};
  if (!value->is_array()) bad_type("stop", "a string or an array of strings");
  if (value->size() > 4) bad_value("stop", "at most 4 stop sequences are allowed.");
  std::vector<std::string> stops;
  for (const auto& s : *value) {
    if (!s.is_string()) bad_type("stop", "a string or an array of strings");
    stops.push_back(s.get<std::string>());
  }
  return stops;
}

// Fields both endpoints share: sampling, limits, streaming.
void parse_common(const json& body, CompletionParams& params) {
  constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
  // OpenAI's defaults: temperature 1 and top_p 1 with no other truncation.
  SamplingParams& s = params.sampling;
  s.temperature = 1.0f;
  s.top_k = 0;
  s.top_p = 1.0f;
  s.min_p = 0.0f;
  s.repeat_penalty = 1.0f;
  if (auto t = number(body, "temperature", 0.0, 2.0)) s.temperature = static_cast<float>(*t);
  if (auto p = number(body, "top_p", 0.0, 1.0)) {
    if (*p == 0.0) bad_value("top_p", "must be greater than 0.");
    s.top_p = static_cast<float>(*p);
  }
  if (auto p = number(body, "presence_penalty", -2.0, 2.0))
    s.presence_penalty = static_cast<float>(*p);
  if (auto p = number(body, "frequency_penalty", -2.0, 2.0)) {
    s.frequency_penalty = static_cast<float>(*p);
  }
  // Extensions that llama-server and vLLM accept too.
  if (auto k = integer(body, "top_k", -1, kMaxInt))
    s.top_k = static_cast<int>(std::max<int64_t>(*k, 0));
  if (auto p = number(body, "min_p", 0.0, 1.0)) s.min_p = static_cast<float>(*p);
  if (auto p = number(body, "repetition_penalty", 0.0, 10.0)) {
    if (*p == 0.0) bad_value("repetition_penalty", "must be greater than 0.");
    s.repeat_penalty = static_cast<float>(*p);
  }
  if (auto seed = integer(body, "seed", std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*seed);
  } else {
    s.seed = SamplingParams::kRandomSeed;
  }
  if (auto n = integer(body, "n", 1, 128); n && *n != 1) {
    bad_value("n", "only n = 1 is supported; send several requests for several completions.");
  }
  params.stop = stop_sequences(body);
  params.stream = boolean(body, "stream").value_or(false);
  if (const json* options = field(body, "stream_options")) {
    if (!options->is_object()) bad_type("stream_options", "an object");
    if (!params.stream) {
      bad_value("stream_options", "only allowed when 'stream' is true.");
    }
    params.include_usage = boolean(*options, "include_usage").value_or(false);
  }
  (void)kMaxInt;
}

std::shared_ptr<const grammar::Grammar> compile(const std::string& gbnf, const std::string& param) {
  try {
    return std::make_shared<const grammar::Grammar>(grammar::parse_gbnf(gbnf));
  } catch (const Error& e) {
    throw ApiError(400, std::string("Invalid grammar: ") + e.what(), "invalid_request_error", param,
                   "invalid_grammar");
  }
}

std::shared_ptr<const grammar::Grammar> schema_grammar(const json& schema,
                                                       const std::string& param) {
  if (!schema.is_object() && !schema.is_boolean()) bad_type(param, "a JSON schema object");
  try {
    return compile(grammar::json_schema_to_gbnf(schema), param);
  } catch (const grammar::SchemaError& e) {
    throw ApiError(400, std::string("Invalid schema: ") + e.what(), "invalid_request_error", param,
                   "invalid_schema");
  }
}

// response_format, or llama-server's "grammar" and "json_schema": at most one of them.
void parse_output_constraint(const json& body, CompletionParams& params) {
  int given = 0;
  if (const json* format = field(body, "response_format")) {
    if (!format->is_object()) bad_type("response_format", "an object");
    const json* type = field(*format, "type");
    if (type == nullptr || !type->is_string()) {
      missing("response_format.type");
    }
    const std::string t = type->get<std::string>();
    if (t == "json_object") {
      params.grammar = schema_grammar(json{{"type", "object"}}, "response_format");
    } else if (t == "json_schema") {
      const json* spec = field(*format, "json_schema");
      if (spec == nullptr || !spec->is_object()) {
        missing("response_format.json_schema");
      }
      const json* schema = field(*spec, "schema");
      params.grammar = schema_grammar(schema != nullptr ? *schema : json::object(),
                                      "response_format.json_schema.schema");
    } else if (t != "text") {
      bad_value("response_format.type",
                "'" + t + "' is not one of 'text', 'json_object', 'json_schema'.");
    }
    ++given;
  }
  if (const json* gbnf = field(body, "grammar")) {
    if (!gbnf->is_string()) bad_type("grammar", "a string (GBNF)");
    params.grammar = compile(gbnf->get<std::string>(), "grammar");
    ++given;
  }
  if (const json* schema = field(body, "json_schema")) {
    params.grammar = schema_grammar(*schema, "json_schema");
    ++given;
  }
  if (given > 1) {
    bad_value("response_format",
              "give at most one of 'response_format', 'grammar' and 'json_schema'.");
  }
}

bool valid_function_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

void parse_tools(const json& body, CompletionParams& params) {
  const json* tools = field(body, "tools");
  if (tools != nullptr) {
    if (!tools->is_array()) bad_type("tools", "an array");
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& tool = (*tools)[i];
      const std::string where = "tools[" + std::to_string(i) + "]";
      if (!tool.is_object()) bad_type(where, "an object");
      const json* type = field(tool, "type");
      if (type == nullptr) missing(where + ".type");
      if (*type != "function") bad_value(where + ".type", "only 'function' tools are supported.");
      const json* function = field(tool, "function");
      if (function == nullptr) missing(where + ".function");
      if (!function->is_object()) bad_type(where + ".function", "an object");
      const json* name = field(*function, "name");
      if (name == nullptr) missing(where + ".function.name");
      if (!name->is_string() || !valid_function_name(name->get<std::string>())) {
        bad_value(where + ".function.name",
                  "must be 1 to 64 letters, digits, underscores or dashes.");
      }
      const json* parameters = field(*function, "parameters");
      if (parameters != nullptr && !parameters->is_object()) {
        bad_type(where + ".function.parameters", "a JSON schema object");
      }
    }
    if (!tools->empty()) params.tools = *tools;
    // Templates read the parameters of every tool; a function without any takes none.
    for (auto& tool : params.tools) {
      json& function = tool["function"];
      if (!function.contains("parameters") || function["parameters"].is_null()) {
        function["parameters"] = {{"type", "object"}, {"properties", json::object()}};
      }
    }
  }
  params.parallel_tool_calls = boolean(body, "parallel_tool_calls").value_or(true);
  const json* choice = field(body, "tool_choice");
  if (choice == nullptr) {
    params.tool_choice = params.tools.is_null() ? "none" : "auto";
    return;
  }
  if (choice->is_string()) {
    const std::string c = choice->get<std::string>();
    if (c != "none" && c != "auto" && c != "required") {
      bad_value("tool_choice", "'" + c + "' is not one of 'none', 'auto', 'required'.");
    }
    params.tool_choice = c;
  } else if (choice->is_object()) {
    const json* function = field(*choice, "function");
    const json* name =
        function != nullptr && function->is_object() ? field(*function, "name") : nullptr;
    if (name == nullptr || !name->is_string()) missing("tool_choice.function.name");
    params.tool_choice = "function";
    params.tool_choice_name = name->get<std::string>();
    bool known = false;
    for (const auto& tool : params.tools.is_null() ? json::array() : params.tools) {
      known = known || tool["function"]["name"] == params.tool_choice_name;
    }
    if (!known) {
      bad_value("tool_choice.function.name",
                "no tool named '" + params.tool_choice_name + "' was given in 'tools'.");
    }
  } else {
    bad_type("tool_choice", "a string or an object");
  }
  if (params.tools.is_null() && params.tool_choice == "required") {
    bad_value("tool_choice", "'required' needs at least one tool in 'tools'.");
  }
  if (params.tool_choice != "none" && params.tool_choice != "auto" && params.grammar) {
    bad_value("tool_choice",
              "a required or named tool call cannot be combined with "
              "'response_format', 'grammar' or 'json_schema'.");
  }
}

// Assistant tool calls and tool results as templates expect them: each call checked, its
// arguments (JSON text in the API) parsed into an object, as the templates print them.
json template_messages(const json& messages) {
  json out = messages;
  for (size_t i = 0; i < out.size(); ++i) {
    json& m = out[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (m["role"] == "tool") {
      const json* id = field(m, "tool_call_id");
      if (id == nullptr) missing(where + ".tool_call_id");
      if (!id->is_string()) bad_type(where + ".tool_call_id", "a string");
    }
    const json* calls = field(m, "tool_calls");
    if (calls == nullptr) continue;
    if (m["role"] != "assistant") {
      bad_value(where + ".tool_calls", "only assistant messages carry tool calls.");
    }
    if (!calls->is_array()) bad_type(where + ".tool_calls", "an array");
    for (size_t k = 0; k < calls->size(); ++k) {
      json& call = m["tool_calls"][k];
      const std::string at = where + ".tool_calls[" + std::to_string(k) + "]";
      if (!call.is_object()) bad_type(at, "an object");
      json* function = call.contains("function") ? &call["function"] : nullptr;
      if (function == nullptr || !function->is_object()) missing(at + ".function");
      if (!function->contains("name") || !(*function)["name"].is_string()) {
        missing(at + ".function.name");
      }
      if (!function->contains("arguments")) missing(at + ".function.arguments");
      json& args = (*function)["arguments"];
      if (args.is_string()) {
        json parsed = json::parse(args.get<std::string>(), nullptr, false);
        if (parsed.is_discarded()) {
          bad_value(at + ".function.arguments", "must be a JSON text (an object's).");
        }
        args = std::move(parsed);
      } else if (!args.is_object()) {
        bad_type(at + ".function.arguments", "a string of JSON");
      }
    }
    if (!m.contains("content") || m["content"].is_null()) m["content"] = "";
  }
  return out;
}

std::optional<int32_t> max_tokens(const json& body, const char* name) {
  if (auto n = integer(body, name, 1, std::numeric_limits<int32_t>::max())) {
    return static_cast<int32_t>(*n);
  }
  return std::nullopt;
}

}  // namespace

CompletionParams parse_completion_request(const json& body) {
  CompletionParams params;
  const json* prompt = field(body, "prompt");
  if (prompt == nullptr) {
    missing("prompt");
  }
  // A string, a list with one string, or token ids (a list of integers).
  const json* p = prompt;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) {
    params.prompt = p->get<std::string>();
  } else if (p->is_array() && !p->empty() && std::all_of(p->begin(), p->end(), [](const json& t) {
               return t.is_number_integer();
             })) {
    std::vector<int32_t> tokens;
    for (const auto& t : *p) {
      const auto id = t.get<int64_t>();
      if (id < 0 || id > std::numeric_limits<int32_t>::max()) {
        bad_value("prompt", "token ids must be non-negative.");
      }
      tokens.push_back(static_cast<int32_t>(id));
    }
    params.prompt_tokens = std::move(tokens);
  } else if (p->is_array() && p->size() > 1) {
    bad_value("prompt", "only one prompt per request is supported.");
  } else {
    bad_type("prompt", "a string or an array of token ids");
  }
  parse_common(body, params);
  parse_output_constraint(body, params);
  // The legacy endpoint's default is 16 tokens.
  params.max_tokens = max_tokens(body, "max_tokens").value_or(16);
  if (auto n = integer(body, "logprobs", 0, 20)) params.top_logprobs = static_cast<int32_t>(*n);
  if (boolean(body, "echo").value_or(false)) bad_value("echo", "echo is not supported.");
  return params;
}

CompletionParams parse_chat_request(const json& body) {
  CompletionParams params;
  params.chat = true;
  const json* messages = field(body, "messages");
  if (messages == nullptr) {
    missing("messages");
  }
  if (!messages->is_array()) bad_type("messages", "an array of message objects");
  if (messages->empty()) {
    throw ApiError(400, "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                   "invalid_request_error", "messages", "empty_array");
  }
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad_type(where, "an object");
    const json* role = field(m, "role");
    if (role == nullptr) {
      missing(where + ".role");
    }
    if (!role->is_string()) bad_type(where + ".role", "a string");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool") {
      bad_value(where + ".role", "'" + r +
                                     "' is not one of 'system', 'developer', 'user', 'assistant', "
                                     "'tool'.");
    }
    const json* content = field(m, "content");
    if (content != nullptr && !content->is_string() && !content->is_array()) {
      bad_type(where + ".content", "a string or an array of content parts");
    }
    if (content == nullptr && r != "assistant") {
      missing(where + ".content");
    }
  }
  params.messages = template_messages(*messages);
  parse_common(body, params);
  parse_output_constraint(body, params);
  parse_tools(body, params);
  std::optional<int32_t> limit = max_tokens(body, "max_completion_tokens");
  if (!limit) limit = max_tokens(body, "max_tokens");
  params.max_tokens = limit.value_or(-1);
  const bool logprobs = boolean(body, "logprobs").value_or(false);
  const auto top = integer(body, "top_logprobs", 0, 20);
  if (top && !logprobs) {
    bad_value("top_logprobs", "'logprobs' must be true to use 'top_logprobs'.");
  }
  if (logprobs) params.top_logprobs = static_cast<int32_t>(top.value_or(0));
  return params;
}

namespace {

// OpenAI's limit on the inputs of one embeddings request.
constexpr size_t kMaxEmbeddingInputs = 2048;

std::vector<int32_t> token_ids(const json& ids, const std::string& name) {
  if (ids.empty()) bad_value(name, "an input must not be empty.");
  std::vector<int32_t> out;
  for (const auto& id : ids) {
    if (!id.is_number_integer()) bad_type(name, "token ids (integers)");
    const auto value = id.get<int64_t>();
    if (value < 0 || value > std::numeric_limits<int32_t>::max()) {
      bad_value(name, "token ids must be non-negative, got " + std::to_string(value) + ".");
    }
    out.push_back(static_cast<int32_t>(value));
  }
  return out;
}

void embedding_inputs(const json& input, EmbeddingParams& params) {
  constexpr const char* kExpected =
      "a string, an array of strings, an array of token ids or an array of arrays of token ids";
  if (input.is_string()) {
    if (input.get_ref<const std::string&>().empty()) bad_value("input", "must not be empty.");
    params.texts.push_back(input.get<std::string>());
    return;
  }
  if (!input.is_array()) bad_type("input", kExpected);
  if (input.empty()) bad_value("input", "must not be an empty array.");
  if (input.size() > kMaxEmbeddingInputs) {
    bad_value("input", "at most " + std::to_string(kMaxEmbeddingInputs) +
                           " inputs are allowed in one request.");
  }
  // The first element decides the form; every other element must have the same one.
  if (input.front().is_number()) {
    params.tokens.push_back(token_ids(input, "input"));
    return;
  }
  for (size_t i = 0; i < input.size(); ++i) {
    const json& item = input[i];
    const std::string name = "input[" + std::to_string(i) + "]";
    if (input.front().is_string()) {
      if (!item.is_string()) bad_type(name, "a string, as the other inputs are");
      if (item.get_ref<const std::string&>().empty()) bad_value(name, "must not be empty.");
      params.texts.push_back(item.get<std::string>());
    } else if (input.front().is_array()) {
      if (!item.is_array()) bad_type(name, "an array of token ids, as the other inputs are");
      params.tokens.push_back(token_ids(item, name));
    } else {
      bad_type("input", kExpected);
    }
  }
}

}  // namespace

EmbeddingParams parse_embedding_request(const json& body) {
  EmbeddingParams params;
  const json* input = field(body, "input");
  if (input == nullptr) {
    missing("input");
  }
  embedding_inputs(*input, params);
  if (const json* format = field(body, "encoding_format")) {
    if (!format->is_string()) bad_type("encoding_format", "a string");
    const auto& name = format->get_ref<const std::string&>();
    if (name != "float" && name != "base64") {
      bad_value("encoding_format", "must be 'float' or 'base64', got '" + name + "'.");
    }
    params.base64 = name == "base64";
  }
  params.dimensions = integer(body, "dimensions", 1, std::numeric_limits<int32_t>::max());
  return params;
}

}  // namespace bottega::server
