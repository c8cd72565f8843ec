// Model references and choosing files from a Hub repository.
//
//   hf://OWNER/REPO/PATH.gguf   one file (all parts when PATH is part of a split model)
//   OWNER/REPO:QUANT            the .gguf file whose name carries the quantization tag
//   OWNER/REPO                  the repository's only GGUF model
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bottega::store {

struct Ref {
  std::string repo;   // OWNER/REPO
  std::string file;   // path inside the repo (hf:// references), else empty
  std::string quant;  // upper-case tag (OWNER/REPO:QUANT references), else empty
  std::string name;   // the normalized reference: the name the model gets in the store
};

// Throws Error for text that is not a reference or that could escape the store (.., /, \, NUL).
Ref parse_ref(const std::string& text);

// Whether text is a reference that names a quantization or a file (OWNER/REPO:QUANT, hf://...),
// i.e. something `pull` can fetch rather than a local path.
bool is_hub_ref(const std::string& text);

// The store name for text given by a user: the normalized reference when it parses, else the text.
std::string normalize_name(const std::string& text);

// One file of the repository listing. sha256 is the LFS oid (empty for files not in LFS).
struct RemoteFile {
  std::string path;
  uint64_t size = 0;
  std::string sha256;
};

// Parses GET /api/models/{repo}/tree/main?recursive=true: files only, directories skipped.
std::vector<RemoteFile> parse_tree(const std::string& json_text);

// The files a reference stands for, split parts in order. Throws Error naming the candidates when
// the reference matches none or several models.
std::vector<RemoteFile> select_files(const Ref& ref, const std::vector<RemoteFile>& tree);

// NAME-00001-of-00003.gguf -> {NAME, 1, 3}.
struct SplitPart {
  std::string prefix;
  int index = 0;
  int count = 0;
};
std::optional<SplitPart> parse_split(const std::string& path);

// The quantization tag in a file name ("model.Q4_K_M.gguf" -> "Q4_K_M"), or empty.
std::string quant_from_path(const std::string& path);

}  // namespace bottega::store
