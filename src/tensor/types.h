// Weight types: one table row per GGML tensor type.
//
// The numeric ids are GGUF's (ggml_type). Every type GGUF defines has a row so that the reader can
// validate sizes and `show` can name it; a row with quantize/dequantize functions is a type the
// engine computes with. Adding a weight type means adding its block struct (blocks.h), its
// reference functions (quant_ref.cpp) and one row in types.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bottega {

enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

// Converts n values (a multiple of block_size) between float and the type's encoding.
using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);

struct TypeTraits {
  TensorType type;
  std::string_view name;    // as GGUF tools print it: "Q4_K", "F16", ...
  int64_t block_size;       // values per block
  size_t block_bytes;       // bytes per block
  DequantizeFn dequantize;  // nullptr: the engine cannot compute with this type
  QuantizeFn quantize;      // nullptr: bottega cannot write this type
  // Largest |x - dequantize(quantize(x))| allowed for x uniform in [-1, 1], relative to the
  // block's max |x|; tests and the model-level error bounds use it. 0 for exact types.
  float round_trip_bound;
};

// nullptr when id is not a GGML type at all.
const TypeTraits* find_type(uint32_t id);
const TypeTraits& type_traits(TensorType type);
// Accepts GGUF names case-insensitively ("q4_0", "Q8_0", "bf16").
std::optional<TensorType> parse_type_name(std::string_view name);
inline std::string_view type_name(TensorType type) {
  return type_traits(type).name;
}
inline bool is_computable(TensorType type) {
  return type_traits(type).dequantize != nullptr;
}

// Bytes of a row of n values; n must be a multiple of the block size (checked).
size_t row_bytes(TensorType type, int64_t n);

}  // namespace bottega
