// /v1/embeddings: the forms `input` takes, each bad field named in the 400, and the base64 encoding
// of the response (little-endian float32, as OpenAI sends and its clients decode).
#include <gtest/gtest.h>

#include <cstring>

#include "server/embeddings.h"
#include "server/openai_request.h"

namespace bottega::server {
namespace {

using json = nlohmann::ordered_json;

ApiError error_of(const char* body) {
  try {
    parse_embedding_request(json::parse(body));
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError for " << body;
  return ApiError(0, "");
}

TEST(EmbeddingRequest, InputForms) {
  auto p = parse_embedding_request(json::parse(R"({"model":"m","input":"hello"})"));
  EXPECT_EQ(p.texts, (std::vector<std::string>{"hello"}));
  EXPECT_TRUE(p.tokens.empty());
  EXPECT_FALSE(p.base64);
  EXPECT_FALSE(p.dimensions);
  p = parse_embedding_request(json::parse(R"({"input":["a","b c"],"encoding_format":"base64"})"));
  EXPECT_EQ(p.texts, (std::vector<std::string>{"a", "b c"}));
  EXPECT_TRUE(p.base64);
  p = parse_embedding_request(json::parse(R"({"input":[101, 7592, 102],"dimensions":384})"));
  EXPECT_EQ(p.tokens, (std::vector<std::vector<int32_t>>{{101, 7592, 102}}));
  EXPECT_EQ(p.dimensions, 384);
  p = parse_embedding_request(json::parse(R"({"input":[[101, 102], [101, 2088, 102]]})"));
  EXPECT_EQ(p.tokens, (std::vector<std::vector<int32_t>>{{101, 102}, {101, 2088, 102}}));
  EXPECT_TRUE(p.texts.empty());
}

TEST(EmbeddingRequest, BadInputsAreNamed) {
  struct Case {
    const char* body;
    const char* param;
    const char* message_part;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"model":"m"})", "input", "Missing required parameter"},
           {R"({"input":""})", "input", "must not be empty"},
           {R"({"input":[]})", "input", "empty array"},
           {R"({"input":["a",""]})", "input[1]", "must not be empty"},
           {R"({"input":["a",3]})", "input[1]", "a string"},
           {R"({"input":[1, 2.5]})", "input", "token ids"},
           {R"({"input":[1, -2]})", "input", "non-negative"},
           {R"({"input":[[1], []]})", "input[1]", "must not be empty"},
           {R"({"input":[[1], [true]]})", "input[1]", "token ids"},
           {R"({"input":[[1], "a"]})", "input[1]", "an array of token ids"},
           {R"({"input":{"a":1}})", "input", "a string, an array of strings"},
           {R"({"input":[{"a":1}]})", "input", "a string, an array of strings"},
           {R"({"input":"a","encoding_format":"int8"})", "encoding_format", "'float' or 'base64'"},
           {R"({"input":"a","dimensions":0})", "dimensions", "between 1"},
           {R"({"input":"a","dimensions":"64"})", "dimensions", "an integer"},
       }) {
    const ApiError e = error_of(c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param.value_or(""), c.param) << c.body;
    EXPECT_NE(std::string(e.what()).find(c.message_part), std::string::npos)
        << c.body << ": " << e.what();
  }
}

TEST(EmbeddingResponse, Base64IsLittleEndianFloat32) {
  // 1.0f is 00 00 80 3f; -2.0f is 00 00 00 c0: "AACAPwAAAMA=" with padding for 8 bytes.
  EXPECT_EQ(base64_floats(std::vector<float>{1.0f, -2.0f}), "AACAPwAAAMA=");
  EXPECT_EQ(base64_floats(std::vector<float>{1.0f}), "AACAPw==");
  EXPECT_EQ(base64_floats(std::vector<float>{1.0f, -2.0f, 0.5f}), "AACAPwAAAMAAAAA/");
  EXPECT_EQ(base64_floats(std::vector<float>{}), "");
}

TEST(EmbeddingResponse, HasOpenAisShape) {
  const json body = embedding_response({{0.25f, -0.5f}, {1.0f, 0.0f}}, false, "bge", 7);
  EXPECT_EQ(body["object"], "list");
  EXPECT_EQ(body["model"], "bge");
  ASSERT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(body["data"][1]["object"], "embedding");
  EXPECT_EQ(body["data"][1]["index"], 1);
  EXPECT_EQ(body["data"][0]["embedding"], json::parse("[0.25, -0.5]"));
  EXPECT_EQ(body["usage"], json::parse(R"({"prompt_tokens": 7, "total_tokens": 7})"));
  const json encoded = embedding_response({{1.0f, -2.0f}}, true, "bge", 2);
  EXPECT_EQ(encoded["data"][0]["embedding"], "AACAPwAAAMA=");
}

}  // namespace
}  // namespace bottega::server
