#include "store/store.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"
#include "store/ref.h"

namespace bottega::store {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// File names stay well under the usual 255-byte limit once ".json" is added.
constexpr size_t kMaxEncodedName = 240;

bool is_plain_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("._-+=@,").find(c) != std::string_view::npos;
}

json to_json(const Manifest& manifest) {
  json files = json::array();
  for (const auto& file : manifest.files) {
    files.push_back({{"path", file.path},
                     {"size", file.size},
                     {"sha256", file.sha256},
                     {"blob", file.blob},
                     {"verified_by", file.verified_by}});
  }
  return {{"name", manifest.name},           {"ref", manifest.ref},
          {"source", manifest.source},       {"quant", manifest.quant},
          {"pulled_at", manifest.pulled_at}, {"files", files}};
}

Manifest from_json(const json& doc) {
  Manifest manifest;
  manifest.name = doc.at("name").get<std::string>();
  manifest.ref = doc.value("ref", manifest.name);
  manifest.source = doc.value("source", "");
  manifest.quant = doc.value("quant", "");
  manifest.pulled_at = doc.value("pulled_at", "");
  for (const auto& entry : doc.at("files")) {
    ManifestFile file;
    file.path = entry.at("path").get<std::string>();
    file.size = entry.at("size").get<uint64_t>();
    file.sha256 = entry.at("sha256").get<std::string>();
    file.blob = entry.at("blob").get<std::string>();
    file.verified_by = entry.value("verified_by", "sha256");
    // A blob name is joined to blobs/: it must stay a plain file name there.
    if (file.blob.find('/') != std::string::npos || file.blob.find("..") != std::string::npos) {
      throw Error(str("blob name '", file.blob, "' is not a plain file name"));
    }
    manifest.files.push_back(std::move(file));
  }
  if (manifest.files.empty()) throw Error("the manifest lists no files");
  return manifest;
}

Manifest read_manifest(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(str("cannot read manifest ", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return from_json(json::parse(text.str()));
  } catch (const json::exception& e) {
    throw Error(
        str("manifest ", path.string(), " is damaged (", e.what(), "); remove it with bottega rm"));
  }
}

void write_file_atomically(const fs::path& path, const std::string& content) {
  const fs::path temp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) throw Error(str("cannot write ", temp.string(), " (disk full or no permission?)"));
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    fs::remove(temp, ec);
    throw Error(str("cannot install ", path.string(), ": ", ec.message()));
  }
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

bool looks_like_path(const std::string& text) {
  return text.find('/') != std::string::npos ||
         (text.size() >= 5 && text.compare(text.size() - 5, 5, ".gguf") == 0);
}

}  // namespace

uint64_t Manifest::total_size() const {
  uint64_t total = 0;
  for (const auto& file : files) total += file.size;
  return total;
}

void validate_name(const std::string& name) {
  if (name.empty()) throw Error("the model name is empty");
  if (name.find("..") != std::string::npos || name.starts_with('/') ||
      name.find('\0') != std::string::npos || name.find('\\') != std::string::npos) {
    throw Error(str("invalid model name '", name.c_str(),
                    "': names must not contain '..', '\\', NUL or start with '/'"));
  }
}

std::string encode_name(const std::string& name) {
  validate_name(name);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : name) {
    if (is_plain_char(c)) {
      encoded += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      encoded += '%';
      encoded += kHex[byte >> 4];
      encoded += kHex[byte & 15];
    }
  }
  if (encoded.size() > kMaxEncodedName) throw Error(str("model name '", name, "' is too long"));
  return encoded;
}

std::string decode_name(const std::string& file_name) {
  std::string name;
  for (size_t i = 0; i < file_name.size(); ++i) {
    if (file_name[i] == '%' && i + 2 < file_name.size() &&
        std::isxdigit(static_cast<unsigned char>(file_name[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(file_name[i + 2]))) {
      name += static_cast<char>(std::stoi(file_name.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      name += file_name[i];
    }
  }
  return name;
}

Store::Store(fs::path home) : home_(std::move(home)) {}

Store Store::open_default() {
  if (const std::string home = env_or_empty("BOTTEGA_HOME"); !home.empty()) return Store(home);
  if (const std::string xdg = env_or_empty("XDG_DATA_HOME"); !xdg.empty())
    return Store(fs::path(xdg) / "bottega");
  if (const std::string home = env_or_empty("HOME"); !home.empty()) {
    return Store(fs::path(home) / ".local" / "share" / "bottega");
  }
  throw Error("cannot locate the model store: set BOTTEGA_HOME (or HOME)");
}

fs::path Store::blob_path(const std::string& sha256) const {
  return blobs_dir() / ("sha256-" + sha256);
}

fs::path Store::manifest_path(const std::string& name) const {
  return manifests_dir() / (encode_name(name) + ".json");
}

std::optional<Manifest> Store::find(const std::string& name) const {
  const fs::path path = manifest_path(name);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  return read_manifest(path);
}

std::vector<Manifest> Store::list() const {
  std::vector<Manifest> manifests;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(manifests_dir(), ec)) {
    if (entry.path().extension() != ".json") continue;
    try {
      manifests.push_back(read_manifest(entry.path()));
    } catch (const Error& e) {
      std::fprintf(stderr, "bottega: warning: %s\n", e.what());
    }
  }
  std::sort(manifests.begin(), manifests.end(),
            [](const Manifest& a, const Manifest& b) { return a.name < b.name; });
  return manifests;
}

void Store::save(const Manifest& manifest) const {
  fs::create_directories(manifests_dir());
  write_file_atomically(manifest_path(manifest.name), to_json(manifest).dump(2) + "\n");
}

uint64_t Store::remove(const std::string& name) const {
  const fs::path path = manifest_path(name);
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw Error(str("no model named '", name, "' in the store (see bottega list)"));
  std::vector<ManifestFile> files;
  try {
    files = read_manifest(path).files;
  } catch (const Error&) {
    // A damaged manifest is still removable; its blobs are left for a later cleanup.
  }
  if (!fs::remove(path, ec) || ec)
    throw Error(str("cannot remove ", path.string(), ": ", ec.message()));
  std::set<std::string> in_use;
  for (const auto& other : list()) {
    for (const auto& file : other.files) in_use.insert(file.blob);
  }
  uint64_t freed = 0;
  for (const auto& file : files) {
    if (in_use.contains(file.blob)) continue;
    if (fs::remove(blobs_dir() / file.blob, ec)) freed += file.size;
  }
  return freed;
}

std::string resolve_model(const std::string& name_or_path) {
  std::error_code ec;
  if (fs::exists(name_or_path, ec)) return name_or_path;
  const std::string name = normalize_name(name_or_path);
  bool valid_name = true;
  try {
    validate_name(name);
    encode_name(name);
  } catch (const Error&) {
    valid_name = false;
  }
  if (valid_name) {
    const Store store = Store::open_default();
    if (const auto manifest = store.find(name)) {
      const fs::path blob = store.blobs_dir() / manifest->files.front().blob;
      if (!fs::exists(blob, ec)) {
        throw Error(str("model '", name, "' is in the store but its file ", blob.string(),
                        " is missing; run: bottega pull ", manifest->ref));
      }
      return blob.string();
    }
  }
  if (looks_like_path(name_or_path) && !is_hub_ref(name_or_path)) {
    throw Error(str("model file '", name_or_path, "' does not exist"));
  }
  throw Error(str("no such file or model '", name_or_path, "' (pull it with: bottega pull ",
                  name_or_path, ")"));
}

std::string utc_now_iso() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace bottega::store
