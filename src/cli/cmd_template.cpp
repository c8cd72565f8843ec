// bottega template: render a chat template with a JSON object of variables, exactly as Hugging Face
// transformers would (no newline added), for checking a model's prompt format.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "template/chat_template.h"
#include "template/template.h"

namespace bottega::cli {
namespace {

struct TemplateOptions {
  std::string template_file;
  std::string model;
  std::string context_file;
};

std::string read_text(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(str("cannot read ", what, " '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string template_source(const TemplateOptions& options) {
  if (!options.template_file.empty()) return read_text(options.template_file, "template file");
  const gguf::File file = open_gguf(options.model);
  std::optional<std::string> source = model_chat_template(file);
  if (!source) {
    throw Error(str("model '", options.model,
                    "' has no chat template (tokenizer.chat_template); pass one with -t FILE"));
  }
  return *source;
}

int render_template(const TemplateOptions& options) {
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  if (!options.context_file.empty()) {
    try {
      context = nlohmann::ordered_json::parse(read_text(options.context_file, "context file"));
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(str("context file '", options.context_file, "' is not valid JSON: ", e.what()));
    }
    if (!context.is_object()) {
      throw Error(str("context file '", options.context_file,
                      "' must hold a JSON object of template variables"));
    }
  }
  const jinja::Template compiled(template_source(options));
  const std::string text = compiled.render(context);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

Action add_template(CLI::App& app) {
  auto options = std::make_shared<TemplateOptions>();
  CLI::App* cmd = app.add_subcommand("template", "Render a chat template with JSON variables");
  auto* file = cmd->add_option("-t,--template", options->template_file, "Jinja template file");
  cmd->add_option("-m,--model", options->model,
                  "GGUF model (file or pulled name) whose tokenizer.chat_template to render")
      ->excludes(file);
  cmd->add_option("--context", options->context_file,
                  "JSON object of template variables (messages, tools, add_generation_prompt, "
                  "bos_token, eos_token, ...)");
  return [options] {
    if (options->template_file.empty() && options->model.empty()) {
      throw Error("bottega template needs a template: -t FILE.jinja or -m MODEL");
    }
    return render_template(*options);
  };
}

}  // namespace bottega::cli
