// Decode kernels for the interleaved layouts of repack.h on CPUs with AVX-512 VNNI: one token
// against one 8-row group at a time, so the weights are read as one stream (the pair kernels of
// gemm_avx512.cpp read two and streamed slower for a single token). Compiled with the AVX-512
// F/BW/VL/VNNI flags on x86-64 only and called only when isa_x86.cpp finds those features.
//
// They are AVX2's decode kernels (gemm_avx2.cpp) with VNNI: vpdpbusd replaces maddubs + add (+
// madd), and vpdpwssd a scale's madd + add. AVX2's kernels computed 30 to 37 GB/s of weights from
// L2 on the Zen 5 of docs/performance.md, barely more than one core's share of the memory
// bandwidth, so decode waited on them as much as on memory. The blocks of 32 run on 512-bit
// registers: two groups of values per load, the block's activation bytes loaded once and each
// register's words placed by one vpermd (a first 512-bit version, which broadcast each word from
// memory and merged the halves, measured slower than AVX2's; this one took Q4_0_cached from 8.3
// to 5.4 us). The others keep 256-bit registers (see Q8_0).
//
// Every integer sum here is exact, as are AVX2's (whose bounds keep s16 from saturating), and the
// float steps are AVX2's in the same order, so a token gets the same bits from this kernel as from
// the prompt kernels (batch_invariance_test).
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/interleaved_steps_inl.h"
#include "kernels/cpu/repack.h"
#include "kernels/cpu/vec_dot_impl.h"
#include "tensor/blocks.h"

