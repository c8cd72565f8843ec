// The response side of /v1/embeddings: the list OpenAI returns, with each vector as JSON numbers or
// as base64 of its little-endian float32 bytes (encoding_format "base64", which the official
// clients ask for by default and decode themselves).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace bottega::server {

// Standard base64 (RFC 4648, with padding) of the floats' little-endian IEEE-754 bytes.
std::string base64_floats(std::span<const float> values);

// {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": ...}], "model",
//  "usage": {"prompt_tokens", "total_tokens"}}
nlohmann::ordered_json embedding_response(const std::vector<std::vector<float>>& embeddings,
                                          bool base64, const std::string& model,
                                          int64_t prompt_tokens);

}  // namespace bottega::server
