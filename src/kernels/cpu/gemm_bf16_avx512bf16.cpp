// BF16 rows interleaved 8 at a time (repack.h) against BF16 activations with vdpbf16ps, which
// multiplies 32 pairs of BF16 values an instruction and adds each pair's two products to a float
// lane: twice the products of a float FMA. Compiled with the AVX512_BF16 flags on x86-64 only;
// isa_x86.cpp lists it for the AVX-512 ISA where the CPU has the instructions (Zen 4 and later,
// Cooper Lake, Sapphire Rapids and later), and AVX2's float kernel stays in place elsewhere.
//
// Pair j of two groups (32 bytes each) fills one register: lanes 0..7 hold rows 0..7 of the first
// group, lanes 8..15 those of the second, each lane its row's elements 2 j and 2 j + 1, which is
// what one broadcast pair of activation values multiplies (matmul hands the kernel BF16 rows,
// IsaInterleavedKernel::bf16_activations). Each lane is a whole row's sum, taken in the order of j:
// decode and prompts give a token the same bits (batch_invariance_test), and the float FMA kernels
// (no vdpbf16ps) add the same exact products in another order.
#include <immintrin.h>

#include <cstdint>

#include "core/half.h"
#include "kernels/cpu/float16_tiles_inl.h"
#include "kernels/cpu/repack.h"
#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {
namespace {

constexpr size_t kPairHalves = 2 * kRowGroup;

__m256i load_pair(const uint16_t* group, int64_t j) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + kPairHalves * j));
}

// Pair j of the groups at first and second (lanes 8..15 zero without a second).
__m512i load_groups(const uint16_t* first, const uint16_t* second, int64_t j) {
  if (second == nullptr) return _mm512_zextsi256_si512(load_pair(first, j));
  return _mm512_inserti64x4(_mm512_castsi256_si512(load_pair(first, j)), load_pair(second, j), 1);
}

__m512 dot_pairs(__m512 acc, __m512i w, __m512i x) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh&>(w), reinterpret_cast<__m512bh&>(x));
}

// G consecutive groups (1, or even) against NT rows of activation pairs x (x_stride pairs apart);
// y[t * y_stride + 8 g + r].
template <int G, int NT>
void groups_tokens(int64_t n_in, const uint16_t* w, const uint32_t* x, int64_t x_stride, float* y,
                   int64_t y_stride) {
  constexpr int kRegs = (G + 1) / 2;
  const size_t group_halves = static_cast<size_t>(n_in) * kRowGroup;
  __m512 acc[kRegs][NT];
  for (int k = 0; k < kRegs; ++k) {
    for (int t = 0; t < NT; ++t) acc[k][t] = _mm512_setzero_ps();
  }
  for (int64_t j = 0; j < n_in / 2; ++j) {
    __m512i wv[kRegs];
    for (int k = 0; k < kRegs; ++k) {
      const uint16_t* first = w + 2 * k * group_halves;
      wv[k] = load_groups(first, G == 1 ? nullptr : first + group_halves, j);
    }
    for (int t = 0; t < NT; ++t) {
      const __m512i xv = _mm512_set1_epi32(static_cast<int>(x[t * x_stride + j]));
      for (int k = 0; k < kRegs; ++k) acc[k][t] = dot_pairs(acc[k][t], wv[k], xv);
    }
  }
  for (int t = 0; t < NT; ++t) {
    if constexpr (G == 1) {
      _mm256_storeu_ps(y + t * y_stride, _mm512_castps512_ps256(acc[0][t]));
    } else {
      for (int k = 0; k < kRegs; ++k) {
        _mm512_storeu_ps(y + t * y_stride + 2 * k * kRowGroup, acc[k][t]);
      }
    }
  }
}

struct Tiles {
  using Act = uint32_t;  // a pair of BF16 values, element 2 j in the low half
  // Tokens per prompt tile: 4 groups (2 registers) x 14 tokens keep 28 accumulators, the 2 weight
  // registers and an activation pair in the 32 ZMM registers.
  static constexpr int kTokenTile = 14;
  static constexpr int kTileGroups = 4;
  // Groups one token streams side by side in decode, as the float kernel's.
  static constexpr int kDecodeGroups = kBf16DotDecodeGroups;
  template <int G, int NT>
  static void run(int64_t n_in, const uint16_t* w, const uint32_t* x, int64_t x_stride, float* y,
                  int64_t y_stride) {
    groups_tokens<G, NT>(n_in, w, x, x_stride, y, y_stride);
  }
};

}  // namespace

void avx512bf16_bf16_interleaved_tile(int64_t n_in, const uint8_t* w, int64_t n_groups,
                                      const uint8_t* a, size_t a_stride, int64_t n_cols, float* y,
                                      int64_t y_stride) {
  float16_tiles::groups_rows<Tiles>(
      n_in, reinterpret_cast<const uint16_t*>(w), n_groups, reinterpret_cast<const uint32_t*>(a),
      static_cast<int64_t>(a_stride / sizeof(uint32_t)), n_cols, y, y_stride);
}

void avx512bf16_round_to_bf16(const float* x, uint16_t* out, int64_t n) {
  const __m512i magnitude_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i infinity = _mm512_set1_epi32(0x7f800000);
  const __m512i half_minus_one = _mm512_set1_epi32(0x7fff);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i quiet_bit = _mm512_set1_epi32(0x00400000);  // 0x40 once shifted down
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i bits = _mm512_loadu_si512(x + i);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, magnitude_mask), infinity);
    // Ties to even: add 0x7fff plus the lowest bit that stays.
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), one);
    __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(half_minus_one, odd));
    rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(bits, quiet_bit));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm512_cvtepi32_epi16(_mm512_srli_epi32(rounded, 16)));
  }
  for (; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

}  // namespace bottega::kernels