namespace bottega::kernels {
namespace {

using T = TensorType;

inline __m256i broadcast4(const int8_t* p) {
  int32_t word;
  std::memcpy(&word, p, 4);
  return _mm256_set1_epi32(word);
}

inline __m256i load32(const void* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Bits of a where mask is set, else bits of b: one vpternlogd.
inline __m256i select_bits(__m256i mask, __m256i a, __m256i b) {
  return _mm256_ternarylogic_epi32(mask, a, b, 0xca);
}

// Blocks of 32 (8 rows, 144 to 272 bytes) are fetched 16 blocks (2 to 4 KB) ahead, super-blocks
// (over 1 KiB) two ahead: AVX2's distances (4 and 1) left one Zen 5 core streaming Q4_0 and Q8_0
// about 15% slower, and Q6_K 12% (bench_matmul, tokens:1, threads:1).
constexpr int64_t kSmallBlocksAhead = 16;
constexpr int64_t kSuperBlocksAhead = 2;

// ---- Blocks of 32: Q4_0, Q5_0, Q4_1, Q5_1 ----
//
// qs byte 32 j + 4 r + i holds element 4 j + i of row r (low nibble) and 16 + 4 j + i (high). One
// 512-bit load takes groups j = 2 h and 2 h + 1, rows 0..7 in lanes 0..7 and again in 8..15; the
// activation words those lanes need come from the block's 32 activation bytes, loaded once, by one
// permute each (PairWords).

inline __m512i load64(const void* p) {
  return _mm512_loadu_si512(p);
}

// Permute indices: index[p] takes 32-bit word 2 p of a block's activations into lanes 0..7
// and word 2 p + 1 into lanes 8..15.
struct PairWords {
  __m512i index[4];
  PairWords() {
    for (int p = 0; p < 4; ++p) {
      index[p] = _mm512_inserti64x4(_mm512_set1_epi32(2 * p), _mm256_set1_epi32(2 * p + 1), 1);
    }
  }
};

// The 8 lanes of each half summed: one row group's 8 sums.
inline __m256i fold_halves(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

struct FourBit {
  template <class Packed>
  static inline __m512i high_bits(const Packed&) {
    return _mm512_setzero_si512();
  }
  // Groups 2 h and 2 h + 1: their low nibbles and their high ones.
  template <class Packed>
  static inline void unpack(const Packed& blk, __m512i, int h, __m512i& lo, __m512i& hi) {
    const __m512i low_mask = _mm512_set1_epi8(0x0f);
    const __m512i q = load64(blk.qs + 64 * h);
    lo = _mm512_and_si512(q, low_mask);
    hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low_mask);
  }
};

// Bit j of qh byte 4 r + i is bit 4 of element 4 j + i, bit 4 + j that of 16 + 4 j + i. The 32 qh
// bytes go in both halves, and each half shifts its group's bits to bit 4 by its own count.
struct FiveBit {
  template <class Packed>
  static inline __m512i high_bits(const Packed& blk) {
    return _mm512_broadcast_i64x4(load32(blk.qh));
  }
  template <class Packed>
  static inline void unpack(const Packed& blk, __m512i high, int h, __m512i& lo, __m512i& hi) {
    const __m512i low_mask = _mm512_set1_epi8(0x0f);
    const __m512i bit4 = _mm512_set1_epi8(0x10);
    const __m512i q = load64(blk.qs + 64 * h);
    // Group j's low values want bit j at 4: left by 4 - j (j = 2 h in the low half, 2 h + 1 above).
    const __m512i lo_shift = halves_of(4 - 2 * h, 3 - 2 * h);
    const __m512i hi_shift = halves_of(2 * h, 2 * h + 1);
    lo = select_bits512(low_mask, q, _mm512_and_si512(_mm512_sllv_epi16(high, lo_shift), bit4));
    hi = select_bits512(low_mask, _mm512_srli_epi16(q, 4),
                        _mm512_and_si512(_mm512_srlv_epi16(high, hi_shift), bit4));
  }

 private:
  // 16-bit shift counts: low in the lower 256 bits, high in the upper.
  static inline __m512i halves_of(int low, int high) {
    return _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(low)),
                              _mm256_set1_epi16(static_cast<int16_t>(high)), 1);
  }
  // Bits of a where mask is set, else bits of b.
  static inline __m512i select_bits512(__m512i mask, __m512i a, __m512i b) {
    return _mm512_ternarylogic_epi32(mask, a, b, 0xca);
  }
};

template <class Packed, class Quants, class Offset>
__m256 block32_row(int64_t nb, const Packed* w, const uint8_t* a) {
  using Activation = typename Offset::Activation;
  const auto* act = reinterpret_cast<const Activation*>(a);
  const PairWords pairs;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const Packed& blk = w[b];
    prefetch_block(w, b + kSmallBlocksAhead);
    const __m512i words = _mm512_castsi256_si512(load32(act[b].qs));
    const __m512i high = Quants::high_bits(blk);
    // Low nibbles take activation words 0..3, high ones 4..7; two sums, so not one chain.
    __m512i lo_sum = _mm512_setzero_si512();
    __m512i hi_sum = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      __m512i lo, hi;
      Quants::unpack(blk, high, h, lo, hi);
      lo_sum = _mm512_dpbusd_epi32(lo_sum, lo, _mm512_permutexvar_epi32(pairs.index[h], words));
      hi_sum = _mm512_dpbusd_epi32(hi_sum, hi, _mm512_permutexvar_epi32(pairs.index[2 + h], words));
    }
    const __m256i dot = fold_halves(_mm512_add_epi32(lo_sum, hi_sum));
    acc = Offset::accumulate(blk, row_scales(blk.d), _mm256_cvtepi32_ps(dot), act[b], acc);
  }
  return acc;
}

