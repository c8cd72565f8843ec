// Request parsing: defaults as OpenAI documents them, and each bad field named in the error.
#include "server/openai_request.h"

#include <gtest/gtest.h>

namespace bottega::server {
namespace {

using json = nlohmann::ordered_json;

ApiError error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError thrown";
  return ApiError(0, "");
}

TEST(OpenAiRequest, ChatDefaultsFollowOpenAi) {
  const auto p = parse_chat_request(
      json::parse(R"({"model":"x","messages":[{"role":"user","content":"hi"}]})"));
  EXPECT_TRUE(p.chat);
  EXPECT_EQ(p.max_tokens, -1);
  EXPECT_FLOAT_EQ(p.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 1.0f);
  EXPECT_EQ(p.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(p.sampling.min_p, 0.0f);
  EXPECT_EQ(p.top_logprobs, -1);
  EXPECT_FALSE(p.stream);
  EXPECT_TRUE(p.tools.is_null());
}

TEST(OpenAiRequest, ChatFieldsAreRead) {
  const auto p = parse_chat_request(json::parse(R"({
    "messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"}]}],
    "max_completion_tokens": 7, "max_tokens": 99, "temperature": 0, "top_p": 0.5, "seed": 42,
    "stop": ["x", "y"], "presence_penalty": 1.5, "frequency_penalty": -1, "logprobs": true,
    "top_logprobs": 3, "stream": true, "stream_options": {"include_usage": true},
    "some_future_field": {"ignored": true}})"));
  EXPECT_EQ(p.max_tokens, 7);  // max_completion_tokens wins over the older max_tokens
  EXPECT_FLOAT_EQ(p.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 0.5f);
  EXPECT_EQ(p.sampling.seed, 42u);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"x", "y"}));
  EXPECT_FLOAT_EQ(p.sampling.presence_penalty, 1.5f);
  EXPECT_FLOAT_EQ(p.sampling.frequency_penalty, -1.0f);
  EXPECT_EQ(p.top_logprobs, 3);
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
}

TEST(OpenAiRequest, CompletionPromptForms) {
  auto p = parse_completion_request(json::parse(R"({"prompt":"Once"})"));
  EXPECT_EQ(p.prompt, "Once");
  EXPECT_EQ(p.max_tokens, 16);  // the legacy endpoint's default
  p = parse_completion_request(json::parse(R"({"prompt":["Once"], "logprobs": 2, "stop": "\n"})"));
  EXPECT_EQ(p.prompt, "Once");
  EXPECT_EQ(p.top_logprobs, 2);
  EXPECT_EQ(p.stop, std::vector<std::string>{"\n"});
  p = parse_completion_request(json::parse(R"({"prompt":[1, 2, 3]})"));
  ASSERT_TRUE(p.prompt_tokens.has_value());
  EXPECT_EQ(*p.prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
}

TEST(OpenAiRequest, BadFieldsAreNamed) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {R"({})", "messages"},
      {R"({"messages":"hi"})", "messages"},
      {R"({"messages":[]})", "messages"},
      {R"({"messages":[{"content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature"},
      {R"({"messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature"},
      {R"({"messages":[{"role":"user","content":"x"}],"top_p":0})", "top_p"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":1.5})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"x"}],"n":2})", "n"},
      {R"({"messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop"},
      {R"({"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]})", "stop"},
      {R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})", "top_logprobs"},
      {R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
      {R"({"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}})",
       "stream_options"},
      {R"({"messages":[{"role":"user","content":"x"}],"presence_penalty":-3})", "presence_penalty"},
      // Structured output and tools.
      {R"({"messages":[{"role":"user","content":"x"}],"response_format":"json"})",
       "response_format"},
      {R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}})",
       "response_format.type"},
      {R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}})",
       "response_format.json_schema"},
      {R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema",
          "json_schema":{"name":"a","schema":{"type":"string","pattern":"x+"}}}})",
       "response_format.json_schema.schema"},
      {R"({"messages":[{"role":"user","content":"x"}],"grammar":"root ::= missing"})", "grammar"},
      {R"({"messages":[{"role":"user","content":"x"}],"grammar":"root ::= \"a\"",
          "json_schema":{"type":"object"}})",
       "response_format"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":{}})", "tools"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"retrieval"}]})",
       "tools[0].type"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})",
       "tools[0].function"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a b"}}]})",
       "tools[0].function.name"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]})",
       "tools[0].function.parameters"},
      {R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"always"})", "tool_choice"},
      {R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"required"})", "tool_choice"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],
          "tool_choice":{"type":"function","function":{"name":"g"}}})",
       "tool_choice.function.name"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],
          "tool_choice":"required","response_format":{"type":"json_object"}})",
       "tool_choice"},
      {R"({"messages":[{"role":"tool","content":"x"}]})", "messages[0].tool_call_id"},
      {R"({"messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{oops"}}]}]})",
       "messages[0].tool_calls[0].function.arguments"},
      {R"({"messages":[{"role":"assistant","tool_calls":[{"type":"function"}]}]})",
       "messages[0].tool_calls[0].function"},
      {R"({"messages":[{"role":"user","content":"x","tool_calls":[]}]})", "messages[0].tool_calls"},
  };
  for (const auto& c : cases) {
    const ApiError e = error_of([&] { parse_chat_request(json::parse(c.body)); });
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param.value_or(""), c.param) << c.body;
    EXPECT_EQ(e.type, "invalid_request_error");
  }
  const ApiError e = error_of([] { parse_completion_request(json::parse(R"({"prompt":{}})")); });
  EXPECT_EQ(e.param.value_or(""), "prompt");
}

