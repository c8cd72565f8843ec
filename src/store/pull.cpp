#include "store/pull.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "store/listing.h"
#include "store/progress.h"
#include "store/ref.h"
#include "store/sha256.h"

namespace bottega::store {
namespace {

namespace fs = std::filesystem;

constexpr size_t kHashChunk = 1u << 20;

// An exclusive flock held for the object's lifetime: two pulls of one blob take turns, and the
// second finds the blob installed instead of writing the same partial file.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw Error(str("cannot create lock file ", path.string(), ": ", std::strerror(errno)));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd_);
        throw Error(str("cannot lock ", path.string(), ": ", std::strerror(errno)));
      }
    }
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// Appends the body to the partial file and hashes it; a 200 answer to a Range request means the
// server sends the whole file, so the partial file and the hash start over.
class BlobWriter : public BodySink {
 public:
  BlobWriter(const fs::path& partial, uint64_t offset, uint64_t expected, Sha256& hash,
             Progress& progress)
      : path_(partial), written_(offset), expected_(expected), hash_(hash), progress_(progress) {
    fd_ = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(str("cannot write ", partial.string(), ": ", std::strerror(errno)));
  }
  ~BlobWriter() override { ::close(fd_); }
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  void start(long status) override {
    if (status != 200 || written_ == 0) return;
    if (::ftruncate(fd_, 0) != 0)
      throw Error(str("cannot truncate ", path_.string(), ": ", std::strerror(errno)));
    hash_.reset();
    written_ = 0;
  }

  void write(const char* data, size_t size) override {
    if (written_ + size > expected_) {
      throw Error(str("the server sent more than the ", expected_,
                      " bytes the listing announced for ", path_.filename().string(),
                      "; run pull again"));
    }
    for (size_t done = 0; done < size;) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error(str("cannot write ", path_.string(), ": ", std::strerror(errno)));
      done += static_cast<size_t>(n);
    }
    hash_.update(data, size);
    written_ += size;
    progress_.update(written_);
  }

  void sync() {
    if (::fsync(fd_) != 0)
      throw Error(str("cannot flush ", path_.string(), ": ", std::strerror(errno)));
  }
  uint64_t written() const { return written_; }

 private:
  fs::path path_;
  int fd_ = -1;
  uint64_t written_;
  uint64_t expected_;
  Sha256& hash_;
  Progress& progress_;
};

bool is_sha256_hex(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

// Percent-encodes a repository path for a URL, keeping '/' between segments.
std::string url_path(const std::string& path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : path) {
    if (std::isalnum(static_cast<unsigned char>(c)) ||
        std::string_view("-._~/").find(c) != std::string_view::npos) {
      encoded += c;
    } else {
      encoded += '%';
      encoded += kHex[static_cast<unsigned char>(c) >> 4];
      encoded += kHex[static_cast<unsigned char>(c) & 15];
    }
  }
  return encoded;
}

// Hashes what an earlier, interrupted pull left, so the final digest covers the whole file.
// Returns the bytes hashed; an unreadable partial file is discarded (0).
uint64_t hash_existing(const fs::path& partial, Sha256& hash) {
  std::FILE* file = std::fopen(partial.c_str(), "rb");
  if (file == nullptr) return 0;
  std::vector<char> buffer(kHashChunk);
  uint64_t total = 0;
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) {
    hash.update(buffer.data(), n);
    total += n;
  }
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (!failed) return total;
  hash.reset();
  std::error_code ec;
  fs::remove(partial, ec);
  return 0;
}

// Downloads url into blobs/sha256-HEX unless it is there already; verifies size and SHA-256.
void fetch_blob(const Store& store, const std::string& url, const RemoteFile& file,
                const HttpConfig& config, const std::string& label) {
  const fs::path blob = store.blob_path(file.sha256);
  const fs::path partial = blob.string() + ".partial";
  const FileLock lock(blob.string() + ".lock");
  std::error_code ec;
  if (fs::exists(blob, ec)) {
    std::fprintf(stderr, "%s: already in the store\n", label.c_str());
    return;
  }
  Sha256 hash;
  uint64_t offset = fs::exists(partial, ec) ? hash_existing(partial, hash) : 0;
  if (offset > file.size) {  // not a prefix of this file: start over
    fs::remove(partial, ec);
    hash.reset();
    offset = 0;
  }
  Progress progress(label, file.size, offset);
  BlobWriter writer(partial, offset, file.size, hash, progress);
  try {
    if (offset < file.size) http_get(url, config, offset, writer);
  } catch (const Error&) {
    if (writer.written() == 0) fs::remove(partial, ec);  // keep only partials worth resuming
    throw;
  }
  writer.sync();
  progress.finish(writer.written());
  if (writer.written() != file.size) {
    throw Error(str("the download of ", file.path, " ended at ", writer.written(), " of ",
                    file.size, " bytes; run pull again to resume"));
  }
  const std::string actual = hash.finish_hex();
  if (actual != file.sha256) {
    fs::remove(partial, ec);
    throw Error(str("checksum mismatch for ", file.path, ": expected sha256 ", file.sha256,
                    ", got ", actual, "; the download was corrupted; run pull again"));
  }
  fs::rename(partial, blob, ec);  // same directory: atomic, so a blob is always complete
  if (ec) throw Error(str("cannot install ", blob.string(), ": ", ec.message()));
}

