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

// Round-trip bounds: the largest |x - dequantize(quantize(x))| relative to A, the block's max |x|
// (the super-block's for K-quants), for x uniform in [-1, 1]. u = 2^-11 is the relative rounding
// error of a half-precision scale (scales of such data are normal halves; a block so small that
// its scale is a subnormal half, e.g. a Q8_0 block with A < 127 * 2^-14 = 0.0078, has an absolute
// scale error of up to 2^-25 instead, in llama.cpp too). "Measured" is the largest error seen over
// 192,000 blocks of uniform data; tests/tensor checks the bounds.
constexpr float kU = 1.0f / 2048;

// F16 / BF16: half an ulp of x itself, 2^-11 / 2^-8 relative (x = A for one-value blocks).
constexpr float kBoundF16 = kU;
constexpr float kBoundBF16 = 1.0f / 256;
// Q8_0, Q8_1: d = A/127, no clamping: half a step, plus the half rounding of d moving level q
// (|q| <= 127) by 127 * d * u = A u. Measured 0.00439.
constexpr float kBoundQ8 = 1.0f / 254 + kU;
// Q4_0 / Q5_0: d = A/8 (A/16) puts the extreme on level -8 (-16); a value as large on the other
// side needs +8 (+16), is clamped to +7 (+15) and is off by one full step. Half rounding of d adds
// at most 8 d u (16 d u) = A u. Measured 0.1252 / 0.0627.
constexpr float kBoundQ4_0 = 1.0f / 8 + kU;
constexpr float kBoundQ5_0 = 1.0f / 16 + kU;
// Q4_1 / Q5_1: d = (max - min)/15 (/31) <= 2A/15 (2A/31) and every value is within half a step;
// rounding m to half costs A u and rounding d costs 15 d u <= 2 A u at the top level.
// Measured 0.0675 / 0.0333.
constexpr float kBoundQ4_1 = 1.0f / 15 + 3 * kU;
constexpr float kBoundQ5_1 = 1.0f / 31 + 3 * kU;
// Q8_K: float d = A/127, no clamping: half a step plus a few float roundings (< 2^-20 A).
// Measured 0.003937.
constexpr float kBoundQ8_K = 1.0f / 254 + 1.0f / (1 << 20);
// Q4_K / Q5_K: the search spreads a sub-block's range (<= 2A) over up to nmax + 1 intervals (16 /
// 32) and refits by weighted least squares, so the largest value can sit one step of 2A/(nmax+1)
// above the last level. Rounding the sub-block scale to a 6-bit multiple of D = max_scale/63
// moves the last level by nmax * D/2, with max_scale <= 2A/(nmax - 1) (the coarsest grid);
// rounding the min to a multiple of Dmin = max_min/63 <= A/63 shifts all levels by up to A/126;
// the half rounding of D and Dmin adds 2 A u. Measured 0.1325 / 0.0704. The least-squares
// criterion may trade one value's error for the others' beyond this on contrived data (a
// hill-climbing search found 0.165 / 0.094); natural data stays inside.
constexpr float kBoundQ4_K = 2.0f / 16 + 15.0f * (2.0f / 14) / 126 + 1.0f / 126 + 2 * kU;
constexpr float kBoundQ5_K = 2.0f / 32 + 31.0f * (2.0f / 30.5f) / 126 + 1.0f / 126 + 2 * kU;
// Q6_K: candidate grids put the extreme on level -(32 + 0.1t), t <= 9, so a value as large on
// the other side needs up to +32.9 and is clamped at +31: 1.9 steps of A/32.9. Rounding the
// sub-block scale to an 8-bit multiple of D = max_scale/128 (max_scale <= A/31.1) moves level 31
// by 31 * D/2; the half rounding of D adds 32 * (A/32) * u. Measured 0.0249: the x^2 weights keep
// the search from clamping large values (contrived data reached 0.033).
constexpr float kBoundQ6_K = 1.9f / 32.9f + 31.0f / (31.1f * 256) + kU;

// MXFP4: the shared exponent puts the block's max A in [4, 8) times s = 2^(e - 127) (in [2, 4)
// where llama.cpp's log2f rounds up), and the largest code is 6 s: a value in (6 s, A] is clamped
// to 6 s, off by less than A - 6 s < A / 4. Inside the grid the worst is half the gap from 4 s to
// 6 s, s <= A / 5 at x = 5 s. Powers of two scale exactly, so nothing else adds. The bound is
// tight: uniform data has A near 8 s in most blocks. Measured 0.2499996 (RMS 0.085).
constexpr float kBoundMXFP4 = 1.0f / 4;

// Block sizes and bytes per block as GGML defines them. Rows without functions are types bottega
// can read and describe but not compute with yet; Q2_K and Q3_K are read-only (no quantizer, so
// no round-trip bound).
constexpr std::array kTypes = {
    TypeTraits{T::F32, "F32", 1, 4, q::dequantize_f32, q::quantize_f32, 0.0f},
    TypeTraits{T::F16, "F16", 1, 2, q::dequantize_f16, q::quantize_f16, kBoundF16},
    TypeTraits{T::Q4_0, "Q4_0", 32, 18, q::dequantize_q4_0, q::quantize_q4_0, kBoundQ4_0},
    TypeTraits{T::Q4_1, "Q4_1", 32, 20, q::dequantize_q4_1, q::quantize_q4_1, kBoundQ4_1},
    TypeTraits{T::Q5_0, "Q5_0", 32, 22, q::dequantize_q5_0, q::quantize_q5_0, kBoundQ5_0},
    TypeTraits{T::Q5_1, "Q5_1", 32, 24, q::dequantize_q5_1, q::quantize_q5_1, kBoundQ5_1},
    TypeTraits{T::Q8_0, "Q8_0", 32, 34, q::dequantize_q8_0, q::quantize_q8_0, kBoundQ8},
    TypeTraits{T::Q8_1, "Q8_1", 32, 36, q::dequantize_q8_1, q::quantize_q8_1, kBoundQ8},
    TypeTraits{T::Q2_K, "Q2_K", 256, 84, q::dequantize_q2_k, nullptr, 0.0f},
    TypeTraits{T::Q3_K, "Q3_K", 256, 110, q::dequantize_q3_k, nullptr, 0.0f},
    TypeTraits{T::Q4_K, "Q4_K", 256, 144, q::dequantize_q4_k, q::quantize_q4_k, kBoundQ4_K},
    TypeTraits{T::Q5_K, "Q5_K", 256, 176, q::dequantize_q5_k, q::quantize_q5_k, kBoundQ5_K},
    TypeTraits{T::Q6_K, "Q6_K", 256, 210, q::dequantize_q6_k, q::quantize_q6_k, kBoundQ6_K},
    TypeTraits{T::Q8_K, "Q8_K", 256, 292, q::dequantize_q8_k, q::quantize_q8_k, kBoundQ8_K},
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
    TypeTraits{T::BF16, "BF16", 1, 2, q::dequantize_bf16, q::quantize_bf16, kBoundBF16},
    TypeTraits{T::TQ1_0, "TQ1_0", 256, 54, nullptr, nullptr, 0.0f},
    TypeTraits{T::TQ2_0, "TQ2_0", 256, 66, nullptr, nullptr, 0.0f},
    TypeTraits{T::MXFP4, "MXFP4", 32, 17, q::dequantize_mxfp4, q::quantize_mxfp4, kBoundMXFP4},
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
    if (std::equal(
            name.begin(), name.end(), traits.name.begin(), traits.name.end(),
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
