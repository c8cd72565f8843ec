// The table of architectures. Adding one means writing its file and adding a row here.
#include <array>
#include <string_view>

#include "core/error.h"
#include "model/llama.h"
#include "model/model.h"

namespace bottega {
namespace {

struct ArchitectureEntry {
  std::string_view name;  // general.architecture
  std::unique_ptr<Model> (*load)(gguf::File);
};

constexpr std::array kArchitectures = {
    ArchitectureEntry{"llama", load_llama},
};

}  // namespace

std::vector<std::string> supported_architectures() {
  std::vector<std::string> names;
  for (const auto& entry : kArchitectures) names.emplace_back(entry.name);
  return names;
}

std::unique_ptr<Model> load_model(gguf::File file) {
  const std::optional<std::string> arch = file.get_string("general.architecture");
  if (!arch) {
    throw Error(str(file.name(),
                    ": metadata key 'general.architecture' is missing; is this a model "
                    "file (not a vocabulary-only GGUF)?"));
  }
  for (const auto& entry : kArchitectures) {
    if (entry.name == *arch) return entry.load(std::move(file));
  }
  std::string supported;
  for (const auto& entry : kArchitectures)
    supported += (supported.empty() ? "" : ", ") + std::string(entry.name);
  throw Error(str(file.name(), ": architecture '", *arch,
                  "' is not supported (supported: ", supported, ")"));
}

}  // namespace bottega
