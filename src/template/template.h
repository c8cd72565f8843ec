// A parsed Jinja template and its renderer, configured as Hugging Face transformers configures
// jinja2 for chat templates (sandboxed, trim_blocks, lstrip_blocks, loop controls, tojson without
// ASCII escaping, raise_exception and strftime_now as globals).
#pragma once

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "template/value.h"

namespace bottega::jinja {

struct Program;

struct RenderOptions {
  std::optional<std::time_t> now;  // what strftime_now formats (UTC); unset: the current time
  uint64_t max_steps = 5'000'000;  // statements and loop iterations before the render gives up
};

class Template {
 public:
  // Parses; throws Error("template line N: ...") for a syntax error or an unknown tag.
  explicit Template(const std::string& source);

  // context: a JSON object of template variables. Throws Error("template line N: ...") when the
  // template raises, uses an unknown filter/test/method, or misuses an undefined value.
  std::string render(const nlohmann::json& context, const RenderOptions& options = {}) const;
  // The same with the key order of JSON objects kept, as Python dicts keep it (what tojson prints).
  std::string render(const nlohmann::ordered_json& context,
                     const RenderOptions& options = {}) const;
  std::string render(const Value& context, const RenderOptions& options = {}) const;

 private:
  std::shared_ptr<const Program> program_;
};

}  // namespace bottega::jinja
