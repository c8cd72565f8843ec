// GGUF v3 writer: metadata and tensor infos are serialized into memory, tensor data is streamed
// from the callers' buffers, all into a temporary file that is renamed over the target at the end.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <system_error>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

namespace bottega::gguf {

namespace {

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

// Why a value cannot be written (arrays whose elements disagree with the declared element type,
// nesting deeper than the reader accepts), or nullopt when it can.
std::optional<std::string> check_value(const Value& value, int depth) {
  const Array* array = value.as_array();
  if (array == nullptr) return std::nullopt;
  if (depth + 1 > detail::kMaxArrayDepth) {
    return str("arrays nested deeper than ", detail::kMaxArrayDepth, " levels");
  }
  if (static_cast<uint32_t>(array->element_type) > detail::kMaxValueType) {
    return str("array has unknown element type ", static_cast<uint32_t>(array->element_type));
  }
  for (size_t i = 0; i < array->elements.size(); ++i) {
    const Value& element = array->elements[i];
    if (element.type() != array->element_type) {
      return str("array element ", i, " has type ", value_type_name(element.type()), ", expected ",
                 value_type_name(array->element_type));
    }
    if (auto problem = check_value(element, depth + 1)) return problem;
  }
  return std::nullopt;
}

std::string shape_text(std::span<const int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += str(i == 0 ? "" : ", ", shape[i]);
  return text + "]";
}

// Little-endian serialization into a growing byte buffer.
class Encoder {
 public:
  template <typename T>
  void put(T v) {
    append(&v, sizeof(v));
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    append(s.data(), s.size());
  }
  // The value's payload without its type id (arrays carry their element type and count).
  void put_payload(const Value& value) {
    std::visit([this](const auto& v) { put_alternative(v); }, value.data);
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  void append(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + n);
  }
  template <typename T>
  void put_alternative(const T& v) {
    put(v);
  }
  void put_alternative(bool v) { put<uint8_t>(v ? 1 : 0); }
  void put_alternative(const std::string& v) { put_string(v); }
  void put_alternative(const Array& v) {
    put(static_cast<uint32_t>(v.element_type));
    put<uint64_t>(v.elements.size());
    for (const Value& element : v.elements) put_payload(element);
  }

  std::vector<uint8_t> bytes_;
};

// A uniquely named file beside the target; removed unless commit() renamed it into place.
class TempFile {
 public:
  explicit TempFile(const std::filesystem::path& target) : target_(target) {
    std::random_device random;
    for (int attempt = 0; attempt < 100; ++attempt) {
      char suffix[32];
      std::snprintf(suffix, sizeof(suffix), ".tmp-%08x", static_cast<unsigned>(random()));
      path_ = target.string() + suffix;
      // O_EXCL makes the name ours alone; 0666 lets the umask decide the final permissions.
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) return;
      if (errno != EEXIST) fail("cannot create temporary file for");
    }
    fail("cannot find a free temporary name for");
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }

  void write(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      const ssize_t written = ::write(fd_, p, n);
      if (written < 0) {
        if (errno == EINTR) continue;
        fail("cannot write");
      }
      p += written;
      n -= static_cast<size_t>(written);
    }
  }

  void write_zeros(uint64_t n) {
    constexpr std::array<uint8_t, 4096> kZeros{};
    while (n > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, kZeros.size()));
      write(kZeros.data(), chunk);
      n -= chunk;
    }
  }

  // Flushes to disk so that a crash right after the rename cannot leave an empty target.
  void commit() {
    if (::fsync(fd_) != 0) fail("cannot flush");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("cannot close");
    if (std::rename(path_.c_str(), target_.c_str()) != 0) fail("cannot rename temporary file to");
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    const int error = errno;  // before anything below can overwrite it
    throw Error(str(what, " ", target_.string(), " (", path_, "): ", errno_text(error)));
  }

  std::filesystem::path target_;
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void Writer::set_alignment(uint64_t alignment) {
  if (!detail::is_power_of_two(alignment) || alignment > UINT32_MAX) {
    throw Error(str("gguf writer: alignment ", alignment,
                    " must be a power of two that fits general.alignment (u32)"));
  }
  alignment_ = alignment;
  // The key and the layout must agree, so the key is kept in step here and nowhere else. The
  // default is implied by its absence.
  const auto it = std::find_if(metadata_.begin(), metadata_.end(),
                               [](const KeyValue& kv) { return kv.key == detail::kAlignmentKey; });
  if (alignment == detail::kDefaultAlignment) {
    if (it != metadata_.end()) metadata_.erase(it);
  } else if (it != metadata_.end()) {
    it->value = Value::u32(static_cast<uint32_t>(alignment));
  } else {
    metadata_.push_back(
        {std::string(detail::kAlignmentKey), Value::u32(static_cast<uint32_t>(alignment))});
  }
}

