// The prompt formats of common model families, written from their documented turn markers.
// Message content may be a string or a list of {"type": "text", "text": ...} parts.
#include "template/builtin_templates.h"

#include <utility>

namespace bottega {
namespace {

// Joins the text parts of an OpenAI-style content list; plain strings pass through.
constexpr const char* kContentMacro = R"({%- macro text(content) -%}
{%- if content is string -%}{{ content }}
{%- elif content is iterable -%}{%- for part in content if part.type == 'text' -%}{{ part.text }}{%- endfor -%}
{%- endif -%}
{%- endmacro -%}
)";

constexpr const char* kChatml = R"({%- for message in messages -%}
{{ '<|im_start|>' + message.role + '\n' + text(message.content) + '<|im_end|>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}
)";

constexpr const char* kLlama3 = R"({{- bos_token -}}
{%- for message in messages -%}
{{ '<|start_header_id|>' + message.role + '<|end_header_id|>\n\n' + text(message.content) | trim + '<|eot_id|>' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif -%}
)";

constexpr const char* kLlama2 = R"({%- set ns = namespace(system='') -%}
{%- if messages and messages[0].role == 'system' -%}
{%- set ns.system = '<<SYS>>\n' + text(messages[0].content) + '\n<</SYS>>\n\n' -%}
{%- set turns = messages[1:] -%}
{%- else -%}{%- set turns = messages -%}{%- endif -%}
{%- for message in turns -%}
{%- if message.role == 'user' -%}
{{ bos_token + '[INST] ' + (ns.system if loop.first else '') + text(message.content) | trim + ' [/INST]' }}
{%- elif message.role == 'assistant' -%}
{{ ' ' + text(message.content) | trim + ' ' + eos_token }}
{%- endif -%}
{%- endfor -%}
)";

constexpr const char* kMistral = R"({%- set ns = namespace(system='') -%}
{%- if messages and messages[0].role == 'system' -%}
{%- set ns.system = text(messages[0].content) + '\n\n' -%}
{%- set turns = messages[1:] -%}
{%- else -%}{%- set turns = messages -%}{%- endif -%}
{{- bos_token -}}
{%- for message in turns -%}
{%- if message.role == 'user' -%}
{{ '[INST] ' + (ns.system if loop.first else '') + text(message.content) + '[/INST]' }}
{%- elif message.role == 'assistant' -%}
{{ text(message.content) + eos_token }}
{%- endif -%}
{%- endfor -%}
)";

constexpr const char* kGemma = R"({{- bos_token -}}
{%- set ns = namespace(system='') -%}
{%- for message in messages -%}
{%- if message.role == 'system' -%}
{%- set ns.system = text(message.content) + '\n\n' -%}
{%- else -%}
{%- set role = 'model' if message.role == 'assistant' else message.role -%}
{{ '<start_of_turn>' + role + '\n' + ns.system + text(message.content) | trim + '<end_of_turn>\n' }}
{%- set ns.system = '' -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}
)";

constexpr const char* kPhi3 = R"({%- for message in messages -%}
{{ '<|' + message.role + '|>\n' + text(message.content) + '<|end|>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|assistant|>\n' }}{%- else -%}{{ eos_token }}{%- endif -%}
)";

const std::vector<std::pair<std::string, const char*>>& table() {
  static const std::vector<std::pair<std::string, const char*>> templates = {
      {"chatml", kChatml},   {"llama3", kLlama3}, {"llama2", kLlama2},
      {"mistral", kMistral}, {"gemma", kGemma},   {"phi3", kPhi3},
  };
  return templates;
}

}  // namespace

std::vector<std::string> builtin_template_names() {
  std::vector<std::string> names;
  for (const auto& [name, source] : table()) names.push_back(name);
  return names;
}

std::optional<std::string> builtin_template_source(const std::string& name) {
  for (const auto& [known, source] : table()) {
    if (known == name) return std::string(kContentMacro) + source;
  }
  return std::nullopt;
}

}  // namespace bottega
