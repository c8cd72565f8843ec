// bottega pull / list / rm: the local model store (src/store/).
#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "store/pull.h"
#include "store/ref.h"
#include "store/store.h"

namespace bottega::cli {
namespace {

using nlohmann::json;

json manifest_json(const store::Manifest& manifest) {
  json files = json::array();
  for (const auto& file : manifest.files) {
    files.push_back({{"path", file.path},
                     {"size", file.size},
                     {"sha256", file.sha256},
                     {"blob", file.blob},
                     {"verified_by", file.verified_by}});
  }
  return {
      {"name", manifest.name},   {"ref", manifest.ref},           {"source", manifest.source},
      {"quant", manifest.quant}, {"size", manifest.total_size()}, {"pulled_at", manifest.pulled_at},
      {"files", files}};
}

void print_table(const std::vector<store::Manifest>& manifests) {
  std::vector<std::array<std::string, 4>> rows{{"NAME", "QUANT", "SIZE", "PULLED"}};
  for (const auto& m : manifests) {
    rows.push_back(
        {m.name, m.quant.empty() ? "-" : m.quant, human_bytes(m.total_size()), m.pulled_at});
  }
  std::array<size_t, 4> width{};
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::printf("%-*s  %-*s  %*s  %s\n", static_cast<int>(width[0]), row[0].c_str(),
                static_cast<int>(width[1]), row[1].c_str(), static_cast<int>(width[2]),
                row[2].c_str(), row[3].c_str());
  }
}

}  // namespace

Action add_pull(CLI::App& app) {
  auto ref = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("pull", "Download a model from the Hugging Face Hub into the local store");
  cmd->add_option("REF", *ref, "OWNER/REPO:QUANT or hf://OWNER/REPO/FILE.gguf")->required();
  return [ref] {
    const auto store = store::Store::open_default();
    const auto manifest =
        store::pull(store, *ref, store::hub_endpoint_from_env(), store::http_config_from_env());
    std::printf("pulled %s (%zu file%s, %s)\n", manifest.name.c_str(), manifest.files.size(),
                manifest.files.size() == 1 ? "" : "s", human_bytes(manifest.total_size()).c_str());
    return 0;
  };
}

Action add_list(CLI::App& app) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("list", "List the models in the local store");
  cmd->add_flag("--json", *as_json, "Machine-readable output");
  return [as_json] {
    const auto manifests = store::Store::open_default().list();
    if (*as_json) {
      json items = json::array();
      for (const auto& m : manifests) items.push_back(manifest_json(m));
      std::printf("%s\n", items.dump(2).c_str());
    } else {
      print_table(manifests);
    }
    return 0;
  };
}

Action add_rm(CLI::App& app) {
  auto name = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "rm", "Remove a model from the local store (and blobs no other model uses)");
  cmd->add_option("NAME", *name, "Model name as shown by bottega list")->required();
  return [name] {
    const std::string normalized = store::normalize_name(*name);
    store::validate_name(normalized);
    const uint64_t freed = store::Store::open_default().remove(normalized);
    std::printf("removed %s (freed %s)\n", normalized.c_str(), human_bytes(freed).c_str());
    return 0;
  };
}

}  // namespace bottega::cli
