// Template: parse once, render many times with fresh scopes.
#include "template/template.h"

#include "core/error.h"
#include "template/parser.h"
#include "template/renderer.h"

namespace bottega::jinja {

Template::Template(const std::string& source)
    : program_(std::make_shared<const Program>(parse(source))) {}

std::string Template::render(const nlohmann::json& context, const RenderOptions& options) const {
  return render(Value::from_json(context), options);
}

std::string Template::render(const nlohmann::ordered_json& context,
                             const RenderOptions& options) const {
  return render(Value::from_json(context), options);
}

std::string Template::render(const Value& context, const RenderOptions& options) const {
  if (!context.is_dict()) throw Error("template context must be a JSON object");
  auto globals = std::make_shared<Scope>();
  for (const auto& [key, value] : context.dict->items) globals->vars[key] = value;
  return render_program(*program_, globals, options);
}

}  // namespace bottega::jinja
