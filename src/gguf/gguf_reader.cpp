// GGUF reader: parses a byte buffer (a read-only mapping or a caller's buffer) into metadata and
// tensor infos.
//
// The buffer is untrusted. Every read goes through Parser::need(), which compares against the bytes
// left, and every count is checked against the bytes left times the smallest possible element
// before anything is reserved, so a hostile header cannot make us allocate or read out of bounds.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <system_error>
#include <unordered_map>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

namespace bottega::gguf {

// GGUF is little-endian and values are copied out of the file as they are.
static_assert(std::endian::native == std::endian::little, "bottega assumes a little-endian host");

namespace {

using detail::kMaxArrayDepth;

// Everything parsed from a file. Names in the indexes view the file's bytes, which outlive them.
struct Contents {
  std::string name;
  std::span<const uint8_t> bytes;
  uint32_t version = 0;
  uint64_t alignment = detail::kDefaultAlignment;
  uint64_t data_offset = 0;
  std::vector<KeyValue> metadata;
  std::unordered_map<std::string_view, size_t> key_index;
  std::vector<TensorInfo> tensors;
  std::unordered_map<std::string_view, size_t> tensor_index;
};

// The smallest possible encodings, for bounding counts: a KV is an empty key, a type and a one-byte
// value; a tensor info is an empty name, n_dims 0, a type and an offset.
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;

class Parser {
 public:
  explicit Parser(Contents& out) : out_(out) {}

  void parse() {
    read_header();
    read_metadata();
    read_alignment();
    read_tensor_infos();
    place_data_section();
  }

 private:
  [[noreturn]] void fail(const std::string& problem, uint64_t offset) const {
    throw FormatError(str(out_.name, ": ", problem, " (", context_, ", at offset ", offset, ")"));
  }

  uint64_t remaining() const { return out_.bytes.size() - pos_; }

  void need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      fail(str("truncated file: unexpected end of file reading ", what, " (", n, " bytes needed, ",
               remaining(), " left)"),
           pos_);
    }
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, out_.bytes.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  // The string's bytes inside the buffer; nothing is copied.
  std::string_view read_string(const char* what) {
    const uint64_t at = pos_;
    const uint64_t length = read<uint64_t>(what);
    if (length > remaining()) {
      fail(str("truncated file: ", what, " of ", length, " bytes runs past the end of file (",
               remaining(), " bytes left)"),
           at);
    }
    const std::string_view s(reinterpret_cast<const char*>(out_.bytes.data() + pos_), length);
    pos_ += length;
    return s;
  }

  ValueType read_value_type(const char* what) {
    const uint64_t at = pos_;
    const uint32_t id = read<uint32_t>(what);
    if (id > detail::kMaxValueType) fail(str("unknown value type ", id, " in ", what), at);
    return static_cast<ValueType>(id);
  }

  // Rejects a count whose smallest encoding would not fit in what is left, before reserving for it.
  void check_count(uint64_t count, uint64_t min_bytes, const char* what, uint64_t at) const {
    if (count > remaining() / min_bytes) {
      fail(str(what, " ", count, " needs at least ", min_bytes, " bytes each, but only ",
               remaining(),
               " bytes are left before the end of file (absurd count or truncated file)"),
           at);
    }
  }

  void read_header() {
    context_ = "header";
    need(sizeof(detail::kMagic), "magic");
    if (std::memcmp(out_.bytes.data(), detail::kMagic, sizeof(detail::kMagic)) != 0) {
      fail("bad magic: the file does not start with \"GGUF\" (not a GGUF file)", 0);
    }
    pos_ = sizeof(detail::kMagic);
    out_.version = read<uint32_t>("version");
    if (out_.version != 2 && out_.version != 3) {
      // Byte-swapped small numbers are what a big-endian GGUF looks like.
      const char* hint = out_.version > 0xffff ? " (a big-endian file? only little-endian is read)"
                                               : " (only versions 2 and 3 are supported)";
      fail(str("unsupported GGUF version ", out_.version, hint), 4);
    }
    tensor_count_ = read<uint64_t>("tensor count");
    kv_count_ = read<uint64_t>("metadata key/value count");
    // Each on its own first (so the product below cannot overflow), then both together.
    check_count(tensor_count_, kMinTensorInfoBytes, "tensor count", 8);
    check_count(kv_count_, kMinKeyValueBytes, "metadata key/value count", 16);
    if (tensor_count_ * kMinTensorInfoBytes + kv_count_ * kMinKeyValueBytes > remaining()) {
      fail(str(tensor_count_, " tensors and ", kv_count_, " keys need more than the ", remaining(),
               " bytes left before the end of file (absurd counts or truncated file)"),
           8);
    }
  }

