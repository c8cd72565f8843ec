#include "server/embeddings.h"

#include <cstring>

namespace bottega::server {

std::string base64_floats(std::span<const float> values) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> bytes;
  bytes.reserve(values.size() * 4);
  for (float v : values) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    for (int shift = 0; shift < 32; shift += 8)
      bytes.push_back(static_cast<uint8_t>(bits >> shift));
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = static_cast<uint32_t>(bytes[i]) << 16;
    if (n > 1) group |= static_cast<uint32_t>(bytes[i + 1]) << 8;
    if (n > 2) group |= bytes[i + 2];
    for (size_t c = 0; c < 4; ++c) {
      out += c <= n ? kAlphabet[(group >> (18 - 6 * c)) & 63] : '=';
    }
  }
  return out;
}

nlohmann::ordered_json embedding_response(const std::vector<std::vector<float>>& embeddings,
                                          bool base64, const std::string& model,
                                          int64_t prompt_tokens) {
  using json = nlohmann::ordered_json;
  json data = json::array();
  for (size_t i = 0; i < embeddings.size(); ++i) {
    data.push_back(
        {{"object", "embedding"},
         {"index", i},
         {"embedding", base64 ? json(base64_floats(embeddings[i])) : json(embeddings[i])}});
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", model},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

}  // namespace bottega::server