void Writer::set(std::string key, Value value) {
  if (key == detail::kAlignmentKey) {
    const std::optional<int64_t> alignment = value.as_int();
    if (!alignment || *alignment <= 0) {
      throw Error(str("gguf writer: general.alignment must be a positive integer, got ",
                      value_type_name(value.type())));
    }
    set_alignment(static_cast<uint64_t>(*alignment));
    return;
  }
  if (auto problem = check_value(value, 0)) {
    throw Error(str("gguf writer: key '", key, "': ", *problem));
  }
  for (KeyValue& kv : metadata_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  metadata_.push_back({std::move(key), std::move(value)});
}

void Writer::copy_metadata(const File& from) {
  // Through set(), so that a copied general.alignment also sets the layout.
  for (const KeyValue& kv : from.metadata()) set(kv.key, kv.value);
}

void Writer::add_tensor(std::string name, TensorType type, std::vector<int64_t> shape,
                        std::vector<uint8_t> data) {
  add_tensor_view(std::move(name), type, std::move(shape), data);
  PendingTensor& pending = tensors_.back();
  pending.owned = std::move(data);
  pending.view = pending.owned;
}

void Writer::add_tensor_view(std::string name, TensorType type, std::vector<int64_t> shape,
                             std::span<const uint8_t> data) {
  const TypeTraits* traits = find_type(static_cast<uint32_t>(type));
  if (traits == nullptr) {
    throw Error(
        str("gguf writer: tensor '", name, "' has unknown type id ", static_cast<uint32_t>(type)));
  }
  for (const PendingTensor& t : tensors_) {
    if (t.info.name == name) throw Error(str("gguf writer: duplicate tensor name '", name, "'"));
  }
  PendingTensor pending;
  if (auto problem = detail::check_tensor_shape(*traits, shape, pending.info.n_bytes)) {
    throw Error(str("gguf writer: tensor '", name, "' ", *problem));
  }
  if (data.size() != pending.info.n_bytes) {
    throw Error(str("gguf writer: tensor '", name, "' has ", data.size(), " bytes of data but ",
                    traits->name, " ", shape_text(shape), " needs ", pending.info.n_bytes));
  }
  pending.info.name = std::move(name);
  pending.info.type = type;
  pending.info.shape = std::move(shape);
  pending.view = data;
  tensors_.push_back(std::move(pending));
}

void Writer::write(const std::filesystem::path& path) const {
  Encoder header;
  header.bytes().insert(header.bytes().end(), std::begin(detail::kMagic), std::end(detail::kMagic));
  header.put<uint32_t>(detail::kWriteVersion);
  header.put<uint64_t>(tensors_.size());
  header.put<uint64_t>(metadata_.size());
  for (const KeyValue& kv : metadata_) {
    header.put_string(kv.key);
    header.put(static_cast<uint32_t>(kv.value.type()));
    header.put_payload(kv.value);
  }
  // Offsets are relative to the data section; each tensor starts on an alignment boundary.
  std::vector<uint64_t> offsets;
  offsets.reserve(tensors_.size());
  uint64_t end = 0;
  for (const PendingTensor& t : tensors_) {
    offsets.push_back(*detail::align_up(end, alignment_));
    end = offsets.back() + t.info.n_bytes;
    header.put_string(t.info.name);
    header.put<uint32_t>(static_cast<uint32_t>(t.info.shape.size()));
    for (int64_t d : t.info.shape) header.put<uint64_t>(static_cast<uint64_t>(d));
    header.put(static_cast<uint32_t>(t.info.type));
    header.put<uint64_t>(offsets.back());
  }

  TempFile out(path);
  const std::vector<uint8_t>& bytes = header.bytes();
  out.write(bytes.data(), bytes.size());
  out.write_zeros(*detail::align_up(bytes.size(), alignment_) - bytes.size());
  uint64_t written = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    out.write_zeros(offsets[i] - written);
    out.write(tensors_[i].view.data(), tensors_[i].view.size());
    written = offsets[i] + tensors_[i].view.size();
  }
  // Pad the last tensor too, as ggml's writer does: the file size stays a multiple of the
  // alignment.
  out.write_zeros(*detail::align_up(written, alignment_) - written);
  out.commit();
}

}  // namespace bottega::gguf
