// Scalar reference quantize/dequantize for every weight type the engine computes with.
// These are the definitions of the formats: SIMD kernels are tested against them.
//
// All functions take n values, a multiple of the type's block size (checked); src/dst point at
// n / block_size consecutive blocks (blocks.h), aligned as the block struct. Quantizers never
// read or write outside their n values and never hit undefined behaviour, even on NaN or
// infinite inputs (whose encoding is then unspecified).
#pragma once

#include <cstdint>

namespace bottega::quant_ref {

void dequantize_f32(const void* src, float* dst, int64_t n);
void quantize_f32(const float* src, void* dst, int64_t n);
void dequantize_f16(const void* src, float* dst, int64_t n);
void quantize_f16(const float* src, void* dst, int64_t n);
void dequantize_bf16(const void* src, float* dst, int64_t n);
void quantize_bf16(const float* src, void* dst, int64_t n);

// Blocks of 32 (quant_ref.cpp).
void dequantize_q4_0(const void* src, float* dst, int64_t n);
void quantize_q4_0(const float* src, void* dst, int64_t n);
void dequantize_q4_1(const void* src, float* dst, int64_t n);
void quantize_q4_1(const float* src, void* dst, int64_t n);
void dequantize_q5_0(const void* src, float* dst, int64_t n);
void quantize_q5_0(const float* src, void* dst, int64_t n);
void dequantize_q5_1(const void* src, float* dst, int64_t n);
void quantize_q5_1(const float* src, void* dst, int64_t n);
void dequantize_q8_0(const void* src, float* dst, int64_t n);
void quantize_q8_0(const float* src, void* dst, int64_t n);
void dequantize_q8_1(const void* src, float* dst, int64_t n);
void quantize_q8_1(const float* src, void* dst, int64_t n);

// MXFP4, blocks of 32 with a shared power-of-two exponent (quant_ref_mx.cpp).
void dequantize_mxfp4(const void* src, float* dst, int64_t n);
void quantize_mxfp4(const float* src, void* dst, int64_t n);

// K-quants, super-blocks of 256 (quant_ref_k.cpp). Q2_K and Q3_K are read-only: llama.cpp's
// Q2_K/Q3_K_* mixes contain them, bottega does not write them.
void dequantize_q2_k(const void* src, float* dst, int64_t n);
void dequantize_q3_k(const void* src, float* dst, int64_t n);
void dequantize_q4_k(const void* src, float* dst, int64_t n);
void quantize_q4_k(const float* src, void* dst, int64_t n);
void dequantize_q5_k(const void* src, float* dst, int64_t n);
void quantize_q5_k(const float* src, void* dst, int64_t n);
void dequantize_q6_k(const void* src, float* dst, int64_t n);
void quantize_q6_k(const float* src, void* dst, int64_t n);
void dequantize_q8_k(const void* src, float* dst, int64_t n);
void quantize_q8_k(const float* src, void* dst, int64_t n);

}  // namespace bottega::quant_ref