  void read_metadata() {
    out_.metadata.reserve(kv_count_);
    out_.key_index.reserve(kv_count_);
    for (uint64_t i = 0; i < kv_count_; ++i) {
      context_ = str("metadata key #", i);
      const uint64_t at = pos_;
      const std::string_view key = read_string("key");
      context_ = str("key '", key, "'");
      if (!out_.key_index.emplace(key, out_.metadata.size()).second) {
        fail(str("duplicate key '", key, "'"), at);
      }
      const ValueType type = read_value_type("value type");
      out_.metadata.push_back(KeyValue{std::string(key), read_value(type, 0)});
    }
  }

  Value read_value(ValueType type, int depth) {
    using V = decltype(Value::data);
    switch (type) {
      case ValueType::kUint8:
        return Value{V(std::in_place_index<0>, read<uint8_t>("u8"))};
      case ValueType::kInt8:
        return Value{V(std::in_place_index<1>, read<int8_t>("i8"))};
      case ValueType::kUint16:
        return Value{V(std::in_place_index<2>, read<uint16_t>("u16"))};
      case ValueType::kInt16:
        return Value{V(std::in_place_index<3>, read<int16_t>("i16"))};
      case ValueType::kUint32:
        return Value{V(std::in_place_index<4>, read<uint32_t>("u32"))};
      case ValueType::kInt32:
        return Value{V(std::in_place_index<5>, read<int32_t>("i32"))};
      case ValueType::kFloat32:
        return Value{V(std::in_place_index<6>, read<float>("f32"))};
      // Any non-zero byte is true; copying the byte into a bool directly would be undefined.
      case ValueType::kBool:
        return Value{V(std::in_place_index<7>, read<uint8_t>("bool") != 0)};
      case ValueType::kString:
        return Value{V(std::in_place_index<8>, std::string(read_string("string")))};
      case ValueType::kArray:
        return Value{V(std::in_place_index<9>, read_array(depth + 1))};
      case ValueType::kUint64:
        return Value{V(std::in_place_index<10>, read<uint64_t>("u64"))};
      case ValueType::kInt64:
        return Value{V(std::in_place_index<11>, read<int64_t>("i64"))};
      case ValueType::kFloat64:
        return Value{V(std::in_place_index<12>, read<double>("f64"))};
    }
    fail("unknown value type", pos_);  // read_value_type() let only known types through
  }

  Array read_array(int depth) {
    const uint64_t at = pos_;
    if (depth > kMaxArrayDepth) {
      fail(str("arrays nested deeper than ", kMaxArrayDepth, " levels (nesting depth limit)"), at);
    }
    Array array;
    array.element_type = read_value_type("array element type");
    const uint64_t count = read<uint64_t>("array length");
    check_count(count, detail::min_encoded_size(array.element_type), "array length", at);
    array.elements.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      array.elements.push_back(read_value(array.element_type, depth));
    }
    return array;
  }

  void read_alignment() {
    context_ = str("key '", detail::kAlignmentKey, "'");
    const auto it = out_.key_index.find(detail::kAlignmentKey);
    if (it == out_.key_index.end()) return;
    const Value& value = out_.metadata[it->second].value;
    const uint32_t* alignment = std::get_if<uint32_t>(&value.data);
    if (alignment == nullptr) {
      fail(str("bad alignment: general.alignment has type ", value_type_name(value.type()),
               ", expected u32"),
           pos_);
    }
    if (!detail::is_power_of_two(*alignment)) {
      fail(str("bad alignment ", *alignment, ": general.alignment must be a non-zero power of two"),
           pos_);
    }
    out_.alignment = *alignment;
  }

