// Chat turns to prompt text: the model's own Jinja chat template, or a named built-in one.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace bottega {

namespace jinja {
class Template;
}

class ChatTemplate {
 public:
  // The model's own template (GGUF key tokenizer.chat_template), else the built-in named by
  // `fallback` (e.g. "chatml"). bos/eos token texts come from the vocabulary.
  static ChatTemplate from_source(std::string source, std::string name, std::string bos_token,
                                  std::string eos_token);
  static ChatTemplate builtin(const std::string& name, std::string bos_token,
                              std::string eos_token);  // throws Error listing the names
  static std::vector<std::string> builtin_names();
  // messages: JSON array of {role, content, ...}; tools: JSON array or null. Throws Error with the
  // template's message when the template raises.
  std::string apply(const nlohmann::json& messages, const nlohmann::json& tools,
                    bool add_generation_prompt,
                    const nlohmann::json& extra_context = nlohmann::json::object()) const;
  // The same with JSON objects in their original key order (parse requests as ordered_json to
  // get tool schemas printed exactly as the client sent them, as transformers does).
  std::string apply(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                    bool add_generation_prompt, const nlohmann::ordered_json& extra_context) const;
  const std::string& name() const;
  // The Jinja text (what tool-call formats are recognised by).
  const std::string& source() const { return source_; }

 private:
  ChatTemplate(std::shared_ptr<const jinja::Template> compiled, std::string source,
               std::string name, std::string bos_token, std::string eos_token);

  std::shared_ptr<const jinja::Template> template_;
  std::string source_;
  std::string name_;
  std::string bos_token_;
  std::string eos_token_;
};

std::optional<std::string> model_chat_template(const gguf::File& file);  // tokenizer.chat_template

}  // namespace bottega
