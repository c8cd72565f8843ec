// Conversions between float rows and the types the KV cache stores (kv_cache.h).
//
// F16 is the default cache type and attention converts every cached row it reads, so F16 has a
// SIMD path (F16C on x86); Q8_0/Q4_0 go through the type table's reference codecs, which define
// their results.
#pragma once

#include <cstdint>

#include "kernels/cpu/vec_dot.h"
#include "tensor/types.h"

namespace bottega::kernels {

using HalfToFloatFn = void (*)(const uint16_t* src, float* dst, int64_t n);
using FloatToHalfFn = void (*)(const float* src, uint16_t* dst, int64_t n);

struct HalfConverters {
  HalfToFloatFn to_float = nullptr;
  FloatToHalfFn to_half = nullptr;  // round to nearest even, as f32_to_f16 (core/half.h)
};

// The converters of `isa` (one of available_isas(), checked); kRef's define the results.
HalfConverters half_converters(Isa isa);

// n values (a multiple of the type's block size) of a cache row, decoded to floats / encoded
// from floats, on the best ISA.
void decode_row(TensorType type, const void* src, float* dst, int64_t n);
// n_rows such rows, src_stride bytes apart, decoded to n_rows consecutive rows of n floats: one
// dispatch for a run of rows, as attention gathers one head's rows from a cache block (64-value
// rows decoded one call at a time cost more in the calls than in the conversion).
void decode_rows(TensorType type, const uint8_t* src, size_t src_stride, int64_t n_rows, float* dst,
                 int64_t n);
void encode_row(TensorType type, const float* src, void* dst, int64_t n);

// Implementation detail of the dispatch: the converters of a SIMD ISA, nullptrs where it has none
// (isa_x86.cpp, isa_arm.cpp, isa_none.cpp), and the ISA files' own.
HalfConverters simd_half_converters(Isa isa);
HalfConverters avx2_half_converters();
HalfConverters neon_half_converters();

}  // namespace bottega::kernels
