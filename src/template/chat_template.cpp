// ChatTemplate: builds the variables Hugging Face passes to a chat template and renders it.
#include "template/chat_template.h"

#include "core/error.h"
#include "template/builtin_templates.h"
#include "template/template.h"

namespace bottega {

ChatTemplate::ChatTemplate(std::shared_ptr<const jinja::Template> compiled, std::string source,
                           std::string name, std::string bos_token, std::string eos_token)
    : template_(std::move(compiled)),
      source_(std::move(source)),
      name_(std::move(name)),
      bos_token_(std::move(bos_token)),
      eos_token_(std::move(eos_token)) {}

ChatTemplate ChatTemplate::from_source(std::string source, std::string name, std::string bos_token,
                                       std::string eos_token) {
  try {
    auto compiled = std::make_shared<const jinja::Template>(source);
    return ChatTemplate(std::move(compiled), std::move(source), std::move(name),
                        std::move(bos_token), std::move(eos_token));
  } catch (const Error& e) {
    throw Error(str("chat template '", name, "': ", e.what()));
  }
}

ChatTemplate ChatTemplate::builtin(const std::string& name, std::string bos_token,
                                   std::string eos_token) {
  const std::optional<std::string> source = builtin_template_source(name);
  if (!source) {
    std::string names;
    for (const auto& known : builtin_names()) names += (names.empty() ? "" : ", ") + known;
    throw Error(str("unknown chat template '", name, "'; the built-in ones are: ", names));
  }
  return from_source(*source, name, std::move(bos_token), std::move(eos_token));
}

std::vector<std::string> ChatTemplate::builtin_names() {
  return builtin_template_names();
}

std::string ChatTemplate::apply(const nlohmann::json& messages, const nlohmann::json& tools,
                                bool add_generation_prompt,
                                const nlohmann::json& extra_context) const {
  return apply(nlohmann::ordered_json(messages), nlohmann::ordered_json(tools),
               add_generation_prompt, nlohmann::ordered_json(extra_context));
}

std::string ChatTemplate::apply(const nlohmann::ordered_json& messages,
                                const nlohmann::ordered_json& tools, bool add_generation_prompt,
                                const nlohmann::ordered_json& extra_context) const {
  if (!messages.is_array()) throw Error("chat messages must be a JSON array");
  if (!tools.is_null() && !tools.is_array()) throw Error("chat tools must be a JSON array or null");
  nlohmann::ordered_json context =
      extra_context.is_object() ? extra_context : nlohmann::ordered_json::object();
  context["messages"] = messages;
  context["tools"] = tools;  // transformers passes tools=None when there are none
  context["add_generation_prompt"] = add_generation_prompt;
  if (!context.contains("bos_token")) context["bos_token"] = bos_token_;
  if (!context.contains("eos_token")) context["eos_token"] = eos_token_;
  try {
    return template_->render(context);
  } catch (const Error& e) {
    throw Error(str("chat template '", name_, "': ", e.what()));
  }
}

const std::string& ChatTemplate::name() const {
  return name_;
}

std::optional<std::string> model_chat_template(const gguf::File& file) {
  return file.get_string("tokenizer.chat_template");
}

}  // namespace bottega
