// Function calling: what tool-call syntax a model was trained on, the grammar that forces a valid
// call (tool_choice "required" or a named function), and the parser that turns the model's text
// back into OpenAI's tool_calls while the answer streams.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bottega::server {

enum class ToolFormat {
  kHermes,   // <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call> (Qwen 2.5/3, Hermes)
  kLlama3,   // the whole answer is {"name": ..., "parameters": {...}} (Llama 3.1/3.2/3.3)
  kMistral,  // [TOOL_CALLS][{"name": ..., "arguments": {...}, "id": "abcdefghi"}] (Mistral)
  // gpt-oss: a message "<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>
  // {...}<|call|>", read by the Relay's harmony splitter rather than from the text.
  kHarmony,
};

const char* tool_format_name(ToolFormat format);

// The format the chat template teaches; Hermes for templates that know no tools (they get the
// tool list as a system message instead, see tools_system_prompt).
ToolFormat detect_tool_format(const std::string& template_source);
// Whether the template renders the `tools` variable at all.
bool template_renders_tools(const std::string& template_source);
// The special tokens whose text the format needs to see in the output (e.g. "[TOOL_CALLS]").
std::vector<std::string> tool_markers(ToolFormat format);
// A marker as the format's grammars see its token: its text, except for harmony, whose splitter
// reads the markers by token id, so a forced call must produce the tokens themselves and not their
// spelling in ordinary tokens: there each is a private-use character (U+E000 on), which the
// grammar vocabulary keeps other tokens from spelling (TokenVocabulary's reserve_private_use).
std::string tool_marker_grammar_text(ToolFormat format, std::string_view marker);

// Tools a template that knows none should still learn about: a system message in Hermes style.
std::string tools_system_prompt(const nlohmann::ordered_json& tools);

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text of an object
};

// A call id as OpenAI writes them ("call_" and 24 letters and digits); Mistral's templates insist
// on exactly 9 letters and digits.
std::string new_tool_call_id(ToolFormat format, const std::function<uint32_t()>& random);

// The header the prompt ends with when a harmony model must call a function: the whole message
// header for one function, else up to the function's name, which the grammar then chooses.
std::string harmony_call_prefix(const nlohmann::ordered_json& tools);

// GBNF for one or more calls (several when `parallel`) of the given tools in the format, each
// call's arguments valid for its function's parameters schema. Throws grammar::SchemaError.
std::string tool_call_grammar(ToolFormat format, const nlohmann::ordered_json& tools,
                              bool parallel);

// Splits streamed answer text into content and tool calls. Text that may still turn out to be
// the start of a call is held back until it is clear.
class ToolCallParser {
 public:
  ToolCallParser(ToolFormat format, bool parallel, std::function<std::string()> new_id);

  struct Output {
    std::string content;
    std::vector<ToolCall> calls;
  };
  Output push(std::string_view text);
  // The end of the answer: what was held back, as content or calls.
  Output finish();
  // A call found elsewhere (a harmony message): given an id and counted. Returns it.
  ToolCall add_found(ToolCall call);
  // Whether any call was found so far.
  bool called() const { return n_calls_ > 0; }

 private:
  void take_hermes(Output& out, bool at_end);
  void take_marker_then_json(Output& out, bool at_end);
  void add_call(Output& out, const nlohmann::ordered_json& call);

  ToolFormat format_;
  bool parallel_;
  std::function<std::string()> new_id_;
  std::string buffer_;
  bool in_call_ = false;  // Hermes: inside <tool_call>; the others: the answer is a call
  bool decided_ = false;  // Llama 3: whether the answer is a call is known
  int n_calls_ = 0;
};

}  // namespace bottega::server