// ---- Q8_0 ----
//
// qs byte 32 g + 4 r + i is element 4 g + i of row r. Both operands are signed and vpdpbusd wants
// one unsigned: the activation goes in offset by 128, and a second vpdpbusd with 128 in every
// byte takes 128 times the weights' sum back out.
//
// It stays on 256-bit registers: written as the blocks of 32 above (512-bit loads, permuted
// activation words) it computed 30% faster from L2 (bench_matmul Q8_0_cached, 9.6 -> 7.4 us) but
// decoded about 3% slower in 5 of 6 alternated tg128 runs, where it waits on memory for twice
// Q4_0's bytes per value.
__m256 q8_0_row(int64_t nb, const PackedQ8_0* w, const uint8_t* a) {
  const auto* act = reinterpret_cast<const ActivationQ8*>(a);
  const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedQ8_0& blk = w[b];
    prefetch_block(w, b + kSmallBlocksAhead);
    alignas(32) int8_t shifted[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(shifted),
                       _mm256_xor_si256(load32(act[b].qs), offset));
    __m256i sum = _mm256_setzero_si256();
    __m256i taken = _mm256_setzero_si256();
    for (int g = 0; g < 8; ++g) {
      const __m256i q = load32(blk.qs + 32 * g);
      sum = _mm256_dpbusd_epi32(sum, broadcast4(shifted + 4 * g), q);
      taken = _mm256_dpbusd_epi32(taken, offset, q);
    }
    const __m256 d = _mm256_mul_ps(row_scales(blk.d), _mm256_set1_ps(act[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(sum, taken)), acc);
  }
  return acc;
}

// ---- K-quants ----
//
// Chunk p holds values 64 p .. 64 p + 63: qs[p][k] byte 4 r + i is row r's value 64 p + 4 k + i in
// its low nibble (sub-block 2p) and 64 p + 32 + 4 k + i in its high one (2p + 1). A sub-block's
// sum is scaled by vpdpwssd with the rows' scales as s32 lanes whose high s16 is zero, which
// multiplies the sum exactly while it fits s16 (on Zen 5 faster than summing the whole sub-block
// in s32 for one vpmulld, which Q6_K's kernel does).

// 8 unsigned bytes, one per row, as s32 lanes.
inline __m256i row_bytes(const uint8_t* bytes) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes)));
}

// The mins' term as gemm_avx2.cpp's affine_k_group computes it (exact s32 per row).
template <class Packed>
inline __m256i affine_mins(const Packed& blk, const BlockQ8_K& act) {
  __m256i mins = _mm256_setzero_si256();
  for (int p = 0; p < 4; ++p) {
    const __m256i min_pair =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.mins[p])));
    const int16_t* bsums = act.bsums + 4 * p;
    const auto lo_total = static_cast<uint16_t>(bsums[0] + bsums[1]);
    const auto hi_total = static_cast<uint16_t>(bsums[2] + bsums[3]);
    const __m256i totals = _mm256_set1_epi32(static_cast<int32_t>(lo_total | (hi_total << 16)));
    mins = _mm256_add_epi32(mins, _mm256_madd_epi16(min_pair, totals));
  }
  return mins;
}

// Q4_K: 4 groups' products (16 of at most 15 * 128, 30720) fit one s16 sum.
struct Q4K {
  using Packed = PackedQ4_K;
  static constexpr int kGroupsPerSum = 4;
  static inline void unpack(const Packed& blk, int p, int k, __m256i& lo, __m256i& hi) {
    const __m256i low_mask = _mm256_set1_epi8(0x0f);
    const __m256i q = load32(blk.qs[p][k]);
    lo = _mm256_and_si256(q, low_mask);
    hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
  }
};

