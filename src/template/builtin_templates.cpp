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

// gpt-oss's harmony format, as the official template (openai-gpt-oss-120b.jinja) renders chats:
// a system header the model was trained with (identity, knowledge cutoff, today's date, reasoning
// effort, the channels), the request's system text as developer instructions, the tools as a
// TypeScript namespace `functions` after them, earlier answers in the final channel, earlier calls
// as messages to functions.NAME in the commentary channel ending in <|call|>, tool results as
// messages from functions.NAME, and a turn opened for the assistant, which then writes
// <|channel|>analysis<|message|>...<|end|><|start|>assistant<|channel|>final<|message|>...<|return|>.
// reasoning_effort (low, medium, high) comes from the request's chat_template_kwargs.
constexpr const char* kHarmony = R"({%- macro schema_type(s) -%}
{%- if s.enum is defined -%}{%- for v in s.enum -%}{{ (' | ' if not loop.first else '') + (v | tojson) }}{%- endfor -%}
{%- elif s.type is not defined -%}any
{%- elif s.type == 'string' -%}string
{%- elif s.type == 'number' or s.type == 'integer' -%}number
{%- elif s.type == 'boolean' -%}boolean
{%- elif s.type == 'null' -%}null
{%- elif s.type == 'array' -%}{{ (schema_type(s['items']) if s['items'] is defined else 'any') + '[]' }}
{%- elif s.type == 'object' -%}object
{%- else -%}any
{%- endif -%}
{%- endmacro -%}
{%- macro render_tools(tools) -%}
{{- '# Tools\n\n## functions\n\nnamespace functions {\n\n' -}}
{%- for tool in tools -%}
{%- set f = tool.function if tool.function is defined else tool -%}
{%- if f.description is defined and f.description -%}{{ '// ' + f.description + '\n' }}{%- endif -%}
{%- if f.parameters is defined and f.parameters.properties is defined and f.parameters.properties -%}
{{- 'type ' + f.name + ' = (_: {\n' -}}
{%- for name, prop in f.parameters.properties.items() -%}
{%- if prop.description is defined and prop.description -%}{{ '// ' + prop.description + '\n' }}{%- endif -%}
{{- name + ('' if f.parameters.required is defined and name in f.parameters.required else '?') + ': ' + schema_type(prop) + ',' -}}
{%- if prop.default is defined -%}{{ ' // default: ' + (prop.default | tojson) }}{%- endif -%}
{{- '\n' -}}
{%- endfor -%}
{{- '}) => any;\n\n' -}}
{%- else -%}
{{- 'type ' + f.name + ' = () => any;\n\n' -}}
{%- endif -%}
{%- endfor -%}
{{- '} // namespace functions' -}}
{%- endmacro -%}
{%- set ns = namespace(instructions='', last_call='') -%}
{%- for message in messages if message.role in ['system', 'developer'] -%}
{%- set ns.instructions = ns.instructions + ('\n\n' if ns.instructions else '') + text(message.content) -%}
{%- endfor -%}
{{- '<|start|>system<|message|>' + (model_identity if model_identity is defined else 'You are ChatGPT, a large language model trained by OpenAI.') + '\nKnowledge cutoff: 2024-06\nCurrent date: ' + strftime_now('%Y-%m-%d') + '\n\n' -}}
{{- 'Reasoning: ' + (reasoning_effort if reasoning_effort is defined else 'medium') + '\n\n' -}}
{{- '# Valid channels: analysis, commentary, final. Channel must be included for every message.' -}}
{%- if tools -%}{{ "\nCalls to these tools must go to the commentary channel: 'functions'." }}{%- endif -%}
{{- '<|end|>' -}}
{%- if ns.instructions or tools -%}
{{- '<|start|>developer<|message|>' -}}
{%- if ns.instructions -%}{{ '# Instructions\n\n' + ns.instructions + '\n\n' }}{%- endif -%}
{%- if tools -%}{{ render_tools(tools) }}{%- endif -%}
{{- '<|end|>' -}}
{%- endif -%}
{%- for message in messages -%}
{%- if message.role == 'user' -%}
{{ '<|start|>user<|message|>' + text(message.content) + '<|end|>' }}
{%- elif message.role == 'assistant' and message.tool_calls is defined and message.tool_calls -%}
{%- if message.content is defined and message.content and text(message.content) -%}
{{ '<|start|>assistant<|channel|>analysis<|message|>' + text(message.content) + '<|end|>' }}
{%- endif -%}
{%- for call in message.tool_calls -%}
{%- set fn = call.function if call.function is defined else call -%}
{%- set ns.last_call = fn.name -%}
{{ '<|start|>assistant<|channel|>commentary to=functions.' + fn.name + ' <|constrain|>json<|message|>' + (fn.arguments if fn.arguments is string else (fn.arguments | tojson)) + '<|call|>' }}
{%- endfor -%}
{%- elif message.role == 'assistant' -%}
{{ '<|start|>assistant<|channel|>final<|message|>' + text(message.content) + '<|end|>' }}
{%- elif message.role == 'tool' -%}
{{ '<|start|>functions.' + (message.name if message.name is defined else (ns.last_call if ns.last_call else 'tool')) + ' to=assistant<|channel|>commentary<|message|>' + text(message.content) + '<|end|>' }}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|start|>assistant' }}{%- endif -%}
)";

const std::vector<std::pair<std::string, const char*>>& table() {
  static const std::vector<std::pair<std::string, const char*>> templates = {
      {"chatml", kChatml}, {"llama3", kLlama3}, {"llama2", kLlama2},   {"mistral", kMistral},
      {"gemma", kGemma},   {"phi3", kPhi3},     {"harmony", kHarmony},
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
