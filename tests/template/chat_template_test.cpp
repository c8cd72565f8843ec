// ChatTemplate: the API the server and `bottega chat` use, and the built-in templates.
#include "template/chat_template.h"

#include <gtest/gtest.h>

#include <ctime>
#include <functional>

#include "core/error.h"

namespace bottega {
namespace {

using nlohmann::json;

const json kMessages = json::parse(R"([
  {"role": "system", "content": "Be brief."},
  {"role": "user", "content": "Hi"},
  {"role": "assistant", "content": "Hello"},
  {"role": "user", "content": [{"type": "text", "text": "Bye"}, {"type": "image"}]}
])");

TEST(ChatTemplate, BuiltinsRenderTheirFormats) {
  EXPECT_EQ(ChatTemplate::builtin("chatml", "", "").apply(kMessages, nullptr, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(
      ChatTemplate::builtin("llama3", "<|begin_of_text|>", "").apply(kMessages, nullptr, true),
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(ChatTemplate::builtin("llama2", "<s>", "</s>").apply(kMessages, nullptr, true),
            "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(ChatTemplate::builtin("mistral", "<s>", "</s>").apply(kMessages, nullptr, false),
            "<s>[INST] Be brief.\n\nHi[/INST]Hello</s>[INST] Bye[/INST]");
  EXPECT_EQ(ChatTemplate::builtin("gemma", "<bos>", "").apply(kMessages, nullptr, true),
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello"
            "<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(ChatTemplate::builtin("phi3", "", "<|endoftext|>").apply(kMessages, nullptr, false),
            "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n"
            "<|user|>\nBye<|end|>\n<|endoftext|>");
}

std::string utc_date_today() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[16];
  std::strftime(text, sizeof(text), "%Y-%m-%d", &utc);
  return text;
}

// The rendering with today's date in the header; a date read before and one after the rendering
// cover a call that crosses midnight.
void expect_harmony(const std::function<std::string()>& render,
                    const std::function<std::string(const std::string&)>& expected) {
  const std::string before = utc_date_today();
  const std::string rendered = render();
  const std::string after = utc_date_today();
  if (rendered != expected(before)) {
    EXPECT_EQ(rendered, expected(after));
  }
}

// gpt-oss: the system header it was trained with, system text as developer instructions, earlier
// answers in the final channel, the assistant's turn left open for its channel header; as the
// official template (openai-gpt-oss-120b.jinja) writes chats without tools.
TEST(ChatTemplate, HarmonyRendersGptOssTurns) {
  const ChatTemplate harmony = ChatTemplate::builtin("harmony", "<|startoftext|>", "<|return|>");
  const auto header = [](const std::string& date) {
    return "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
           "OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: " +
           date + "\n\n";
  };
  const std::string channels =
      "# Valid channels: analysis, commentary, final. Channel must be included for every "
      "message.<|end|>";
  expect_harmony([&] { return harmony.apply(kMessages, nullptr, true); },
                 [&](const std::string& date) {
                   return header(date) + "Reasoning: medium\n\n" + channels +
                          "<|start|>developer<|message|># Instructions\n\nBe brief.\n\n<|end|>"
                          "<|start|>user<|message|>Hi<|end|>"
                          "<|start|>assistant<|channel|>final<|message|>Hello<|end|>"
                          "<|start|>user<|message|>Bye<|end|><|start|>assistant";
                 });
  const json user_only = json::parse(R"([{"role": "user", "content": "2+2?"}])");
  expect_harmony(
      [&] {
        return harmony.apply(user_only, nullptr, true, {{"reasoning_effort", "high"}});
      },
      [&](const std::string& date) {
        return header(date) + "Reasoning: high\n\n" + channels +
               "<|start|>user<|message|>2+2?<|end|><|start|>assistant";
      });
}

// With tools: the channel rule for calls in the system header, the functions as a TypeScript
// namespace after the instructions (required parameters without "?", enums as unions, defaults as
// comments, a function without parameters as "() => any"), an earlier call as a message to
// functions.NAME ending in <|call|> and its result as a message from it (named by the call when
// the tool message has no name).
TEST(ChatTemplate, HarmonyRendersToolsCallsAndResults) {
  const ChatTemplate harmony = ChatTemplate::builtin("harmony", "<|startoftext|>", "<|return|>");
  const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
      "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "The city"},
        "unit": {"enum": ["celsius", "fahrenheit"], "default": "celsius"},
        "days": {"type": "array", "items": {"type": "integer"}}},
      "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time"}}])");
  const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather?"},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "21 degrees"}])");
  expect_harmony(
      [&] { return harmony.apply(messages, tools, true, nlohmann::ordered_json::object()); },
      [&](const std::string& date) {
        return "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
               "OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: " +
               date +
               "\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel "
               "must be included for every message.\nCalls to these tools must go to the "
               "commentary channel: 'functions'.<|end|>"
               "<|start|>developer<|message|># Instructions\n\nBe brief.\n\n# Tools\n\n"
               "## functions\n\nnamespace functions {\n\n// Weather in a city\n"
               "type get_weather = (_: {\n// The city\ncity: string,\n"
               "unit?: \"celsius\" | \"fahrenheit\", // default: \"celsius\"\ndays?: number[],\n"
               "}) => any;\n\ntype get_time = () => any;\n\n} // namespace functions<|end|>"
               "<|start|>user<|message|>Weather?<|end|>"
               "<|start|>assistant<|channel|>commentary to=functions.get_weather "
               "<|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>"
               "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>21 "
               "degrees<|end|><|start|>assistant";
      });
}

TEST(ChatTemplate, UnknownBuiltinListsTheNames) {
  try {
    ChatTemplate::builtin("nope", "", "");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown chat template 'nope'; the built-in ones are: chatml, llama3, llama2, "
              "mistral, gemma, phi3, harmony");
  }
  EXPECT_EQ(ChatTemplate::builtin_names().size(), 7u);
}

TEST(ChatTemplate, PassesToolsTokensAndExtraContext) {
  const auto tmpl = ChatTemplate::from_source(
      "{{ bos_token }}{{ tools | tojson if tools is not none else 'no tools' }}|{{ flag }}|"
      "{{ add_generation_prompt }}{{ eos_token }}",
      "custom", "<s>", "</s>");
  EXPECT_EQ(tmpl.name(), "custom");
  EXPECT_EQ(tmpl.apply(json::array(), nullptr, false, {{"flag", 7}}), "<s>no tools|7|False</s>");
  EXPECT_EQ(tmpl.apply(json::array(), json::parse(R"([{"a": 1}])"), true),
            "<s>[{\"a\": 1}]||True</s>");
}

TEST(ChatTemplate, TemplateErrorsCarryTheTemplatesMessage) {
  const auto tmpl = ChatTemplate::from_source(
      "{% if messages[0].role != 'user' %}{{ raise_exception('First message must be user') }}"
      "{% endif %}ok",
      "strict", "", "");
  EXPECT_EQ(tmpl.apply(json::parse(R"([{"role": "user", "content": "x"}])"), nullptr, true), "ok");
  try {
    tmpl.apply(kMessages, nullptr, true);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "chat template 'strict': template line 1: First message must be user");
  }
  EXPECT_THROW(ChatTemplate::from_source("{% for %}", "broken", "", ""), Error);
  EXPECT_THROW(tmpl.apply(json::object(), nullptr, true), Error);
}

}  // namespace
}  // namespace bottega
