// Tool calls: the parser (whole or streamed in any chunking), the grammars that force calls, and
// the formats against the real templates: a call the template renders parses back to itself.
#include "server/tool_calls.h"

#include <gtest/gtest.h>

#include <memory>

#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "template/chat_template.h"
#include "testutil/testutil.h"

namespace bottega::server {
namespace {

using json = nlohmann::ordered_json;

ToolCallParser::Output parse_chunks(ToolFormat format, const std::string& text,
                                    const std::vector<size_t>& cuts, bool parallel = true) {
  int n = 0;
  ToolCallParser parser(format, parallel, [&n] { return "id" + std::to_string(n++); });
  ToolCallParser::Output all;
  size_t at = 0;
  auto add = [&all](ToolCallParser::Output o) {
    all.content += o.content;
    all.calls.insert(all.calls.end(), o.calls.begin(), o.calls.end());
  };
  for (size_t cut : cuts) {
    add(parser.push(std::string_view(text).substr(at, cut - at)));
    at = cut;
  }
  add(parser.push(std::string_view(text).substr(at)));
  add(parser.finish());
  return all;
}

// Every way of cutting the text in two, and one byte at a time, gives the whole text's result.
void expect_chunking_invariant(ToolFormat format, const std::string& text) {
  const auto whole = parse_chunks(format, text, {});
  std::vector<size_t> bytes;
  for (size_t i = 1; i < text.size(); ++i) {
    bytes.push_back(i);
    const auto two = parse_chunks(format, text, {i});
    ASSERT_EQ(two.content, whole.content) << "cut at " << i;
    ASSERT_EQ(two.calls.size(), whole.calls.size()) << "cut at " << i;
    for (size_t k = 0; k < two.calls.size(); ++k) {
      EXPECT_EQ(two.calls[k].name, whole.calls[k].name);
      EXPECT_EQ(two.calls[k].arguments, whole.calls[k].arguments);
    }
  }
  const auto single = parse_chunks(format, text, bytes);
  EXPECT_EQ(single.content, whole.content);
  EXPECT_EQ(single.calls.size(), whole.calls.size());
}

TEST(ToolCallParser, Hermes) {
  const std::string text =
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": "
      "\"{\\\"tz\\\": \\\"CET\\\"}\"}\n</tool_call>";
  const auto out = parse_chunks(ToolFormat::kHermes, text, {});
  EXPECT_EQ(out.content, "Let me check.\n");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].name, "get_weather");
  EXPECT_EQ(out.calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(out.calls[0].id, "id0");
  EXPECT_EQ(out.calls[1].name, "get_time");
  EXPECT_EQ(out.calls[1].arguments, R"({"tz":"CET"})");
  expect_chunking_invariant(ToolFormat::kHermes, text);
  // parallel_tool_calls false: the first call only.
  EXPECT_EQ(parse_chunks(ToolFormat::kHermes, text, {}, false).calls.size(), 1u);
}

TEST(ToolCallParser, HermesTextThatIsNoCallStaysText) {
  const std::string text = "a <tool_call>not json</tool_call> b <tool_c";
  const auto out = parse_chunks(ToolFormat::kHermes, text, {});
  EXPECT_EQ(out.content, text);
  EXPECT_TRUE(out.calls.empty());
  expect_chunking_invariant(ToolFormat::kHermes, text);
  // A call cut off by the length limit but complete as JSON still counts.
  const auto cut =
      parse_chunks(ToolFormat::kHermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}", {});
  ASSERT_EQ(cut.calls.size(), 1u);
  EXPECT_EQ(cut.content, "");
}

TEST(ToolCallParser, Llama3) {
  const std::string call = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}";
  auto out = parse_chunks(ToolFormat::kLlama3, call, {});
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].arguments, R"({"city":"Oslo"})");
  EXPECT_EQ(out.content, "");
  expect_chunking_invariant(ToolFormat::kLlama3, call);
  out = parse_chunks(ToolFormat::kLlama3, "<|python_tag|>" + call, {});
  ASSERT_EQ(out.calls.size(), 1u);
  const std::string prose = "It is sunny {mostly}.";
  out = parse_chunks(ToolFormat::kLlama3, prose, {});
  EXPECT_EQ(out.content, prose);
  EXPECT_TRUE(out.calls.empty());
  expect_chunking_invariant(ToolFormat::kLlama3, prose);
  // JSON that is no call is the answer.
  out = parse_chunks(ToolFormat::kLlama3, "{\"answer\": 42}", {});
  EXPECT_EQ(out.content, "{\"answer\": 42}");
}

