// Steps the x86 kernels of the interleaved layouts (repack.h) share: gemm_avx2.cpp,
// gemm_avx512.cpp and gemv_avx512.cpp. One token's row must come out bitwise the same from the
// decode and the prompt kernels, so the float steps of an 8-row group are written once here.
//
// Internal linkage on purpose: each file compiles these with its own ISA flags, and an inline
// function with external linkage could leave the linker one file's instructions (AVX-512) for
// all the callers (AVX2-only CPUs). Include it from those .cpp files only.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/repack.h"

namespace bottega::kernels {
namespace {  // NOLINT(google-build-namespaces): see above

// Decode reads every weight once, and the hardware prefetcher alone leaves it waiting on memory
// (a packed Q6_K super-block is read as two streams, ql and qh 1 KiB further on, and the prefetcher
// does not follow the jump). The address is formed as an integer because the block named may lie
// past the end of the matrix, which a prefetch may touch (it never faults) but pointer arithmetic
// may not.
template <class Packed>
inline void prefetch_block(const Packed* blocks, int64_t index) {
  const uintptr_t start =
      reinterpret_cast<uintptr_t>(blocks) + static_cast<uintptr_t>(index) * sizeof(Packed);
  for (size_t line = 0; line < sizeof(Packed); line += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(start + line), _MM_HINT_T0);
  }
}

// The 8 half scales of a group's rows as floats.
inline __m256 row_scales(const uint16_t* d) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d)));
}

namespace rows8 {

// The 32 packed bytes of a block of 32 at group j (qs byte 32 j + 4 r + i): the low nibbles
// (element 4 j + i of row r) and the high ones (element 16 + 4 j + i).
inline void unpack_nibbles(const uint8_t* qs, int j, __m256i& lo, __m256i& hi) {
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * j));
  lo = _mm256_and_si256(q, low_mask);
  hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
}

// How a block of 32's integer dot product dot (8 rows) joins the float accumulator.

// Q4_0 / Q5_0: value d (q - kOffset). The offset applies once per block: minus the rows' scales
// dw times kOffset * d * sum(activation quants), a multiple of the activation's offset8; one FMA
// on the activation's side, one with the rows' scales.
template <int kOffset>
struct SymmetricOffset {
  using Activation = ActivationQ8;
  template <class Packed>
  static inline __m256 accumulate(const Packed&, __m256 dw, __m256 dot, const Activation& act,
                                  __m256 acc) {
    constexpr float kMultiple = kOffset / 8.0f;
    const __m256 scaled =
        _mm256_fmsub_ps(dot, _mm256_set1_ps(act.d), _mm256_set1_ps(kMultiple * act.offset8));
    return _mm256_fmadd_ps(dw, scaled, acc);
  }
};

// Q4_1 / Q5_1: value d q + m. The minimum applies once per block: the rows' m times the
// activation's s = d * sum(activation quants).
struct BlockMinimum {
  using Activation = ActivationQ8_1;
  template <class Packed>
  static inline __m256 accumulate(const Packed& blk, __m256 dw, __m256 dot, const Activation& act,
                                  __m256 acc) {
    acc = _mm256_fmadd_ps(dw, _mm256_mul_ps(dot, _mm256_set1_ps(act.d)), acc);
    return _mm256_fmadd_ps(row_scales(blk.m), _mm256_set1_ps(act.s), acc);
  }
};

}  // namespace rows8
}  // namespace
}  // namespace bottega::kernels