template <class Quants>
__m256 affine_k_row(int64_t nb, const typename Quants::Packed* w, const uint8_t* a) {
  constexpr int kStep = Quants::kGroupsPerSum;
  const auto* act = reinterpret_cast<const BlockQ8_K*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const auto& blk = w[b];
    prefetch_block(w, b + kSuperBlocksAhead);
    // Two totals, so the scaled sums are not one long chain of vpdpwssd.
    __m256i sum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int p = 0; p < 4; ++p) {
      const __m256i lo_scale = row_bytes(blk.scales[2 * p]);
      const __m256i hi_scale = row_bytes(blk.scales[2 * p + 1]);
      for (int k0 = 0; k0 < 8; k0 += kStep) {
        __m256i lo_sum = _mm256_setzero_si256();
        __m256i hi_sum = _mm256_setzero_si256();
        for (int k = k0; k < k0 + kStep; ++k) {
          __m256i lo, hi;
          Quants::unpack(blk, p, k, lo, hi);
          const int8_t* yq = act[b].qs + 64 * p + 4 * k;
          lo_sum = _mm256_dpbusd_epi32(lo_sum, lo, broadcast4(yq));
          hi_sum = _mm256_dpbusd_epi32(hi_sum, hi, broadcast4(yq + 32));
        }
        __m256i& total = sum[(k0 / kStep) % 2];
        total = _mm256_dpwssd_epi32(total, lo_sum, lo_scale);
        total = _mm256_dpwssd_epi32(total, hi_sum, hi_scale);
      }
    }
    const __m256i mins = affine_mins(blk, act[b]);
    const __m256 dy = _mm256_set1_ps(act[b].d);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(row_scales(blk.d), dy),
                          _mm256_cvtepi32_ps(_mm256_add_epi32(sum[0], sum[1])), acc);
    acc = _mm256_fnmadd_ps(_mm256_mul_ps(row_scales(blk.dmin), dy), _mm256_cvtepi32_ps(mins), acc);
  }
  return acc;
}

// Q6_K: quants q in 0..63 with value d * scale * (q - 32). ql as Q4_K's qs; qh[p / 2][k] byte
// 4 r + i carries the top two bits of chunk p's low values (bits 4 (p % 2), +1) and high ones
// (+2, +3). Sub-block 4p + k / 4 takes the low nibbles of groups k, 4p + 2 + k / 4 the high ones,
// so 4 groups' products sum per sub-block (at most 16 * 63 * 128, s32) before one vpmulld scales
// them. scales[m] holds sub-blocks 2m and 2m + 1 as two s16 per row. The offset of 32 applies once
// per super-block, as in AVX2's kernel.
__m256i sub_block_sum(const PackedQ6_K& blk, const int8_t* yq, int p, int k0, __m256i& hi_sum) {
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i top_bits = _mm256_set1_epi8(0x30);
  __m256i lo_sum = _mm256_setzero_si256();
  hi_sum = _mm256_setzero_si256();
  for (int k = k0; k < k0 + 4; ++k) {
    const __m256i ql = load32(blk.ql[p][k]);
    const __m256i qh = load32(blk.qh[p / 2][k]);
    // The two bits of each value moved to bits 4 and 5 (16-bit shifts; the bits kept stay within
    // their byte).
    const __m256i lo_high = p % 2 == 0 ? _mm256_slli_epi16(qh, 4) : qh;
    const __m256i hi_high = p % 2 == 0 ? _mm256_slli_epi16(qh, 2) : _mm256_srli_epi16(qh, 2);
    const __m256i lo = select_bits(low_mask, ql, _mm256_and_si256(lo_high, top_bits));
    const __m256i hi =
        select_bits(low_mask, _mm256_srli_epi16(ql, 4), _mm256_and_si256(hi_high, top_bits));
    lo_sum = _mm256_dpbusd_epi32(lo_sum, lo, broadcast4(yq + 4 * k));
    hi_sum = _mm256_dpbusd_epi32(hi_sum, hi, broadcast4(yq + 32 + 4 * k));
  }
  return lo_sum;
}

