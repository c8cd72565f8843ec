// Value accessors and the size arithmetic the reader and writer share.
#include <array>
#include <limits>
#include <type_traits>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

namespace bottega::gguf {

std::string_view value_type_name(ValueType type) {
  // Indexed by the GGUF type id.
  constexpr std::array<std::string_view, 13> kNames = {"u8",  "i8",  "u16",  "i16",    "u32",
                                                       "i32", "f32", "bool", "string", "array",
                                                       "u64", "i64", "f64"};
  const auto id = static_cast<uint32_t>(type);
  return id < kNames.size() ? kNames[id] : "unknown";
}

std::optional<int64_t> Value::as_int() const {
  return std::visit(
      [](const auto& v) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, uint64_t>) {
          if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
          return static_cast<int64_t>(v);
        } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          return static_cast<int64_t>(v);
        } else {
          return std::nullopt;
        }
      },
      data);
}

std::optional<double> Value::as_float() const {
  return std::visit(
      [](const auto& v) -> std::optional<double> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
          return static_cast<double>(v);
        } else {
          return std::nullopt;
        }
      },
      data);
}

std::optional<bool> Value::as_bool() const {
  if (const bool* v = std::get_if<bool>(&data)) return *v;
  return std::nullopt;
}

const std::string* Value::as_string() const {
  return std::get_if<std::string>(&data);
}

const Array* Value::as_array() const {
  return std::get_if<Array>(&data);
}

namespace {

template <typename T>
Value array_of(ValueType element_type, const std::vector<T>& values) {
  Array array;
  array.element_type = element_type;
  array.elements.reserve(values.size());
  for (const T& v : values) array.elements.push_back(Value{v});
  return Value{std::move(array)};
}

}  // namespace

Value Value::strings(const std::vector<std::string>& v) {
  return array_of(ValueType::kString, v);
}
Value Value::f32s(const std::vector<float>& v) {
  return array_of(ValueType::kFloat32, v);
}
Value Value::i32s(const std::vector<int32_t>& v) {
  return array_of(ValueType::kInt32, v);
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated against overflow when the shape was accepted
  return n;
}

namespace detail {

size_t scalar_size(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
      return 8;
    case ValueType::kString:
    case ValueType::kArray:
      return 0;
  }
  return 0;
}

size_t min_encoded_size(ValueType type) {
  switch (type) {
    case ValueType::kString:
      return 8;  // u64 length, no bytes
    case ValueType::kArray:
      return 4 + 8;  // u32 element type, u64 count, no elements
    default:
      return scalar_size(type);
  }
}

std::optional<std::string> check_tensor_shape(const TypeTraits& traits,
                                              std::span<const int64_t> shape, uint64_t& n_bytes) {
  if (shape.size() > kMaxDims) {
    return str("has ", shape.size(), " dimensions (at most ", kMaxDims, " are allowed)");
  }
  int64_t n_elements = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] <= 0) return str("has dimension ", i, " of ", shape[i], " (must be positive)");
    if (__builtin_mul_overflow(n_elements, shape[i], &n_elements)) {
      return std::string("has an element count that overflows 64 bits");
    }
  }
  // A scalar (no dimensions) is one row of one value.
  const int64_t row = shape.empty() ? 1 : shape[0];
  if (row % traits.block_size != 0) {
    return str("has a row of ", row, " values, not a multiple of the block size ",
               traits.block_size, " of type ", traits.name);
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(row / traits.block_size),
                             static_cast<uint64_t>(traits.block_bytes), &bytes)) {
    return std::string("has a byte size that overflows 64 bits");
  }
  for (size_t i = 1; i < shape.size(); ++i) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(shape[i]), &bytes)) {
      return std::string("has a byte size that overflows 64 bits");
    }
  }
  n_bytes = bytes;
  return std::nullopt;
}

}  // namespace detail

}  // namespace bottega::gguf
