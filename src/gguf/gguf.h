// GGUF v2/v3: a reader over a read-only memory map and a writer.
//
// Layout (little-endian): magic "GGUF", u32 version, u64 tensor_count, u64 metadata_kv_count, the
// key/value pairs, the tensor infos, padding to general.alignment (default 32), then tensor data.
// Every size, count and offset read from the file is validated against the file's length before it
// is used, so a malformed file is rejected with a FormatError and never read out of bounds.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.h"
#include "tensor/types.h"

namespace bottega::gguf {

// A file that is not valid GGUF; the message names the file, the problem and, where it helps, the
// offset, key or tensor involved.
class FormatError : public Error {
 public:
  using Error::Error;
};

enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view value_type_name(ValueType type);  // "u32", "string", "array", ...

struct Value;

struct Array {
  ValueType element_type = ValueType::kUint8;
  std::vector<Value> elements;
};

struct Value {
  // Alternative index == ValueType, so data.index() is the GGUF type id.
  std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string,
               Array, uint64_t, int64_t, double>
      data;

  ValueType type() const { return static_cast<ValueType>(data.index()); }

  // Lenient accessors for readers of hyper-parameters: any integer type as int64 (nullopt when not
  // an integer or out of range), any number as double, the string or array when it is one.
  std::optional<int64_t> as_int() const;
  std::optional<double> as_float() const;
  std::optional<bool> as_bool() const;
  const std::string* as_string() const;
  const Array* as_array() const;

  static Value u32(uint32_t v) { return Value{v}; }
  static Value i32(int32_t v) { return Value{v}; }
  static Value u64(uint64_t v) { return Value{v}; }
  static Value f32(float v) { return Value{v}; }
  static Value boolean(bool v) { return Value{v}; }
  static Value string(std::string v) { return Value{std::move(v)}; }
  static Value strings(const std::vector<std::string>& v);
  static Value f32s(const std::vector<float>& v);
  static Value i32s(const std::vector<int32_t>& v);
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // GGML order: shape[0] is the contiguous dimension (a row)
  TensorType type = TensorType::F32;
  uint64_t offset = 0;   // from the start of the data section; a multiple of the alignment
  uint64_t n_bytes = 0;  // derived from type and shape

  int64_t n_elements() const;
};

class File {
 public:
  // Maps the file read-only. Throws Error when it cannot be opened and FormatError when it is not
  // valid GGUF.
  static File open(const std::filesystem::path& path);
  // Parses a buffer the caller keeps alive for the File's lifetime (fuzzing, tests). `name` is used
  // in error messages.
  static File parse(std::span<const uint8_t> bytes, std::string name = "<memory>");

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& name() const;  // the path, for messages
  uint32_t version() const;
  uint64_t alignment() const;
  uint64_t file_size() const;
  uint64_t data_offset() const;  // absolute offset of the data section

  const std::vector<KeyValue>& metadata() const;
  const Value* find(std::string_view key) const;
  // Typed look-ups: nullopt when the key is absent; FormatError naming the key when it is present
  // with an incompatible type.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  const Array* get_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const;
  const TensorInfo* find_tensor(std::string_view name) const;
  // The tensor's bytes inside the mapping; valid while this File lives.
  std::span<const uint8_t> tensor_data(const TensorInfo& info) const;
  // Tells the OS that these bytes of the mapping will not be read again (a loader kept a
  // converted copy), so the whole pages inside them leave resident memory. A no-op for parsed
  // buffers, whose memory belongs to the caller.
  void release(std::span<const uint8_t> bytes) const;

 private:
  struct Impl;
  explicit File(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Collects metadata and tensors, then writes a GGUF v3 file. write() goes to a temporary file in
// the same directory and renames it into place, so a failure never leaves a half-written output.
class Writer {
 public:
  void set_alignment(uint64_t alignment);  // a power of two; written as general.alignment if not 32
  // Adds or replaces a key; keys keep the order in which they were first set.
  void set(std::string key, Value value);
  // Copies metadata (all keys) from another file.
  void copy_metadata(const File& from);
  // data.size() must equal the size that type and shape imply (checked). The owned variant keeps
  // the bytes; the view variant requires them to outlive write().
  void add_tensor(std::string name, TensorType type, std::vector<int64_t> shape,
                  std::vector<uint8_t> data);
  void add_tensor_view(std::string name, TensorType type, std::vector<int64_t> shape,
                       std::span<const uint8_t> data);
  void write(const std::filesystem::path& path) const;

 private:
  struct PendingTensor {
    TensorInfo info;
    std::vector<uint8_t> owned;
    std::span<const uint8_t> view;
  };
  uint64_t alignment_ = 32;
  std::vector<KeyValue> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace bottega::gguf
