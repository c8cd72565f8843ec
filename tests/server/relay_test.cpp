// The relay of generated tokens to response text, with gpt-oss's real tokenizer: in a chat, the
// harmony analysis channel goes to reasoning and only the final channel's text is the answer,
// however the tokens arrive (one at a time while streaming, or all at once).
#include "server/relay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace bottega::server {
namespace {

std::unique_ptr<tokenizer::Tokenizer> gpt_oss_tokenizer() {
  const std::filesystem::path file = testing::source_dir() / "tests" / "npm" / "node_modules" /
                                     "@lenml" / "tokenizer-gptoss" / "models" / "tokenizer.json";
  if (!std::filesystem::exists(file)) {
    throw std::runtime_error(file.string() + " is missing; run scripts/npm-deps");
  }
  return tokenizer::load_tokenizer_json(file.string());
}

// What the model writes after the prompt's "<|start|>assistant": reasoning, then the answer.
constexpr const char* kHarmonyReply =
    "<|channel|>analysis<|message|>The user greets; reply briefly. Ünïcode too.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>Hello! How can I help? STOP here<|return|>";

std::vector<GeneratedToken> generated(const tokenizer::Tokenizer& tokenizer,
                                      const std::string& text) {
  std::vector<GeneratedToken> tokens;
  for (int32_t id : tokenizer.encode(text, false, true)) {
    GeneratedToken token;
    token.token = id;
    tokens.push_back(std::move(token));
  }
  return tokens;
}

struct Collected {
  std::string text, reasoning;
};

Collected relay_in_chunks(Relay& relay, const std::vector<GeneratedToken>& tokens, size_t chunk) {
  Collected out;
  for (size_t i = 0; i < tokens.size(); i += chunk) {
    const size_t n = std::min(chunk, tokens.size() - i);
    const Relay::Piece piece =
        relay.take(std::vector<GeneratedToken>(tokens.begin() + i, tokens.begin() + i + n));
    out.text += piece.text;
    out.reasoning += piece.reasoning;
  }
  const Relay::Piece rest = relay.finish();
  out.text += rest.text;
  out.reasoning += rest.reasoning;
  return out;
}

TEST(Relay, HarmonyChatSeparatesReasoningFromTheAnswerInAnyChunking) {
  const auto tokenizer = gpt_oss_tokenizer();
  const std::vector<GeneratedToken> tokens = generated(*tokenizer, kHarmonyReply);
  ASSERT_GT(tokens.size(), 20u);
  for (size_t chunk : {size_t{1}, size_t{3}, tokens.size()}) {
    Relay relay(*tokenizer, {}, /*chat=*/true, /*at_text_start=*/true, /*top_logprobs=*/-1);
    const Collected out = relay_in_chunks(relay, tokens, chunk);
    EXPECT_EQ(out.reasoning, "The user greets; reply briefly. Ünïcode too.") << "chunk " << chunk;
    EXPECT_EQ(out.text, "Hello! How can I help? STOP here") << "chunk " << chunk;
  }
}

TEST(Relay, StopSequencesApplyToTheAnswerNotTheReasoning) {
  const auto tokenizer = gpt_oss_tokenizer();
  Relay relay(*tokenizer, {"reply", "STOP"}, /*chat=*/true, /*at_text_start=*/true, -1);
  const Collected out = relay_in_chunks(relay, generated(*tokenizer, kHarmonyReply), 1);
  EXPECT_EQ(out.reasoning, "The user greets; reply briefly. Ünïcode too.");
  EXPECT_EQ(out.text, "Hello! How can I help? ");
  EXPECT_TRUE(relay.stopped());
}

TEST(Relay, ToolCallsOnTheCommentaryChannelStayInTheAnswer) {
  const auto tokenizer = gpt_oss_tokenizer();
  Relay relay(*tokenizer, {}, /*chat=*/true, /*at_text_start=*/true, -1);
  const Collected out = relay_in_chunks(
      relay,
      generated(*tokenizer,
                "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant"
                "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
                "{\"city\":\"Oslo\"}<|call|>"),
      2);
  EXPECT_EQ(out.reasoning, "Need the weather.");
  EXPECT_EQ(out.text, "{\"city\":\"Oslo\"}");
}

// Completions are raw text: no channel is hidden, and other vocabularies are never split.
TEST(Relay, CompletionsKeepEveryChannelAsText) {
  const auto tokenizer = gpt_oss_tokenizer();
  Relay relay(*tokenizer, {}, /*chat=*/false, /*at_text_start=*/true, -1);
  const Collected out = relay_in_chunks(relay, generated(*tokenizer, kHarmonyReply), 4);
  EXPECT_EQ(out.reasoning, "");
  EXPECT_NE(out.text.find("The user greets"), std::string::npos);
  EXPECT_NE(out.text.find("Hello! How can I help?"), std::string::npos);
}

}  // namespace
}  // namespace bottega::server