TEST(ToolCallParser, Mistral) {
  const std::string text =
      "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": 1}, \"id\": \"abcdefghi\"}, "
      "{\"name\": \"b\", \"arguments\": {}}]";
  const auto out = parse_chunks(ToolFormat::kMistral, text, {});
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].id, "abcdefghi");
  EXPECT_EQ(out.calls[1].name, "b");
  EXPECT_EQ(out.calls[1].id, "id0");
  EXPECT_EQ(out.content, "");
  expect_chunking_invariant(ToolFormat::kMistral, text);
  const std::string prose = "No [TOOL_CALL here.";
  EXPECT_EQ(parse_chunks(ToolFormat::kMistral, prose, {}).content, prose);
  expect_chunking_invariant(ToolFormat::kMistral, prose);
}

TEST(ToolCallIds, OpenAiAndMistralShapes) {
  uint32_t n = 0;
  const std::string openai = new_tool_call_id(ToolFormat::kHermes, [&n] { return n++; });
  EXPECT_EQ(openai.size(), 29u);
  EXPECT_EQ(openai.substr(0, 5), "call_");
  EXPECT_EQ(new_tool_call_id(ToolFormat::kMistral, [&n] { return n++; }).size(), 9u);
}

const json kTools = json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
   "parameters": {"type": "object", "properties": {"city": {"type": "string"},
     "unit": {"enum": ["c", "f"]}}, "required": ["city"]}}},
  {"type": "function", "function": {"name": "now", "description": "The time", "parameters": {"type": "object", "properties": {}}}}
])");

bool grammar_accepts(const std::string& gbnf, const std::string& text) {
  grammar::Matcher m(std::make_shared<const grammar::Grammar>(grammar::parse_gbnf(gbnf)));
  return m.accept(text) && m.can_end();
}

