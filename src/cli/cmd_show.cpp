// bottega show: what a GGUF file holds, read from its header alone.
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"

namespace bottega::cli {
namespace {

using nlohmann::json;

// Arrays longer than this are shown by their first elements and their length.
constexpr size_t kArrayPreview = 8;

json scalar_to_json(const gguf::Value& value) {
  return std::visit(
      [](const auto& v) -> json {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, gguf::Array>) {
          return nullptr;
        } else if constexpr (std::is_same_v<V, uint8_t> || std::is_same_v<V, int8_t>) {
          return static_cast<int>(v);
        } else {
          return v;
        }
      },
      value.data);
}

json value_to_json(const gguf::Value& value, bool elide) {
  const gguf::Array* array = value.as_array();
  if (array == nullptr) return scalar_to_json(value);
  json items = json::array();
  const size_t shown =
      elide ? std::min(array->elements.size(), kArrayPreview) : array->elements.size();
  for (size_t i = 0; i < shown; ++i) items.push_back(value_to_json(array->elements[i], elide));
  if (shown == array->elements.size()) return items;
  return json{{"type", "array"},
              {"element_type", gguf::value_type_name(array->element_type)},
              {"length", array->elements.size()},
              {"first", items}};
}

std::string value_to_text(const gguf::Value& value) {
  const gguf::Array* array = value.as_array();
  if (array == nullptr) {
    if (const std::string* s = value.as_string())
      return json(*s).dump(-1, ' ', false, json::error_handler_t::replace);
    return scalar_to_json(value).dump();
  }
  std::string text = "[";
  const size_t shown = std::min(array->elements.size(), kArrayPreview);
  for (size_t i = 0; i < shown; ++i) text += (i ? ", " : "") + value_to_text(array->elements[i]);
  if (shown < array->elements.size())
    text += str(", ... (", array->elements.size(), " ", gguf::value_type_name(array->element_type),
                "s)");
  return text + "]";
}

struct Summary {
  std::string architecture;
  uint64_t n_params = 0;
  uint64_t tensor_bytes = 0;
  std::map<std::string, std::pair<int, uint64_t>> type_mix;  // type -> (tensors, bytes)
  std::optional<int64_t> context_length;
  std::string tokenizer_model;
  size_t vocab_size = 0;
};

Summary summarize(const gguf::File& file) {
  Summary s;
  s.architecture = file.get_string("general.architecture").value_or("(none)");
  for (const auto& tensor : file.tensors()) {
    s.n_params += static_cast<uint64_t>(tensor.n_elements());
    s.tensor_bytes += tensor.n_bytes;
    auto& [count, bytes] = s.type_mix[std::string(type_name(tensor.type))];
    ++count;
    bytes += tensor.n_bytes;
  }
  s.context_length = file.get_int(s.architecture + ".context_length");
  s.tokenizer_model = file.get_string("tokenizer.ggml.model").value_or("(none)");
  if (const gguf::Array* tokens = file.get_array("tokenizer.ggml.tokens"))
    s.vocab_size = tokens->elements.size();
  return s;
}

json to_json(const gguf::File& file, const Summary& s) {
  json out;
  out["file"] = file.name();
  out["gguf_version"] = file.version();
  out["file_bytes"] = file.file_size();
  out["architecture"] = s.architecture;
  out["parameters"] = s.n_params;
  out["tensor_bytes"] = s.tensor_bytes;
  out["context_length"] = s.context_length ? json(*s.context_length) : json(nullptr);
  out["tokenizer"] = {{"model", s.tokenizer_model}, {"vocab_size", s.vocab_size}};
  json mix = json::object();
  for (const auto& [type, entry] : s.type_mix)
    mix[type] = {{"tensors", entry.first}, {"bytes", entry.second}};
  out["type_mix"] = mix;
  json metadata = json::object();
  for (const auto& kv : file.metadata()) metadata[kv.key] = value_to_json(kv.value, true);
  out["metadata"] = metadata;
  json tensors = json::array();
  for (const auto& t : file.tensors()) {
    tensors.push_back({{"name", t.name},
                       {"type", type_name(t.type)},
                       {"shape", t.shape},
                       {"offset", t.offset},
                       {"bytes", t.n_bytes}});
  }
  out["tensors"] = tensors;
  return out;
}

void print_text(const gguf::File& file, const Summary& s) {
  std::printf("file:         %s (GGUF v%u, %s)\n", file.name().c_str(), file.version(),
              human_bytes(file.file_size()).c_str());
  std::printf("architecture: %s\n", s.architecture.c_str());
  std::printf("parameters:   %s (%llu)\n", human_count(s.n_params).c_str(),
              static_cast<unsigned long long>(s.n_params));
  std::printf("weights:      %s in %zu tensors\n", human_bytes(s.tensor_bytes).c_str(),
              file.tensors().size());
  std::printf("type mix:    ");
  for (const auto& [type, entry] : s.type_mix)
    std::printf(" %s x%d (%s)", type.c_str(), entry.first, human_bytes(entry.second).c_str());
  std::printf("\n");
  if (s.context_length)
    std::printf("context:      %lld tokens (trained)\n", static_cast<long long>(*s.context_length));
  std::printf("tokenizer:    %s, %zu tokens\n", s.tokenizer_model.c_str(), s.vocab_size);
  std::printf("\nmetadata (%zu keys):\n", file.metadata().size());
  for (const auto& kv : file.metadata()) {
    std::printf("  %-44s %-7s %s\n", kv.key.c_str(),
                std::string(gguf::value_type_name(kv.value.type())).c_str(),
                value_to_text(kv.value).c_str());
  }
  std::printf("\ntensors (%zu):\n", file.tensors().size());
  std::printf("  %-36s %-7s %-24s %12s\n", "name", "type", "shape", "bytes");
  for (const auto& t : file.tensors()) {
    std::string shape = "[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      shape += (i ? ", " : "") + std::to_string(t.shape[i]);
    shape += "]";
    std::printf("  %-36s %-7s %-24s %12llu\n", t.name.c_str(),
                std::string(type_name(t.type)).c_str(), shape.c_str(),
                static_cast<unsigned long long>(t.n_bytes));
  }
}

}  // namespace

Action add_show(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("show", "Describe a GGUF model: architecture, size, metadata, tensors");
  cmd->add_option("MODEL", *path, "GGUF file")->required();
  cmd->add_flag("--json", *as_json, "Machine-readable output");
  return [path, as_json] {
    const gguf::File file = open_gguf(*path);
    const Summary summary = summarize(file);
    if (*as_json) {
      std::printf(
          "%s\n",
          to_json(file, summary).dump(2, ' ', false, json::error_handler_t::replace).c_str());
    } else {
      print_text(file, summary);
    }
    return 0;
  };
}

}  // namespace bottega::cli