namespace bottega::server {
namespace {

Relay::Piece relay_all(Relay& relay, const std::vector<GeneratedToken>& tokens, size_t chunk) {
  Relay::Piece all;
  for (size_t i = 0; i < tokens.size(); i += chunk) {
    const size_t n = std::min(chunk, tokens.size() - i);
    Relay::Piece p =
        relay.take(std::vector<GeneratedToken>(tokens.begin() + i, tokens.begin() + i + n));
    all.text += p.text;
    all.reasoning += p.reasoning;
    for (auto& c : p.calls) all.calls.push_back(c);
  }
  Relay::Piece rest = relay.finish();
  all.text += rest.text;
  all.reasoning += rest.reasoning;
  for (auto& c : rest.calls) all.calls.push_back(c);
  return all;
}

// With tools offered, a message to a client function is a call, not answer text.
TEST(Relay, HarmonyMessagesToFunctionsAreToolCalls) {
  const auto tokenizer = gpt_oss_tokenizer();
  const std::string reply =
      "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant"
      "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
      "{\"city\": \"Oslo\"}";
  for (size_t chunk : {size_t{1}, size_t{5}}) {
    Relay relay(*tokenizer, {}, true, true, -1, {}, /*harmony_tool_calls=*/true);
    const Relay::Piece out = relay_all(relay, generated(*tokenizer, reply), chunk);
    EXPECT_EQ(out.reasoning, "Need the weather.");
    EXPECT_EQ(out.text, "");
    ASSERT_EQ(out.calls.size(), 1u);
    EXPECT_EQ(out.calls[0].name, "get_weather");
    EXPECT_EQ(out.calls[0].arguments, R"({"city":"Oslo"})");
  }
  // The header may also name the recipient before the channel.
  Relay relay(*tokenizer, {}, true, true, -1, {}, true);
  const Relay::Piece out = relay_all(
      relay,
      generated(*tokenizer,
                "<|start|>assistant to=functions.lookup<|channel|>commentary json<|message|>"
                "{\"q\": 1}"),
      3);
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].name, "lookup");
}

// A prompt that ends with the call's header (a forced call) primes the splitter.
TEST(Relay, PrimedHarmonyHeaderStartsTheCall) {
  const auto tokenizer = gpt_oss_tokenizer();
  Relay relay(*tokenizer, {}, true, true, -1, {}, true);
  relay.prime(tokenizer->encode("<|channel|>commentary to=functions.", false, true));
  const Relay::Piece out =
      relay_all(relay, generated(*tokenizer, "now <|constrain|>json<|message|>{\"utc\": true}"), 2);
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].name, "now");
  EXPECT_EQ(out.calls[0].arguments, R"({"utc":true})");
  EXPECT_EQ(out.text, "");
  // Arguments that are no JSON object stay the answer.
  Relay bad(*tokenizer, {}, true, true, -1, {}, true);
  bad.prime(tokenizer->encode("<|channel|>commentary to=functions.now <|constrain|>json<|message|>",
                              false, true));
  const Relay::Piece kept = relay_all(bad, generated(*tokenizer, "not json"), 1);
  EXPECT_TRUE(kept.calls.empty());
  EXPECT_EQ(kept.text, "not json");
}

}  // namespace
}  // namespace bottega::server
