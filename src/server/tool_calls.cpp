#include "server/tool_calls.h"

#include <algorithm>

#include "core/error.h"
#include "grammar/json_schema.h"

namespace bottega::server {

using json = nlohmann::ordered_json;

namespace {

constexpr std::string_view kHermesOpen = "<tool_call>";
constexpr std::string_view kHermesClose = "</tool_call>";
constexpr std::string_view kMistralMarker = "[TOOL_CALLS]";
constexpr std::string_view kPythonTag = "<|python_tag|>";

bool contains(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// How much of the end of `text` could be the start of `marker` (so it must wait for more).
size_t partial_marker(std::string_view text, std::string_view marker) {
  for (size_t n = std::min(text.size(), marker.size() - 1); n > 0; --n) {
    if (text.substr(text.size() - n) == marker.substr(0, n)) return n;
  }
  return 0;
}

const json& parameters_of(const json& tool) {
  static const json kAnyObject = {{"type", "object"}};
  const json& function = tool["function"];
  const auto it = function.find("parameters");
  return it != function.end() && !it->is_null() ? *it : kAnyObject;
}

}  // namespace

const char* tool_format_name(ToolFormat format) {
  switch (format) {
    case ToolFormat::kHermes:
      return "hermes";
    case ToolFormat::kLlama3:
      return "llama3";
    case ToolFormat::kMistral:
      return "mistral";
    case ToolFormat::kHarmony:
      return "harmony";
  }
  return "?";
}

ToolFormat detect_tool_format(const std::string& source) {
  if (contains(source, kHermesOpen)) return ToolFormat::kHermes;
  if (contains(source, kMistralMarker)) return ToolFormat::kMistral;
  if (contains(source, "<|start_header_id|>") && contains(source, "parameters")) {
    return ToolFormat::kLlama3;
  }
  return ToolFormat::kHermes;
}

bool template_renders_tools(const std::string& source) {
  return contains(source, "tools");
}

std::vector<std::string> tool_markers(ToolFormat format) {
  switch (format) {
    case ToolFormat::kHermes:
      return {std::string(kHermesOpen), std::string(kHermesClose)};
    case ToolFormat::kLlama3:
      return {std::string(kPythonTag)};
    case ToolFormat::kMistral:
      return {std::string(kMistralMarker)};
    case ToolFormat::kHarmony:
      return {"<|constrain|>", "<|message|>"};
  }
  return {};
}

std::string tools_system_prompt(const json& tools) {
  std::string text =
      "You may call one or more functions to assist with the user query. The functions are "
      "described as JSON within <tools></tools> tags:\n<tools>";
  for (const auto& tool : tools) {
    text += '\n';
    text += tool.dump();
  }
  text +=
      "\n</tools>\n\nFor each function call, return a JSON object with the function name and "
      "arguments within <tool_call></tool_call> tags:\n<tool_call>\n{\"name\": <function-name>, "
      "\"arguments\": <args-json-object>}\n</tool_call>";
  return text;
}

std::string tool_marker_grammar_text(ToolFormat format, std::string_view marker) {
  if (format != ToolFormat::kHarmony) return std::string(marker);
  const std::vector<std::string> markers = tool_markers(format);
  const auto it = std::find(markers.begin(), markers.end(), marker);
  BOTTEGA_CHECK(it != markers.end(), "not a harmony tool marker: ", marker);
  const auto code_point = static_cast<uint32_t>(0xE000 + (it - markers.begin()));
  // Three UTF-8 bytes: 1110xxxx 10xxxxxx 10xxxxxx.
  std::string text;
  text += static_cast<char>(0xE0 | (code_point >> 12));
  text += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
  text += static_cast<char>(0x80 | (code_point & 0x3F));
  return text;
}

std::string new_tool_call_id(ToolFormat format, const std::function<uint32_t()>& random) {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const bool mistral = format == ToolFormat::kMistral;
  std::string id = mistral ? "" : "call_";
  for (int i = 0; i < (mistral ? 9 : 24); ++i) id += kAlphabet[random() % (sizeof kAlphabet - 1)];
  return id;
}

std::string harmony_call_prefix(const json& tools) {
  std::string prefix = "<|channel|>commentary to=functions.";
  if (tools.size() == 1) {
    prefix += tools[0]["function"]["name"].get<std::string>() + " <|constrain|>json<|message|>";
  }
  return prefix;
}

std::string tool_call_grammar(ToolFormat format, const json& tools, bool parallel) {
  grammar::GbnfBuilder b;
  using grammar::GbnfBuilder;
  std::string calls;
  for (const auto& tool : tools) {
    const std::string name = tool["function"]["name"].get<std::string>();
    const std::string args = b.add_schema(parameters_of(tool), name + "-arguments");
    const std::string quoted_name = json(name).dump();
    std::string call;
    switch (format) {
      case ToolFormat::kHermes:
        call =
            GbnfBuilder::literal("<tool_call>\n{\"name\": " + quoted_name + ", \"arguments\": ") +
            " " + args + " " + GbnfBuilder::literal("}\n</tool_call>");
        break;
      case ToolFormat::kLlama3:
        call = GbnfBuilder::literal("{\"name\": " + quoted_name + ", \"parameters\": ") + " " +
               args + " \"}\"";
        break;
      case ToolFormat::kHarmony:  // after harmony_call_prefix()
        call = tools.size() == 1
                   ? args
                   : GbnfBuilder::literal(
                         name + " " + tool_marker_grammar_text(format, "<|constrain|>") + "json" +
                         tool_marker_grammar_text(format, "<|message|>")) +
                         " " + args;
        break;
      case ToolFormat::kMistral:
        call = GbnfBuilder::literal("{\"name\": " + quoted_name + ", \"arguments\": ") + " " +
               args + " (" + GbnfBuilder::literal(", \"id\": \"") +
               " [a-zA-Z0-9]{9} \"\\\"\")? \"}\"";
        break;
    }
    calls += (calls.empty() ? "" : " | ") + b.add_rule(name + "-call", call);
  }
  const std::string one = b.add_rule("call", calls);
  std::string root;
  switch (format) {
    case ToolFormat::kHermes:
      root = parallel ? one + " (\"\\n\" " + one + ")*" : one;
      break;
    case ToolFormat::kLlama3:
    case ToolFormat::kHarmony:
      root = one;  // one call per turn: Llama 3's templates, and harmony's <|call|> ends the turn
      break;
    case ToolFormat::kMistral:
      root = GbnfBuilder::literal(std::string(kMistralMarker) + "[") + " " + one +
             (parallel ? " (\", \" " + one + ")*" : "") + " \"]\"";
      break;
  }
  b.add_rule("root", root);
  return b.text();
}

ToolCallParser::ToolCallParser(ToolFormat format, bool parallel,
                               std::function<std::string()> new_id)
    : format_(format), parallel_(parallel), new_id_(std::move(new_id)) {}

void ToolCallParser::add_call(Output& out, const json& call) {
  if (!parallel_ && n_calls_ > 0) return;
  const json& args = call.contains("arguments") ? call["arguments"] : call["parameters"];
  ToolCall tc;
  tc.name = call["name"].get<std::string>();
  tc.arguments = args.is_string() ? json::parse(args.get<std::string>()).dump() : args.dump();
  tc.id = call.contains("id") && call["id"].is_string() ? call["id"].get<std::string>() : new_id_();
  out.calls.push_back(std::move(tc));
  ++n_calls_;
}

namespace {

// A call object as the formats write it: a name and arguments (an object, or JSON text of one).
bool is_call(const json& v) {
  if (!v.is_object() || !v.contains("name") || !v["name"].is_string()) return false;
  const auto args = v.contains("arguments") ? v.find("arguments") : v.find("parameters");
  if (args == v.end()) return false;
  if (args->is_object()) return true;
  if (!args->is_string()) return false;
  const json parsed = json::parse(args->get<std::string>(), nullptr, false);
  return !parsed.is_discarded() && parsed.is_object();
}

}  // namespace

void ToolCallParser::take_hermes(Output& out, bool at_end) {
  while (true) {
    if (!in_call_) {
      const size_t open = buffer_.find(kHermesOpen);
      if (open != std::string::npos) {
        std::string before = buffer_.substr(0, open);
        if (n_calls_ == 0 || !trim(before).empty()) out.content += before;
        buffer_.erase(0, open + kHermesOpen.size());
        in_call_ = true;
        continue;
      }
      const size_t keep = at_end ? 0 : partial_marker(buffer_, kHermesOpen);
      std::string ready = buffer_.substr(0, buffer_.size() - keep);
      if (n_calls_ == 0 || !trim(ready).empty()) out.content += ready;
      buffer_.erase(0, buffer_.size() - keep);
      return;
    }
    const size_t close = buffer_.find(kHermesClose);
    if (close == std::string::npos && !at_end) return;
    const std::string inner = buffer_.substr(0, close);
    buffer_.erase(0, close == std::string::npos ? buffer_.size() : close + kHermesClose.size());
    in_call_ = false;
    const json call = json::parse(trim(inner), nullptr, false);
    if (!call.is_discarded() && is_call(call)) {
      add_call(out, call);
    } else {  // not a call after all: the text stays the answer's
      out.content += std::string(kHermesOpen) + inner +
                     (close == std::string::npos ? "" : std::string(kHermesClose));
    }
    if (close == std::string::npos) return;
  }
}

void ToolCallParser::take_marker_then_json(Output& out, bool at_end) {
  if (!in_call_) {
    if (format_ == ToolFormat::kMistral) {
      const size_t at = buffer_.find(kMistralMarker);
      if (at == std::string::npos) {
        const size_t keep = at_end ? 0 : partial_marker(buffer_, kMistralMarker);
        out.content += buffer_.substr(0, buffer_.size() - keep);
        buffer_.erase(0, buffer_.size() - keep);
        return;
      }
      out.content += buffer_.substr(0, at);
      buffer_.erase(0, at);
      in_call_ = true;
    } else if (!decided_) {
      // Llama 3: the answer is a call when it starts with an object (or the python tag).
      std::string_view start = buffer_;
      while (!start.empty() && is_space(start.front())) start.remove_prefix(1);
      const bool could_be_tag = start.size() < kPythonTag.size() && kPythonTag.starts_with(start);
      if (!at_end && (start.empty() || could_be_tag)) return;
      decided_ = true;
      in_call_ = start.starts_with(kPythonTag) || (!start.empty() && start.front() == '{');
    }
    if (!in_call_) {
      out.content += buffer_;
      buffer_.clear();
      return;
    }
  }
  if (!at_end) return;  // a call is read whole at the end of the answer
  std::string_view body = trim(buffer_);
  if (body.substr(0, kMistralMarker.size()) == kMistralMarker)
    body.remove_prefix(kMistralMarker.size());
  if (body.substr(0, kPythonTag.size()) == kPythonTag) body.remove_prefix(kPythonTag.size());
  const json parsed = json::parse(trim(body), nullptr, false);
  std::vector<json> calls;
  if (!parsed.is_discarded() && parsed.is_array()) {
    for (const auto& c : parsed) calls.push_back(c);
  } else if (!parsed.is_discarded()) {
    calls.push_back(parsed);
  }
  const bool all_calls = !calls.empty() && std::all_of(calls.begin(), calls.end(),
                                                       [](const json& c) { return is_call(c); });
  if (all_calls) {
    for (const auto& c : calls) add_call(out, c);
  } else {
    out.content += buffer_;
  }
  buffer_.clear();
}

ToolCall ToolCallParser::add_found(ToolCall call) {
  call.id = new_id_();
  ++n_calls_;
  return call;
}

ToolCallParser::Output ToolCallParser::push(std::string_view text) {
  Output out;
  if (format_ == ToolFormat::kHarmony) {  // calls come from the Relay; text is the answer
    out.content = text;
    return out;
  }
  buffer_ += text;
  if (format_ == ToolFormat::kHermes) {
    take_hermes(out, false);
  } else {
    take_marker_then_json(out, false);
  }
  return out;
}

ToolCallParser::Output ToolCallParser::finish() {
  Output out;
  if (format_ == ToolFormat::kHarmony) return out;
  if (format_ == ToolFormat::kHermes) {
    take_hermes(out, true);
  } else {
    take_marker_then_json(out, true);
  }
  return out;
}

}  // namespace bottega::server
