#include "store/ref.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace bottega::store {
namespace {

constexpr const char* kRefHelp =
    "use OWNER/REPO:QUANT (for example TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M) or "
    "hf://OWNER/REPO/FILE.gguf";

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

bool ends_with_gguf(const std::string& path) {
  return path.size() > 5 && lower(path.substr(path.size() - 5)) == ".gguf";
}

// Hub owner and repository names: letters, digits, '-', '_' and '.'.
bool is_repo_part(const std::string& part) {
  if (part.empty() || part == "." || part == "..") return false;
  return std::all_of(part.begin(), part.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// Names become file names and URL paths: nothing that could walk out of a directory.
void check_safe(const std::string& text) {
  if (text.find("..") != std::string::npos || text.find('\\') != std::string::npos ||
      text.find('\0') != std::string::npos || text.starts_with('/')) {
    throw Error(str("invalid model reference '", text.c_str(),
                    "': it must not contain '..', '\\', NUL or start with '/'"));
  }
}

std::string parse_repo(const std::string& repo, const std::string& text) {
  const auto slash = repo.find('/');
  if (slash == std::string::npos || !is_repo_part(repo.substr(0, slash)) ||
      !is_repo_part(repo.substr(slash + 1))) {
    throw Error(str("'", text, "' is not a model reference: ", kRefHelp));
  }
  return repo;
}

Ref parse_hf_url(const std::string& text, const std::string& rest) {
  const auto owner_end = rest.find('/');
  const auto repo_end = owner_end == std::string::npos ? owner_end : rest.find('/', owner_end + 1);
  if (repo_end == std::string::npos) throw Error(str("'", text, "' names no file: ", kRefHelp));
  Ref ref;
  ref.repo = parse_repo(rest.substr(0, repo_end), text);
  ref.file = rest.substr(repo_end + 1);
  if (!ends_with_gguf(ref.file) || ref.file.find("//") != std::string::npos) {
    throw Error(str("'", text, "' does not name a .gguf file: ", kRefHelp));
  }
  ref.name = "hf://" + ref.repo + "/" + ref.file;
  return ref;
}

bool is_quant_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

Ref parse_repo_quant(const std::string& text) {
  Ref ref;
  const auto colon = text.find(':');
  ref.repo = parse_repo(text.substr(0, colon), text);
  ref.name = ref.repo;
  if (colon != std::string::npos) {
    const std::string quant = text.substr(colon + 1);
    if (quant.empty() || !std::all_of(quant.begin(), quant.end(), is_quant_char)) {
      throw Error(str("'", text, "' has no valid quantization after ':': ", kRefHelp));
    }
    ref.quant = upper(quant);
    ref.name += ":" + ref.quant;
  }
  return ref;
}

// True when TAG occurs in PATH between separators: "-Q4_K_M.gguf", ".Q4_K_M-00001-of-", "/Q8_0/".
bool matches_at_boundary(const std::string& path, const std::string& tag) {
  const std::string haystack = lower(path), needle = lower(tag);
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1)) {
    const size_t end = pos + needle.size();
    const bool before =
        pos == 0 || std::string("-._/").find(haystack[pos - 1]) != std::string::npos;
    const bool after =
        end < haystack.size() && std::string("-./").find(haystack[end]) != std::string::npos;
    if (before && after) return true;
  }
  return false;
}

std::string join_paths(const std::vector<const RemoteFile*>& files) {
  std::string text;
  for (const RemoteFile* file : files) text += (text.empty() ? "" : ", ") + file->path;
  return text.empty() ? "(none)" : text;
}

// One entry per model: a plain .gguf file, or the first part of a split model.
std::vector<const RemoteFile*> gguf_models(const std::vector<RemoteFile>& tree) {
  std::vector<const RemoteFile*> models;
  for (const auto& file : tree) {
    if (!ends_with_gguf(file.path)) continue;
    const auto split = parse_split(file.path);
    if (!split || split->index == 1) models.push_back(&file);
  }
  return models;
}

std::vector<RemoteFile> with_split_parts(const RemoteFile& file,
                                         const std::vector<RemoteFile>& tree) {
  const auto split = parse_split(file.path);
  if (!split) return {file};
  std::map<int, RemoteFile> parts;
  for (const auto& other : tree) {
    const auto part = parse_split(other.path);
    if (part && part->prefix == split->prefix && part->count == split->count)
      parts[part->index] = other;
  }
  std::vector<RemoteFile> files;
  for (int index = 1; index <= split->count; ++index) {
    if (!parts.contains(index)) {
      throw Error(str("split model ", split->prefix, " is missing part ", index, " of ",
                      split->count, " in the repository"));
    }
    files.push_back(parts[index]);
  }
  return files;
}

const RemoteFile& choose_by_quant(const Ref& ref, const std::vector<const RemoteFile*>& models) {
  std::vector<const RemoteFile*> exact, loose;
  for (const RemoteFile* model : models) {
    if (matches_at_boundary(model->path, ref.quant)) exact.push_back(model);
    if (lower(model->path).find(lower(ref.quant)) != std::string::npos) loose.push_back(model);
  }
  const auto& chosen = exact.empty() ? loose : exact;
  if (chosen.size() == 1) return *chosen.front();
  if (chosen.empty()) {
    throw Error(str("no GGUF file in ", ref.repo, " matches quantization ", ref.quant,
                    "; its GGUF files: ", join_paths(models)));
  }
  throw Error(str("quantization ", ref.quant, " is ambiguous in ", ref.repo, ": ",
                  join_paths(chosen), "; pull one of them with hf://", ref.repo, "/FILE"));
}

}  // namespace