  void read_tensor_infos() {
    check_count(tensor_count_, kMinTensorInfoBytes, "tensor count", pos_);
    out_.tensors.reserve(tensor_count_);
    out_.tensor_index.reserve(tensor_count_);
    for (uint64_t i = 0; i < tensor_count_; ++i) read_tensor_info(i);
  }

  void read_tensor_info(uint64_t index) {
    context_ = str("tensor #", index);
    const uint64_t at = pos_;
    const std::string_view name = read_string("tensor name");
    context_ = str("tensor '", name, "'");
    if (!out_.tensor_index.emplace(name, out_.tensors.size()).second) {
      fail(str("duplicate tensor name '", name, "'"), at);
    }
    TensorInfo info;
    info.name = std::string(name);
    const uint64_t dims_at = pos_;
    const uint32_t n_dims = read<uint32_t>("n_dims");
    if (n_dims > detail::kMaxDims) {
      fail(str("tensor has ", n_dims, " dimensions (n_dims at most ", detail::kMaxDims, ")"),
           dims_at);
    }
    for (uint32_t d = 0; d < n_dims; ++d) {
      // Dimensions of 2^63 and above read as negative and are rejected with the other bad ones.
      info.shape.push_back(static_cast<int64_t>(read<uint64_t>("dimension")));
    }
    const uint64_t type_at = pos_;
    const uint32_t type_id = read<uint32_t>("tensor type");
    const TypeTraits* traits = find_type(type_id);
    if (traits == nullptr) fail(str("unknown tensor type id ", type_id), type_at);
    info.type = traits->type;
    const uint64_t offset_at = pos_;
    info.offset = read<uint64_t>("tensor data offset");
    if (auto problem = detail::check_tensor_shape(*traits, info.shape, info.n_bytes)) {
      fail(str("tensor ", *problem), dims_at);
    }
    if (info.offset % out_.alignment != 0) {
      fail(str("misaligned tensor data offset ", info.offset, " (not a multiple of the alignment ",
               out_.alignment, ")"),
           offset_at);
    }
    out_.tensors.push_back(std::move(info));
  }

  // The data section starts at the first aligned offset after the tensor infos. A file without
  // tensors may end before that point (vocabulary-only files often do), which is fine.
  void place_data_section() {
    context_ = "data section";
    // pos_ is at most the file size and the alignment at most 2^31, so this cannot overflow.
    out_.data_offset = *detail::align_up(pos_, out_.alignment);
    const uint64_t size = out_.bytes.size();
    for (const TensorInfo& info : out_.tensors) {
      const bool fits = out_.data_offset <= size && info.offset <= size - out_.data_offset &&
                        info.n_bytes <= size - out_.data_offset - info.offset;
      if (!fits) {
        context_ = str("tensor '", info.name, "'");
        fail(str("tensor data out of range: ", info.n_bytes, " bytes at data offset ", info.offset,
                 " run past the end of file (data section starts at ", out_.data_offset,
                 ", file size ", size, ")"),
             out_.data_offset + info.offset);
      }
    }
  }

  Contents& out_;
  uint64_t pos_ = 0;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  // What is being read, for messages: "header", "key 'general.name'", "tensor 'output.weight'".
  std::string context_;
};

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

}  // namespace

struct File::Impl : Contents {
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (mapping != nullptr) munmap(mapping, mapping_size);
  }

  void* mapping = nullptr;
  size_t mapping_size = 0;
};