TEST(OpenAiRequest, ToolsAndStructuredOutput) {
  auto p = parse_chat_request(json::parse(R"({"messages":[{"role":"user","content":"x"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
       "function":{"name":"f","arguments":"{\"a\": [1, 2]}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"3"}],
      "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
      "parallel_tool_calls":false,
      "response_format":{"type":"json_object"}})"));
  EXPECT_EQ(p.tool_choice, "auto");
  EXPECT_FALSE(p.parallel_tool_calls);
  ASSERT_TRUE(p.grammar != nullptr);
  // Templates print arguments as objects; the API sends them as JSON text.
  EXPECT_EQ(p.messages[1]["tool_calls"][0]["function"]["arguments"],
            json::parse(R"({"a": [1, 2]})"));
  EXPECT_EQ(p.messages[1]["content"], "");
  p = parse_chat_request(json::parse(R"({"messages":[{"role":"user","content":"x"}],
      "tools":[{"type":"function","function":{"name":"f"}}],
      "tool_choice":{"type":"function","function":{"name":"f"}}})"));
  EXPECT_EQ(p.tool_choice, "function");
  EXPECT_EQ(p.tool_choice_name, "f");
  EXPECT_TRUE(p.grammar == nullptr);
  p = parse_chat_request(json::parse(R"({"messages":[{"role":"user","content":"x"}]})"));
  EXPECT_EQ(p.tool_choice, "none");
}

TEST(OpenAiRequest, BodiesThatAreNotJsonObjects) {
  EXPECT_EQ(error_of([] { parse_body("{not json"); }).status, 400);
  EXPECT_EQ(error_of([] { parse_body("[1,2]"); }).status, 400);
  EXPECT_EQ(error_of([] { parse_body(""); }).status, 400);
  const json body = error_body(ApiError(429, "busy", "rate_limit_error", std::nullopt, "x"));
  EXPECT_EQ(body["error"]["message"], "busy");
  EXPECT_EQ(body["error"]["type"], "rate_limit_error");
  EXPECT_TRUE(body["error"]["param"].is_null());
  EXPECT_EQ(body["error"]["code"], "x");
}

}  // namespace
}  // namespace bottega::server
