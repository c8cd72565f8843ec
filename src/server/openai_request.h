// The request side of the OpenAI API: JSON bodies of /v1/completions and /v1/chat/completions
// checked field by field and turned into generation parameters. Problems become ApiError with the
// status, type, param and code OpenAI would send. Unknown fields are ignored, as OpenAI does.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/grammar.h"
#include "sampling/sampler.h"

namespace bottega::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int http_status, const std::string& message,
           std::string error_type = "invalid_request_error",
           std::optional<std::string> error_param = std::nullopt,
           std::optional<std::string> error_code = std::nullopt)
      : std::runtime_error(message),
        status(http_status),
        type(std::move(error_type)),
        param(std::move(error_param)),
        code(std::move(error_code)) {}
  int status;
  std::string type;
  std::optional<std::string> param;
  std::optional<std::string> code;
};

// {"error": {"message", "type", "param", "code"}}
nlohmann::ordered_json error_body(const ApiError& error);

// Parses a request body; anything but a JSON object is a 400.
nlohmann::ordered_json parse_body(std::string_view body);

struct CompletionParams {
  bool chat = false;
  // /v1/completions: text, or token ids when the prompt was given as integers.
  std::string prompt;
  std::optional<std::vector<int32_t>> prompt_tokens;
  // /v1/chat/completions
  nlohmann::ordered_json messages;
  nlohmann::ordered_json tools;  // null when absent; each checked to be a function tool
  // "auto" (the default with tools), "none", "required", or "function" for tool_choice_name.
  std::string tool_choice = "auto";
  std::string tool_choice_name;
  bool parallel_tool_calls = true;

  int32_t max_tokens = -1;  // -1: until end of generation or a full context
  std::vector<std::string> stop;
  SamplingParams sampling;
  int32_t top_logprobs = -1;  // -1: no log-probabilities; 0: the chosen token only
  bool stream = false;
  bool include_usage = false;
  // What the output must match: from response_format (json_object, json_schema) or llama-server's
  // "grammar" (GBNF) and "json_schema" fields; null when the output is free.
  std::shared_ptr<const grammar::Grammar> grammar;
};

CompletionParams parse_completion_request(const nlohmann::ordered_json& body);
CompletionParams parse_chat_request(const nlohmann::ordered_json& body);

// /v1/embeddings. `input` is a string, an array of strings, an array of token ids, or an array of
// arrays of token ids: exactly one of texts and tokens is filled, one entry per input, none empty.
struct EmbeddingParams {
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> tokens;
  bool base64 = false;                // encoding_format "base64": little-endian float32 bytes
  std::optional<int64_t> dimensions;  // the caller's check of the model's width
};

EmbeddingParams parse_embedding_request(const nlohmann::ordered_json& body);

}  // namespace bottega::server
