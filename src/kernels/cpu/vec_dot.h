// Dot products of one stored weight row with one row of activations, per weight type and per ISA.
//
// Every weight type the engine computes with has one row in the dot-kernel table (vec_dot.cpp):
// the activation type its dot product wants (activations are quantized to it once per matmul),
// the scalar reference dot (the definition, kept forever) and the SIMD versions, if any. Which
// ISA runs is decided once, from the CPU's features, by best_isa(); callers pass the Isa along so
// tests can run every path the machine supports.
//
// Activation types: Q8_0 for Q4_0/Q5_0/Q8_0/MXFP4, Q8_1 for Q4_1/Q5_1 (its per-block sum applies
// the weights' minimum), Q8_K for the K-quants, F32 (plain floats, no conversion) for F32/F16, and
// BF16 for BF16, as llama.cpp computes it: each product is then exact in float, and CPUs with
// AVX512_BF16 take two of them per lane in one instruction (vdpbf16ps). BF16 activation rows are
// kept as floats, each rounded to the nearest BF16 value, so the float kernels read them as they
// are; matmul narrows them, exactly, for the vdpbf16ps kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "tensor/types.h"

namespace bottega::kernels {

// Instruction sets with kernels. kRef is portable C++; kAvx2 needs AVX2 + FMA + F16C; kAvx512
// adds AVX-512 F/BW/VL with the VNNI byte dot product (Intel Ice Lake and later, AMD Zen 4 and
// later) and falls back to AVX2's kernels where it has none of its own; kNeon is AArch64's
// Advanced SIMD (every 64-bit ARM CPU has it); kNeonDot adds the int8 dot product instructions
// (ARMv8.2 dotprod: Apple M1 and later, Graviton 2+, Grace, Cortex-A76+).
enum class Isa { kRef, kAvx2, kAvx512, kNeon, kNeonDot };
const char* isa_name(Isa isa);

// sum_i w[i] * a[i] over n values (a multiple of the weight's block size): w is one weight row,
// a one activation row in the row's activation type.
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);

// A tile of dot products: y[c * y_stride + r] = dot(row r of w, row c of a) for r < n_rows,
// c < n_cols. Rows of w are w_stride bytes apart, rows of a a_stride bytes apart. Kernels load
// each weight block once for several activation rows.
using TileFn = void (*)(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows,
                        const uint8_t* a, size_t a_stride, int64_t n_cols, float* y,
                        int64_t y_stride);

// Converts n floats (a multiple of the type's block size) to an activation row.
using ActivationQuantizeFn = void (*)(const float* src, void* dst, int64_t n);

// What one (weight type, ISA) pair computes with. tile may be nullptr: the caller then loops
// over dot.
struct DotKernel {
  TensorType activation = TensorType::F32;
  ActivationQuantizeFn quantize = nullptr;  // nullptr when activation is F32 (used as is)
  VecDotFn dot = nullptr;
  TileFn tile = nullptr;

  // F32 and BF16 activation rows are floats (BF16's rounded to BF16 values).
  bool float_rows() const {
    return activation == TensorType::F32 || activation == TensorType::BF16;
  }
  size_t activation_row_bytes(int64_t n) const;
};

// The BF16 activation "quantizer": each of n floats rounded to the nearest BF16 value (ties to
// even), written as a float.
void round_to_bf16_values(const float* src, void* dst, int64_t n);

// The SIMD kernels one ISA file provides; a missing function falls back to the reference one.
struct IsaKernel {
  TensorType weight;
  VecDotFn dot;
  TileFn tile;
};
struct IsaQuantizer {
  TensorType activation;
  ActivationQuantizeFn quantize;
};

// The best ISA this CPU supports, detected once.
Isa best_isa();
// Every ISA this CPU can run, kRef first.
std::span<const Isa> available_isas();
// Fails (a programmer error) unless isa is one of available_isas(): every per-ISA kernel table
// checks its argument with it.
void check_available(Isa isa);

// The activation type weight rows of `weight` are dotted with (F32 for the float types).
// Checks that the weight type is computable.
TensorType activation_type(TensorType weight);

// The kernel for `weight` on `isa`; isa must be one of available_isas() (checked).
DotKernel dot_kernel(TensorType weight, Isa isa);

// The scalar reference dot of a weight type (the definition the SIMD versions are tested
// against).
VecDotFn reference_dot(TensorType weight);

}  // namespace bottega::kernels
