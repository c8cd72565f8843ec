// Chat templates bottega ships for models whose files carry none, as Jinja sources.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bottega {

std::vector<std::string> builtin_template_names();
std::optional<std::string> builtin_template_source(const std::string& name);

}  // namespace bottega
