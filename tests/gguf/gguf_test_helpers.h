// Helpers for the GGUF tests: a byte builder for hand-assembled (often malformed) files and a deep
// comparison of metadata values.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"

namespace bottega::gguf::testing {

// Appends little-endian fields the way GGUF lays them out.
class Bytes {
 public:
  Bytes& u8(uint8_t v) { return raw(&v, 1); }
  Bytes& u32(uint32_t v) { return raw(&v, sizeof(v)); }
  Bytes& u64(uint64_t v) { return raw(&v, sizeof(v)); }
  Bytes& f32(float v) { return raw(&v, sizeof(v)); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  Bytes& raw(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + n);
    return *this;
  }
  Bytes& zeros(size_t n) {
    bytes_.resize(bytes_.size() + n, 0);
    return *this;
  }
  // Zero padding up to the next multiple of `alignment`.
  Bytes& pad_to(size_t alignment) {
    return zeros((alignment - bytes_.size() % alignment) % alignment);
  }

  // "GGUF", version, tensor count, key/value count.
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    raw("GGUF", 4);
    u32(version);
    u64(n_tensors);
    return u64(n_kv);
  }
  // A u32-valued key.
  Bytes& kv_u32(std::string_view key, uint32_t v) {
    str(key);
    u32(static_cast<uint32_t>(ValueType::kUint32));
    return u32(v);
  }
  Bytes& kv_string(std::string_view key, std::string_view v) {
    str(key);
    u32(static_cast<uint32_t>(ValueType::kString));
    return str(v);
  }
  // A tensor info: name, dims, type id, offset.
  Bytes& tensor(std::string_view name, const std::vector<uint64_t>& dims, uint32_t type,
                uint64_t offset) {
    str(name);
    u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    u32(type);
    return u64(offset);
  }

  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

inline bool same_value(const Value& a, const Value& b);

inline bool same_array(const Array& a, const Array& b) {
  if (a.element_type != b.element_type || a.elements.size() != b.elements.size()) return false;
  for (size_t i = 0; i < a.elements.size(); ++i) {
    if (!same_value(a.elements[i], b.elements[i])) return false;
  }
  return true;
}

// Same type and same contents; floats compare bit for bit so that NaN round trips count.
inline bool same_value(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  return std::visit(
      [&b](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b.data);
        if constexpr (std::is_same_v<T, Array>) {
          return same_array(x, y);
        } else if constexpr (std::is_floating_point_v<T>) {
          return std::memcmp(&x, &y, sizeof(T)) == 0;
        } else {
          return x == y;
        }
      },
      a.data);
}

// Expects `f` to throw FormatError whose message contains every one of `words`.
template <typename F>
void expect_format_error(F&& f, const std::vector<std::string>& words) {
  try {
    f();
    ADD_FAILURE() << "no FormatError thrown; expected one mentioning '" << words.front() << "'";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    for (const std::string& word : words) {
      EXPECT_NE(message.find(word), std::string::npos)
          << "message lacks '" << word << "': " << message;
    }
  }
}

}  // namespace bottega::gguf::testing