// A file kept in git rather than LFS (small files): the Hub lists no SHA-256 for it, so only its
// size can be checked. It is fetched whole (no resume) into a private temporary file, so that
// concurrent pulls cannot mix their bytes, then installed under the SHA-256 of the bytes received.
// Returns that digest.
std::string fetch_unhashed_blob(const Store& store, const std::string& url, const RemoteFile& file,
                                const HttpConfig& config, const std::string& label) {
  std::string name = (store.blobs_dir() / "download-XXXXXX.partial").string();
  const int fd = ::mkstemps(name.data(), static_cast<int>(std::strlen(".partial")));
  if (fd < 0)
    throw Error(
        str("cannot create a file in ", store.blobs_dir().string(), ": ", std::strerror(errno)));
  ::close(fd);
  const fs::path temporary = name;
  std::error_code ec;
  try {
    Sha256 hash;
    Progress progress(label, file.size, 0);
    BlobWriter writer(temporary, 0, file.size, hash, progress);
    http_get(url, config, 0, writer);
    writer.sync();
    progress.finish(writer.written());
    if (writer.written() != file.size) {
      throw Error(str("the download of ", file.path, " ended at ", writer.written(), " of ",
                      file.size, " bytes; run pull again"));
    }
    const std::string digest = hash.finish_hex();
    const fs::path blob = store.blob_path(digest);
    if (fs::exists(blob, ec)) {
      fs::remove(temporary, ec);  // the same bytes are installed already
    } else {
      fs::rename(temporary, blob, ec);
      if (ec) throw Error(str("cannot install ", blob.string(), ": ", ec.message()));
    }
    return digest;
  } catch (...) {
    fs::remove(temporary, ec);
    throw;
  }
}

std::string part_label(const RemoteFile& file, size_t index, size_t count) {
  std::string label = file.path.substr(file.path.find_last_of('/') + 1);
  if (count > 1) label += str(" (part ", index + 1, "/", count, ")");
  return label;
}

}  // namespace

std::string hub_endpoint_from_env() {
  std::string endpoint = "https://huggingface.co";
  if (const char* env = std::getenv("HF_ENDPOINT"); env != nullptr && *env != '\0') endpoint = env;
  while (endpoint.ends_with('/')) endpoint.pop_back();
  return endpoint;
}

Manifest pull(const Store& store, const std::string& ref_text, const std::string& endpoint,
              const HttpConfig& config) {
  const Ref ref = parse_ref(ref_text);
  encode_name(ref.name);  // a name too long for a file fails before any download
  const auto files = select_files(ref, list_repository(endpoint, ref.repo, config));
  fs::create_directories(store.blobs_dir());

  Manifest manifest;
  manifest.name = ref.name;
  manifest.ref = ref_text;
  manifest.source = endpoint + "/" + ref.repo;
  manifest.quant = quant_from_path(files.front().path);
  if (manifest.quant.empty()) manifest.quant = ref.quant;
  for (size_t i = 0; i < files.size(); ++i) {
    const RemoteFile& file = files[i];
    const std::string url = endpoint + "/" + ref.repo + "/resolve/main/" + url_path(file.path);
    const std::string label = part_label(file, i, files.size());
    ManifestFile entry{file.path, file.size, file.sha256, "", "sha256"};
    if (file.sha256.empty()) {
      entry.sha256 = fetch_unhashed_blob(store, url, file, config, label);
      entry.verified_by = "size";
      std::fprintf(stderr,
                   "%s: not stored with Git LFS, so the Hub lists no SHA-256 for it; checked by "
                   "size only\n",
                   label.c_str());
    } else {
      if (!is_sha256_hex(file.sha256)) {
        throw Error(str(file.path, " in ", ref.repo, ": the Hub lists '", file.sha256,
                        "' as its LFS object id, which is not a SHA-256"));
      }
      fetch_blob(store, url, file, config, label);
    }
    entry.blob = "sha256-" + entry.sha256;
    manifest.files.push_back(std::move(entry));
  }
  manifest.pulled_at = utc_now_iso();
  store.save(manifest);
  return manifest;
}

std::string resolve_or_pull(const std::string& name_or_path) {
  try {
    return resolve_model(name_or_path);
  } catch (const Error&) {
    if (!is_hub_ref(name_or_path)) throw;
  }
  const Store store = Store::open_default();
  const std::string endpoint = hub_endpoint_from_env();
  std::fprintf(stderr, "bottega: '%s' is not in the store yet; pulling it from %s\n",
               name_or_path.c_str(), endpoint.c_str());
  const Manifest manifest = pull(store, name_or_path, endpoint, http_config_from_env());
  return (store.blobs_dir() / manifest.files.front().blob).string();
}

}  // namespace bottega::store
