// Format constants and size arithmetic shared by the GGUF reader and writer (private to src/gguf).
//
// Both sides use the same limits so that whatever the writer accepts the reader accepts too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "gguf/gguf.h"
#include "tensor/types.h"

namespace bottega::gguf::detail {

inline constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr uint32_t kWriteVersion = 3;
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr std::string_view kAlignmentKey = "general.alignment";
// GGML tensors have at most four dimensions.
inline constexpr uint32_t kMaxDims = 4;
// Arrays of arrays are parsed recursively; the limit keeps a hostile file from exhausting the
// stack.
inline constexpr int kMaxArrayDepth = 8;
// The largest GGUF value type id (kFloat64).
inline constexpr uint32_t kMaxValueType = 12;

inline bool is_power_of_two(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

// Rounds `offset` up to a multiple of `alignment` (a power of two); nullopt on overflow.
inline std::optional<uint64_t> align_up(uint64_t offset, uint64_t alignment) {
  const uint64_t mask = alignment - 1;
  if (offset > UINT64_MAX - mask) return std::nullopt;
  return (offset + mask) & ~mask;
}

// Bytes one scalar of `type` occupies in the file; 0 for strings and arrays (variable size).
size_t scalar_size(ValueType type);
// The fewest bytes a value of `type` can occupy in the file: what a count must be checked against
// before anything is reserved for it.
size_t min_encoded_size(ValueType type);

// Why a tensor shape is not acceptable, or nullopt when it is; `n_bytes` receives the data size.
// Checks: at most kMaxDims dimensions, every dimension positive, no overflow of the element count
// or of the byte size, and shape[0] a multiple of the type's block size.
std::optional<std::string> check_tensor_shape(const TypeTraits& traits,
                                              std::span<const int64_t> shape, uint64_t& n_bytes);

}  // namespace bottega::gguf::detail
