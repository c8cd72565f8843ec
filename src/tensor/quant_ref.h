// Scalar reference quantize/dequantize for every weight type the engine computes with.
// These are the definitions of the formats: SIMD kernels are tested against them.
#pragma once

#include <cstdint>

namespace bottega::quant_ref {

void dequantize_f32(const void* src, float* dst, int64_t n);
void quantize_f32(const float* src, void* dst, int64_t n);
void dequantize_f16(const void* src, float* dst, int64_t n);
void quantize_f16(const float* src, void* dst, int64_t n);
void dequantize_bf16(const void* src, float* dst, int64_t n);
void quantize_bf16(const float* src, void* dst, int64_t n);
void dequantize_q8_0(const void* src, float* dst, int64_t n);
void quantize_q8_0(const float* src, void* dst, int64_t n);

}  // namespace bottega::quant_ref
