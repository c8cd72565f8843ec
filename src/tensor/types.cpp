#include "tensor/types.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/error.h"
#include "tensor/quant_ref.h"

namespace bottega {
namespace {

using T = TensorType;
namespace q = quant_ref;

// Block sizes and bytes per block as GGML defines them. Rows without functions are types bottega
// can read and describe but not compute with yet.
constexpr std::array kTypes = {
    TypeTraits{T::F32, "F32", 1, 4, q::dequantize_f32, q::quantize_f32, 0.0f},
    TypeTraits{T::F16, "F16", 1, 2, q::dequantize_f16, q::quantize_f16, 1.0f / 2048},
    TypeTraits{T::Q4_0, "Q4_0", 32, 18, q::dequantize_q4_0, q::quantize_q4_0, 1.0f},
    TypeTraits{T::Q4_1, "Q4_1", 32, 20, q::dequantize_q4_1, q::quantize_q4_1, 1.0f},
    TypeTraits{T::Q5_0, "Q5_0", 32, 22, q::dequantize_q5_0, q::quantize_q5_0, 1.0f},
    TypeTraits{T::Q5_1, "Q5_1", 32, 24, q::dequantize_q5_1, q::quantize_q5_1, 1.0f},
    TypeTraits{T::Q8_0, "Q8_0", 32, 34, q::dequantize_q8_0, q::quantize_q8_0, 1.0f / 254 + 1.0f / 2048},
    TypeTraits{T::Q8_1, "Q8_1", 32, 36, q::dequantize_q8_1, q::quantize_q8_1, 1.0f},
    TypeTraits{T::Q2_K, "Q2_K", 256, 84, q::dequantize_q2_k, nullptr, 0.0f},
    TypeTraits{T::Q3_K, "Q3_K", 256, 110, q::dequantize_q3_k, nullptr, 0.0f},
    TypeTraits{T::Q4_K, "Q4_K", 256, 144, q::dequantize_q4_k, q::quantize_q4_k, 1.0f},
    TypeTraits{T::Q5_K, "Q5_K", 256, 176, q::dequantize_q5_k, q::quantize_q5_k, 1.0f},
    TypeTraits{T::Q6_K, "Q6_K", 256, 210, q::dequantize_q6_k, q::quantize_q6_k, 1.0f},
    TypeTraits{T::Q8_K, "Q8_K", 256, 292, q::dequantize_q8_k, q::quantize_q8_k, 1.0f},
    TypeTraits{T::IQ2_XXS, "IQ2_XXS", 256, 66, nullptr, nullptr, 0.0f},
    TypeTraits{T::IQ2_XS, "IQ2_XS", 256, 74, nullptr, nullptr, 0.0f},
    TypeTraits{T::IQ3_XXS, "IQ3_XXS", 256, 98, nullptr, nullptr, 0.0f},
    TypeTraits{T::IQ1_S, "IQ1_S", 256, 50, nullptr, nullptr, 0.0f},
    TypeTraits{T::IQ4_NL, "IQ4_NL", 32, 18, nullptr, nullptr, 0.0f},
    TypeTraits{T::IQ3_S, "IQ3_S", 256, 110, nullptr, nullptr, 0.0f},
    TypeTraits{T::IQ2_S, "IQ2_S", 256, 82, nullptr, nullptr, 0.0f},
    TypeTraits{T::IQ4_XS, "IQ4_XS", 256, 136, nullptr, nullptr, 0.0f},
    TypeTraits{T::I8, "I8", 1, 1, nullptr, nullptr, 0.0f},
    TypeTraits{T::I16, "I16", 1, 2, nullptr, nullptr, 0.0f},
    TypeTraits{T::I32, "I32", 1, 4, nullptr, nullptr, 0.0f},
    TypeTraits{T::I64, "I64", 1, 8, nullptr, nullptr, 0.0f},
    TypeTraits{T::F64, "F64", 1, 8, nullptr, nullptr, 0.0f},
    TypeTraits{T::IQ1_M, "IQ1_M", 256, 56, nullptr, nullptr, 0.0f},
    TypeTraits{T::BF16, "BF16", 1, 2, q::dequantize_bf16, q::quantize_bf16, 1.0f / 256},
    TypeTraits{T::TQ1_0, "TQ1_0", 256, 54, nullptr, nullptr, 0.0f},
    TypeTraits{T::TQ2_0, "TQ2_0", 256, 66, nullptr, nullptr, 0.0f},
    TypeTraits{T::MXFP4, "MXFP4", 32, 17, nullptr, nullptr, 0.0f},
};

}  // namespace

const TypeTraits* find_type(uint32_t id) {
  for (const auto& traits : kTypes) {
    if (static_cast<uint32_t>(traits.type) == id) return &traits;
  }
  return nullptr;
}

const TypeTraits& type_traits(TensorType type) {
  const TypeTraits* traits = find_type(static_cast<uint32_t>(type));
  BOTTEGA_CHECK(traits != nullptr, "unknown tensor type id ", static_cast<uint32_t>(type));
  return *traits;
}

std::optional<TensorType> parse_type_name(std::string_view name) {
  for (const auto& traits : kTypes) {
    if (std::equal(name.begin(), name.end(), traits.name.begin(), traits.name.end(),
                   [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; })) {
      return traits.type;
    }
  }
  return std::nullopt;
}

size_t row_bytes(TensorType type, int64_t n) {
  const TypeTraits& traits = type_traits(type);
  BOTTEGA_CHECK(n >= 0 && n % traits.block_size == 0, "row of ", n, " values is not a multiple of ",
                traits.block_size, " for ", traits.name);
  return static_cast<size_t>(n / traits.block_size) * traits.block_bytes;
}

}  // namespace bottega