File::File(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->name = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(str("cannot open ", impl->name, ": ", errno_text(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    throw Error(str("cannot stat ", impl->name, ": ", errno_text(error)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(str("cannot read ", impl->name, ": not a regular file"));
  }
  // mmap rejects a zero length; an empty file is simply parsed (and rejected) as an empty buffer.
  if (st.st_size > 0) {
    impl->mapping_size = static_cast<size_t>(st.st_size);
    void* mapping = mmap(nullptr, impl->mapping_size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int error = errno;
    ::close(fd);
    if (mapping == MAP_FAILED) throw Error(str("cannot map ", impl->name, ": ", errno_text(error)));
    impl->mapping = mapping;
    impl->bytes = {static_cast<const uint8_t*>(mapping), impl->mapping_size};
  } else {
    ::close(fd);
  }
  Parser(*impl).parse();
  return File(std::move(impl));
}

File File::parse(std::span<const uint8_t> bytes, std::string name) {
  auto impl = std::make_unique<Impl>();
  impl->name = std::move(name);
  impl->bytes = bytes;
  Parser(*impl).parse();
  return File(std::move(impl));
}

const std::string& File::name() const {
  return impl_->name;
}
uint32_t File::version() const {
  return impl_->version;
}
uint64_t File::alignment() const {
  return impl_->alignment;
}
uint64_t File::file_size() const {
  return impl_->bytes.size();
}
uint64_t File::data_offset() const {
  return impl_->data_offset;
}
const std::vector<KeyValue>& File::metadata() const {
  return impl_->metadata;
}
const std::vector<TensorInfo>& File::tensors() const {
  return impl_->tensors;
}

const Value* File::find(std::string_view key) const {
  const auto it = impl_->key_index.find(key);
  return it == impl_->key_index.end() ? nullptr : &impl_->metadata[it->second].value;
}

namespace {

[[noreturn]] void wrong_type(const std::string& file, std::string_view key, const Value& value,
                             std::string_view expected) {
  throw FormatError(str(file, ": key '", key, "' has type ", value_type_name(value.type()),
                        ", expected ", expected));
}

}  // namespace

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (auto v = value->as_int()) return v;
  if (const uint64_t* big = std::get_if<uint64_t>(&value->data)) {
    throw FormatError(str(name(), ": key '", key, "' has type u64 with value ", *big,
                          ", out of range for the expected i64"));
  }
  wrong_type(name(), key, *value, "an integer");
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (auto v = value->as_float()) return v;
  wrong_type(name(), key, *value, "a number");
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (auto v = value->as_bool()) return v;
  wrong_type(name(), key, *value, "bool");
}

std::optional<std::string> File::get_string(std::string_view key) const {
  const Value* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (const std::string* v = value->as_string()) return *v;
  wrong_type(name(), key, *value, "string");
}

const Array* File::get_array(std::string_view key) const {
  const Value* value = find(key);
  if (value == nullptr) return nullptr;
  if (const Array* v = value->as_array()) return v;
  wrong_type(name(), key, *value, "array");
}

const TensorInfo* File::find_tensor(std::string_view tensor_name) const {
  const auto it = impl_->tensor_index.find(tensor_name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

std::span<const uint8_t> File::tensor_data(const TensorInfo& info) const {
  // The parser checked every tensor of this file; a TensorInfo from elsewhere is a caller's bug.
  const uint64_t size = impl_->bytes.size();
  const uint64_t start = impl_->data_offset + info.offset;
  BOTTEGA_CHECK(impl_->data_offset <= size && info.offset <= size - impl_->data_offset &&
                    info.n_bytes <= size - start,
                "tensor ", info.name, " lies outside ", impl_->name);
  return impl_->bytes.subspan(start, info.n_bytes);
}

void File::release(std::span<const uint8_t> bytes) const {
  if (impl_->mapping == nullptr || bytes.empty()) return;
  const auto base = reinterpret_cast<uintptr_t>(impl_->mapping);
  const auto begin = reinterpret_cast<uintptr_t>(bytes.data());
  BOTTEGA_CHECK(begin >= base && begin - base + bytes.size() <= impl_->mapping_size,
                "released bytes lie outside ", impl_->name);
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  // Only pages wholly inside the range: neighbours may still be in use.
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + bytes.size()) / page * page;
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace bottega::gguf
