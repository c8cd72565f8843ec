// Internal to the dot kernels: the scalar reference dots (vec_dot_ref.cpp) and what each ISA file
// registers. An ISA's file is compiled only on the architecture it targets (src/kernels/
// CMakeLists.txt); on others isa_none.cpp provides empty registrations, so nothing here is
// guarded by #ifdef.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/cpu/repack.h"
#include "kernels/cpu/vec_dot.h"

namespace bottega::kernels {

namespace dot_ref {
// Blocks of 32, activations Q8_0 (Q8_1 for the types with a minimum).
float q4_0_q8_0(int64_t n, const void* w, const void* a);
float q4_1_q8_1(int64_t n, const void* w, const void* a);
float q5_0_q8_0(int64_t n, const void* w, const void* a);
float q5_1_q8_1(int64_t n, const void* w, const void* a);
float q8_0_q8_0(int64_t n, const void* w, const void* a);
// Q8_1 is an activation type, but it can be stored, so it dots like Q8_0.
float q8_1_q8_0(int64_t n, const void* w, const void* a);
// K-quants, activations Q8_K.
float q2_k_q8_k(int64_t n, const void* w, const void* a);
float q3_k_q8_k(int64_t n, const void* w, const void* a);
float q4_k_q8_k(int64_t n, const void* w, const void* a);
float q5_k_q8_k(int64_t n, const void* w, const void* a);
float q6_k_q8_k(int64_t n, const void* w, const void* a);
float q8_k_q8_k(int64_t n, const void* w, const void* a);
// Float weights, float activations.
float f32_f32(int64_t n, const void* w, const void* a);
float f16_f32(int64_t n, const void* w, const void* a);
float bf16_f32(int64_t n, const void* w, const void* a);
}  // namespace dot_ref

// x86-64 (isa_x86.cpp): AVX2 + FMA + F16C available and enabled by the OS.
bool cpu_has_avx2();
// vec_dot_avx2.cpp: the AVX2 kernels and activation quantizers (byte-identical to the reference
// quantizers).
std::span<const IsaKernel> avx2_kernels();
std::span<const IsaQuantizer> avx2_quantizers();

// The kernels an ISA has for the interleaved layouts (repack.h); gemm_avx2.cpp.
struct IsaInterleavedKernel {
  TensorType weight;
  InterleavedTileFn tile;
};
std::span<const IsaInterleavedKernel> avx2_interleaved_kernels();

}  // namespace bottega::kernels