__m256 q6_k_row(int64_t nb, const PackedQ6_K* w, const uint8_t* a) {
  const auto* act = reinterpret_cast<const BlockQ8_K*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PackedQ6_K& blk = w[b];
    prefetch_block(w, b + kSuperBlocksAhead);
    __m256i offset = _mm256_setzero_si256();
    // [m][0]: sub-block 2m's scales, [m][1]: 2m + 1's, as s32 lanes.
    __m256i scale[8][2];
    for (int m = 0; m < 8; ++m) {
      const __m256i pairs =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales[m])));
      const auto lo = static_cast<uint16_t>(act[b].bsums[2 * m]);
      const auto hi = static_cast<uint16_t>(act[b].bsums[2 * m + 1]);
      offset =
          _mm256_add_epi32(offset, _mm256_madd_epi16(pairs, _mm256_set1_epi32(lo | (hi << 16))));
      scale[m][0] = _mm256_srai_epi32(_mm256_slli_epi32(pairs, 16), 16);
      scale[m][1] = _mm256_srai_epi32(pairs, 16);
    }
    // One total per chunk, so the sums are not one long chain.
    __m256i sum[4];
    for (int p = 0; p < 4; ++p) {
      const int8_t* yq = act[b].qs + 64 * p;
      sum[p] = _mm256_setzero_si256();
      for (int half = 0; half < 2; ++half) {
        __m256i hi_sum;
        const __m256i lo_sum = sub_block_sum(blk, yq, p, 4 * half, hi_sum);
        sum[p] = _mm256_add_epi32(sum[p], _mm256_mullo_epi32(lo_sum, scale[2 * p][half]));
        sum[p] = _mm256_add_epi32(sum[p], _mm256_mullo_epi32(hi_sum, scale[2 * p + 1][half]));
      }
    }
    const __m256i all =
        _mm256_add_epi32(_mm256_add_epi32(sum[0], sum[1]), _mm256_add_epi32(sum[2], sum[3]));
    const __m256i total = _mm256_sub_epi32(all, _mm256_slli_epi32(offset, 5));
    acc = _mm256_fmadd_ps(_mm256_mul_ps(row_scales(blk.d), _mm256_set1_ps(act[b].d)),
                          _mm256_cvtepi32_ps(total), acc);
  }
  return acc;
}

// ---- The tile: every group against every activation row ----

template <class Packed>
using RowFn = __m256 (*)(int64_t nb, const Packed* w, const uint8_t* a);

template <class Packed, int kValues, RowFn<Packed> Row>
void decode_tile(int64_t n_in, const uint8_t* w, int64_t n_groups, const uint8_t* a,
                 size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const int64_t nb = n_in / kValues;
  const auto* groups = reinterpret_cast<const Packed*>(w);
  for (int64_t g = 0; g < n_groups; ++g) {
    for (int64_t c = 0; c < n_cols; ++c) {
      const __m256 out = Row(nb, groups + g * nb, a + static_cast<size_t>(c) * a_stride);
      _mm256_storeu_ps(y + c * y_stride + g * kRowGroup, out);
    }
  }
}

constexpr std::array kDecode = {
    IsaInterleavedKernel{
        T::Q4_0,
        decode_tile<PackedQ4_0, 32, block32_row<PackedQ4_0, FourBit, rows8::SymmetricOffset<8>>>},
    IsaInterleavedKernel{
        T::Q5_0,
        decode_tile<PackedQ5_0, 32, block32_row<PackedQ5_0, FiveBit, rows8::SymmetricOffset<16>>>},
    IsaInterleavedKernel{
        T::Q4_1,
        decode_tile<PackedQ4_1, 32, block32_row<PackedQ4_1, FourBit, rows8::BlockMinimum>>},
    IsaInterleavedKernel{
        T::Q5_1,
        decode_tile<PackedQ5_1, 32, block32_row<PackedQ5_1, FiveBit, rows8::BlockMinimum>>},
    IsaInterleavedKernel{T::Q8_0, decode_tile<PackedQ8_0, 32, q8_0_row>},
    IsaInterleavedKernel{T::Q4_K, decode_tile<PackedQ4_K, kQK_K, affine_k_row<Q4K>>, true},
    IsaInterleavedKernel{T::Q6_K, decode_tile<PackedQ6_K, kQK_K, q6_k_row>, true},
};

}  // namespace

std::span<const IsaInterleavedKernel> avx512_decode_kernels() {
  return kDecode;
}

}  // namespace bottega::kernels