TEST(ToolCallGrammar, ForcesValidCallsInEachFormat) {
  const std::string hermes = tool_call_grammar(ToolFormat::kHermes, kTools, true);
  const std::string call1 =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\", \"unit\": "
      "\"c\"}}\n</tool_call>";
  const std::string call2 = "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>";
  EXPECT_TRUE(grammar_accepts(hermes, call1));
  EXPECT_TRUE(grammar_accepts(hermes, call1 + "\n" + call2));
  EXPECT_FALSE(
      grammar_accepts(tool_call_grammar(ToolFormat::kHermes, kTools, false), call1 + "\n" + call2));
  EXPECT_FALSE(grammar_accepts(hermes,
                               "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                               "{\"unit\": \"c\"}}\n</tool_call>"));  // city required
  EXPECT_FALSE(grammar_accepts(hermes,
                               "<tool_call>\n{\"name\": \"get_wether\", \"arguments\": "
                               "{}}\n</tool_call>"));
  EXPECT_FALSE(grammar_accepts(hermes, "Sure! " + call1));
  const std::string llama = tool_call_grammar(ToolFormat::kLlama3, kTools, true);
  EXPECT_TRUE(
      grammar_accepts(llama, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"X\"}}"));
  EXPECT_FALSE(
      grammar_accepts(llama, "{\"name\": \"get_weather\", \"parameters\": {\"city\": 1}}"));
  const std::string mistral = tool_call_grammar(ToolFormat::kMistral, kTools, true);
  EXPECT_TRUE(
      grammar_accepts(mistral,
                      "[TOOL_CALLS][{\"name\": \"now\", \"arguments\": {}, \"id\": \"a1b2c3d4e\"}, "
                      "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Y\"}}]"));
  EXPECT_FALSE(grammar_accepts(mistral,
                               "[TOOL_CALLS][{\"name\": \"now\", \"arguments\": {}, "
                               "\"id\": \"short\"}]"));
  // Harmony: after harmony_call_prefix(), the function's name (when several) and its arguments.
  // The header's markers are the tokens themselves (private-use characters in the grammar's
  // vocabulary): their spelling in ordinary tokens would leave the splitter in the header.
  const std::string harmony = tool_call_grammar(ToolFormat::kHarmony, kTools, true);
  EXPECT_EQ(harmony_call_prefix(kTools), "<|channel|>commentary to=functions.");
  const std::string constrain = tool_marker_grammar_text(ToolFormat::kHarmony, "<|constrain|>");
  const std::string message = tool_marker_grammar_text(ToolFormat::kHarmony, "<|message|>");
  EXPECT_EQ(constrain, "\xEE\x80\x80");  // U+E000
  EXPECT_EQ(message, "\xEE\x80\x81");
  EXPECT_EQ(tool_marker_grammar_text(ToolFormat::kHermes, "<tool_call>"), "<tool_call>");
  EXPECT_TRUE(grammar_accepts(harmony, "now " + constrain + "json" + message + "{}"));
  EXPECT_TRUE(grammar_accepts(harmony,
                              "get_weather " + constrain + "json" + message + "{\"city\": \"Z\"}"));
  EXPECT_FALSE(grammar_accepts(harmony, "get_weather " + constrain + "json" + message + "{}"));
  EXPECT_FALSE(grammar_accepts(harmony, "now <|constrain|>json<|message|>{}"));
  const json one = json::array({kTools[1]});
  EXPECT_EQ(harmony_call_prefix(one),
            "<|channel|>commentary to=functions.now <|constrain|>json<|message|>");
  EXPECT_TRUE(grammar_accepts(tool_call_grammar(ToolFormat::kHarmony, one, true), "{}"));
  // Parameters the grammar cannot enforce are refused, naming the keyword.
  json bad = kTools;
  bad[0]["function"]["parameters"]["properties"]["city"]["pattern"] = "^[A-Z]";
  EXPECT_THROW(tool_call_grammar(ToolFormat::kHermes, bad, true), grammar::SchemaError);
}

// The formats agree with the templates: an assistant turn with a call, rendered by the model's
// real template, parses back into the same call.
TEST(ToolCallFormats, RenderedCallsParseBack) {
  struct Case {
    const char* file;
    ToolFormat format;
    const char* end_of_turn;
  };
  const Case cases[] = {
      {"templates/Qwen-Qwen2.5-7B-Instruct.jinja", ToolFormat::kHermes, "<|im_end|>"},
      {"templates/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", ToolFormat::kHermes,
       "<|im_end|>"},
      {"templates/meta-llama-Llama-3.1-8B-Instruct.jinja", ToolFormat::kLlama3, "<|eot_id|>"},
      {"templates/meta-llama-Llama-3.3-70B-Instruct.jinja", ToolFormat::kLlama3, "<|eot_id|>"},
      {"templates/mistralai-Mistral-Nemo-Instruct-2407.jinja", ToolFormat::kMistral, "</s>"},
  };
  const json user = {{"role", "user"}, {"content", "Weather in Rome?"}};
  const json call = {
      {"id", "a1b2c3d4e"},
      {"type", "function"},
      {"function", {{"name", "get_weather"}, {"arguments", {{"city", "Rome"}, {"unit", "c"}}}}}};
  const json assistant = {{"role", "assistant"}, {"content", ""}, {"tool_calls", {call}}};
  for (const auto& c : cases) {
    const std::string source = testing::read_file(testing::shared_file(c.file));
    EXPECT_EQ(detect_tool_format(source), c.format) << c.file;
    EXPECT_TRUE(template_renders_tools(source)) << c.file;
    const ChatTemplate tmpl = ChatTemplate::from_source(source, c.file, "<s>", "</s>");
    const std::string prompt = tmpl.apply(json::array({user}), kTools, true, json::object());
    std::string full = tmpl.apply(json::array({user, assistant}), kTools, false, json::object());
    // Templates that open the assistant's header themselves render the same prompt prefix.
    const std::string header_free = prompt.substr(0, prompt.rfind("assistant"));
    ASSERT_EQ(full.substr(0, header_free.size()), header_free) << c.file;
    std::string answer = full.substr(full.find(prompt) == 0 ? prompt.size() : header_free.size());
    if (full.find(prompt) != 0) answer = answer.substr(answer.find('\n') + 1);  // after the header
    const size_t end = answer.rfind(c.end_of_turn);
    ASSERT_NE(end, std::string::npos) << c.file << ": " << answer;
    answer = answer.substr(0, end);
    const auto out = parse_chunks(c.format, answer, {});
    ASSERT_EQ(out.calls.size(), 1u) << c.file << ": " << answer;
    EXPECT_EQ(out.calls[0].name, "get_weather");
    EXPECT_EQ(json::parse(out.calls[0].arguments), call["function"]["arguments"]) << c.file;
    EXPECT_EQ(out.content.find_first_not_of(" \n"), std::string::npos) << c.file << ": " << answer;
    // And the grammar for a forced call accepts what the template writes (Mistral adds the id).
    const std::string gbnf = tool_call_grammar(c.format, kTools, true);
    grammar::Matcher m(std::make_shared<const grammar::Grammar>(grammar::parse_gbnf(gbnf)));
    std::string_view text = answer;
    while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    EXPECT_TRUE(m.accept(text) && m.can_end()) << c.file << ": " << text;
  }
}

}  // namespace
}  // namespace bottega::server