Ref parse_ref(const std::string& input) {
  const std::string text = trim(input);
  check_safe(text);
  if (lower(text.substr(0, 5)) == "hf://") return parse_hf_url(text, text.substr(5));
  return parse_repo_quant(text);
}

bool is_hub_ref(const std::string& text) {
  try {
    const Ref ref = parse_ref(text);
    return !ref.quant.empty() || !ref.file.empty();
  } catch (const Error&) {
    return false;
  }
}

std::string normalize_name(const std::string& text) {
  try {
    return parse_ref(text).name;
  } catch (const Error&) {
    return trim(text);
  }
}

std::vector<RemoteFile> parse_tree(const std::string& json_text) {
  const auto listing = nlohmann::json::parse(json_text, nullptr, false);
  if (!listing.is_array())
    throw Error("the Hub's file listing is not a JSON array; is HF_ENDPOINT right?");
  std::vector<RemoteFile> files;
  for (const auto& entry : listing) {
    if (!entry.is_object() || entry.value("type", "") != "file") continue;
    if (!entry.contains("path") || !entry["path"].is_string()) continue;
    RemoteFile file;
    file.path = entry["path"].get<std::string>();
    // Paths go into URLs: a listing must not point requests elsewhere on the host.
    if (file.path.find("..") != std::string::npos || file.path.starts_with('/')) continue;
    file.size = entry.value("size", uint64_t{0});
    if (entry.contains("lfs") && entry["lfs"].is_object()) {
      std::string oid = entry["lfs"].value("oid", "");
      if (oid.starts_with("sha256:")) oid = oid.substr(7);
      file.sha256 = lower(oid);
      file.size = entry["lfs"].value("size", file.size);
    }
    files.push_back(std::move(file));
  }
  return files;
}

std::vector<RemoteFile> select_files(const Ref& ref, const std::vector<RemoteFile>& tree) {
  const auto models = gguf_models(tree);
  if (!ref.file.empty()) {
    const auto it = std::find_if(tree.begin(), tree.end(),
                                 [&](const RemoteFile& f) { return f.path == ref.file; });
    if (it == tree.end()) {
      throw Error(str("not found: repo or file: ", ref.repo, " has no file ", ref.file,
                      "; its GGUF files: ", join_paths(models)));
    }
    return with_split_parts(*it, tree);
  }
  if (!ref.quant.empty()) return with_split_parts(choose_by_quant(ref, models), tree);
  if (models.size() != 1) {
    throw Error(str(ref.repo, " holds ", models.size(), " GGUF models; name one with ", ref.repo,
                    ":QUANT or hf://", ref.repo, "/FILE: ", join_paths(models)));
  }
  return with_split_parts(*models.front(), tree);
}

std::optional<SplitPart> parse_split(const std::string& path) {
  // NAME-00001-of-00003.gguf: the suffix "-NNNNN-of-NNNNN.gguf" is 20 characters.
  constexpr size_t kSuffix = 20;
  if (path.size() <= kSuffix || !ends_with_gguf(path)) return std::nullopt;
  const std::string suffix = lower(path.substr(path.size() - kSuffix, kSuffix - 5));
  const auto digits = [&](size_t from) {
    return std::all_of(suffix.begin() + static_cast<long>(from),
                       suffix.begin() + static_cast<long>(from + 5),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
  };
  if (suffix[0] != '-' || suffix.compare(6, 4, "-of-") != 0 || !digits(1) || !digits(10))
    return std::nullopt;
  SplitPart part{path.substr(0, path.size() - kSuffix), std::stoi(suffix.substr(1, 5)),
                 std::stoi(suffix.substr(10, 5))};
  if (part.index < 1 || part.count < 1 || part.index > part.count) return std::nullopt;
  return part;
}

std::string quant_from_path(const std::string& path) {
  std::string stem = path.substr(path.find_last_of('/') + 1);
  if (const auto split = parse_split(stem)) stem = split->prefix + ".gguf";
  if (ends_with_gguf(stem)) stem.resize(stem.size() - 5);
  const std::string tag = upper(stem.substr(stem.find_last_of("-.") + 1));
  // Q4_K_M, IQ2_XXS, TQ1_0, or a float type.
  const size_t q = tag.starts_with("IQ") || tag.starts_with("TQ") ? 1 : 0;
  const bool quantized =
      tag.size() > q + 1 && tag[q] == 'Q' && std::isdigit(static_cast<unsigned char>(tag[q + 1]));
  return quantized || tag == "F16" || tag == "F32" || tag == "BF16" ? tag : "";
}

}  // namespace bottega::store
