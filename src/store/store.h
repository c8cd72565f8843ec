// The local model store: content-addressed blobs and one manifest per pulled model.
//
//   $BOTTEGA_HOME (default $XDG_DATA_HOME/bottega, else ~/.local/share/bottega)
//     blobs/sha256-<hex>            a verified file, named by its SHA-256
//     blobs/sha256-<hex>.partial    a download in progress (resumable)
//     blobs/sha256-<hex>.lock       flock'd by whoever downloads or verifies that blob
//     blobs/download-XXXXXX.partial a file not in Git LFS being downloaded (its SHA-256 is unknown)
//     manifests/<encoded name>.json what a name stands for (see Manifest)
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bottega::store {

struct ManifestFile {
  std::string path;    // path inside the source repository
  uint64_t size = 0;   // bytes
  std::string sha256;  // lowercase hex
  std::string blob;    // file name under blobs/
  // "sha256": the download matched the SHA-256 the Hub lists for it (its LFS object id).
  // "size": a file kept in git, not LFS, for which the Hub lists no SHA-256; only its size was
  // checked, and sha256 is the digest of the bytes received.
  std::string verified_by = "sha256";
};

struct Manifest {
  std::string name;                 // the normalized reference, e.g. "owner/repo:Q4_K_M"
  std::string ref;                  // the reference as the user typed it
  std::string source;               // repository URL
  std::string quant;                // e.g. "Q4_K_M", or empty when the file name has no tag
  std::string pulled_at;            // ISO 8601 UTC
  std::vector<ManifestFile> files;  // split parts in order; the first is the one to open

  uint64_t total_size() const;
};

// Throws Error for names that could escape manifests/ (.., absolute, NUL, backslash) or are empty.
void validate_name(const std::string& name);
// Reversible mapping of a name to a file name: '%', '/', ':' and other unsafe bytes become %XX.
std::string encode_name(const std::string& name);
std::string decode_name(const std::string& file_name);

class Store {
 public:
  explicit Store(std::filesystem::path home);
  // $BOTTEGA_HOME, else $XDG_DATA_HOME/bottega, else $HOME/.local/share/bottega.
  static Store open_default();

  const std::filesystem::path& home() const { return home_; }
  std::filesystem::path blobs_dir() const { return home_ / "blobs"; }
  std::filesystem::path manifests_dir() const { return home_ / "manifests"; }
  std::filesystem::path blob_path(const std::string& sha256) const;
  std::filesystem::path manifest_path(const std::string& name) const;

  std::optional<Manifest> find(const std::string& name) const;
  std::vector<Manifest> list() const;         // sorted by name; unreadable manifests are skipped
  void save(const Manifest& manifest) const;  // temporary file + rename
  // Removes the manifest and every blob no other manifest references; returns the bytes freed.
  // Throws Error for an unknown name.
  uint64_t remove(const std::string& name) const;

 private:
  std::filesystem::path home_;
};

// A path to an existing file wins; otherwise a store name gives the blob of its first file.
std::string resolve_model(const std::string& name_or_path);

// Current time as 2024-05-01T12:34:56Z.
std::string utc_now_iso();

}  // namespace bottega::store
