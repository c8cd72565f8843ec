// Internal to the dot kernels: the scalar reference dots (vec_dot_ref.cpp) and what each ISA file
// registers. An ISA's file is compiled only on the architecture it targets (src/kernels/
// CMakeLists.txt); on others isa_none.cpp provides empty registrations, so nothing here is
// guarded by #ifdef.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

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
// MXFP4 with Q8_0 activations: the doubled E2M1 codes (-12..12) times the activation bytes.
float mxfp4_q8_0(int64_t n, const void* w, const void* a);
// K-quants, activations Q8_K.
float q2_k_q8_k(int64_t n, const void* w, const void* a);
float q3_k_q8_k(int64_t n, const void* w, const void* a);
float q4_k_q8_k(int64_t n, const void* w, const void* a);
float q5_k_q8_k(int64_t n, const void* w, const void* a);
float q6_k_q8_k(int64_t n, const void* w, const void* a);
float q8_k_q8_k(int64_t n, const void* w, const void* a);
// Float weights, float activations (for BF16 weights, floats rounded to BF16 values).
float f32_f32(int64_t n, const void* w, const void* a);
float f16_f32(int64_t n, const void* w, const void* a);
float bf16_f32(int64_t n, const void* w, const void* a);
}  // namespace dot_ref

// The kernels an ISA has for the interleaved layouts (repack.h). row_dot_matches: the ISA's row
// dot (IsaKernel) gives a row the same bits as this kernel, so a matrix kept in the stored layout
// (experts, read from the file mapping) may be packed into this layout a few rows at a time for
// prompts while decode reads the stored rows, and no token's result depends on its batch.
// bf16_activations: set where the kernel reads BF16 activation rows; matmul writes them with it
// once per call (n floats rounded to BF16, to nearest with ties to even, as core/half.h rounds).
// decode_groups: the groups the kernel streams side by side for one token; decode splits the work
// between threads in multiples of it, since the groups left over run one at a time, slower.
using Bf16RowFn = void (*)(const float* x, uint16_t* out, int64_t n);
struct IsaInterleavedKernel {
  TensorType weight;
  InterleavedTileFn tile;
  bool row_dot_matches = false;
  Bf16RowFn bf16_activations = nullptr;
  int64_t decode_groups = 1;
};

// Kernels for prompts over a matrix in the stored row layout (MXFP4 experts, which stay in the file
// mapping): each packs 16 rows at a time into its own layout, in a buffer of its own, and runs
// every activation row over them. y[c * y_stride + r] = dot(row r, row c) for r < 16 * n_pairs;
// activations in the kernel's activation block (repack.h).
using PackingTileFn = void (*)(int64_t n_in, const uint8_t* w, size_t w_stride, int64_t n_pairs,
                               const uint8_t* a, size_t a_stride, int64_t n_cols, float* y,
                               int64_t y_stride);
struct IsaPackingKernel {
  TensorType weight;
  PackingTileFn tile;
};

// What the CPU runs and what each ISA provides, from the file of the architecture the build
// targets (isa_x86.cpp, isa_arm.cpp, else isa_none.cpp): the SIMD ISAs this CPU supports, best
// last, and each ISA's tables (empty for an ISA of another architecture).
std::vector<Isa> cpu_simd_isas();
std::span<const IsaKernel> simd_kernels(Isa isa);
std::span<const IsaQuantizer> simd_quantizers(Isa isa);
std::span<const IsaInterleavedKernel> simd_interleaved_kernels(Isa isa);
std::span<const IsaPackingKernel> simd_packing_kernels(Isa isa);

// vec_dot_avx2.cpp: the AVX2 kernels and activation quantizers (byte-identical to the reference
// quantizers); gemm_avx2.cpp: the interleaved kernels.
std::span<const IsaKernel> avx2_kernels();
std::span<const IsaQuantizer> avx2_quantizers();
std::span<const IsaInterleavedKernel> avx2_interleaved_kernels();

// vec_dot_avx512.cpp: the float tiles in AVX-512; gemm_avx512.cpp: the interleaved kernels with
// VNNI. Everything else of the AVX-512 ISA is AVX2's (isa_x86.cpp).
std::span<const IsaKernel> avx512_kernels();
std::span<const IsaInterleavedKernel> avx512_interleaved_kernels();
std::span<const IsaPackingKernel> avx512_packing_kernels();
// gemm_float16_avx2.cpp, gemm_float16_avx512.cpp: the interleaved kernels of F16 and BF16
// (InterleavedTileFns over float activations, the same bits on both ISAs), listed in
// avx2_interleaved_kernels() and avx512_interleaved_kernels(), with the groups each streams side
// by side for one token (and the vdpbf16ps kernel's below).
inline constexpr int64_t kFloat16DecodeGroupsAvx2 = 4;
inline constexpr int64_t kFloat16DecodeGroupsAvx512 = 8;
inline constexpr int64_t kBf16DotDecodeGroups = 8;
void avx2_f16_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                               size_t a_stride, int64_t n_cols, float* y, int64_t y_stride);
void avx2_bf16_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                                size_t a_stride, int64_t n_cols, float* y, int64_t y_stride);
void avx512_f16_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                                 size_t a_stride, int64_t n_cols, float* y, int64_t y_stride);
void avx512_bf16_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups,
                                  const uint8_t* a, size_t a_stride, int64_t n_cols, float* y,
                                  int64_t y_stride);
// gemm_bf16_avx512bf16.cpp: BF16's interleaved kernel with vdpbf16ps (BF16 activations), which
// isa_x86.cpp puts in the AVX-512 table where the CPU has AVX512_BF16.
void avx512bf16_bf16_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups,
                                      const uint8_t* a, size_t a_stride, int64_t n_cols, float* y,
                                      int64_t y_stride);
// Its activation rows: 16 floats a step, the same bits as f32_to_bf16 (NaNs kept quiet).
void avx512bf16_round_to_bf16(const float* x, uint16_t* out, int64_t n);
// gemv_avx512.cpp: one token against the interleaved layouts, one row group at a time; the
// interleaved kernels above call them for a single token.
std::span<const IsaInterleavedKernel> avx512_decode_kernels();

// vec_dot_neon.cpp: kernels and quantizers (byte-identical to the reference) in base AArch64
// NEON; vec_dot_neon_dotprod.cpp: the integer dots again with the dotprod instructions.
std::span<const IsaKernel> neon_kernels();
std::span<const IsaQuantizer> neon_quantizers();
std::span<const IsaKernel> neon_dotprod_kernels();
// gemm_neon_dotprod.cpp: the interleaved kernels with the dotprod instructions.
std::span<const IsaInterleavedKernel> neon_dotprod_interleaved_kernels();

}  // namespace bottega::kernels
