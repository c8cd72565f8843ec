// Interleaved weight layouts for the SIMD matrix kernels, and conversion to and from them.
//
// A stored weight matrix keeps each row's blocks together; a SIMD lane then holds one row's
// partial sum and every output costs a horizontal sum and a scalar scale product per block.
// Interleaving kRowGroup rows block by block lets one 256-bit register hold 4 consecutive quants
// of each of 8 rows, so the integer dot products of 8 rows come out as the 8 lanes of one register
// and the 8 rows' scales are one vector: no horizontal sums, and each loaded weight block serves
// every token of a tile.
//
// Layouts (per group of 8 rows and per block b, groups of blocks contiguous):
//   Q4_0: d[8] (half, row r), then qs[128]: byte 32 j + 4 r + i holds element 4 j + i of row r in
//         its low nibble and element 16 + 4 j + i in its high nibble (j < 4, i < 4).
//   Q5_0: d[8], qh[32], then qs[128] as Q4_0's. Bit 4 of the quants sits beside the nibbles it
//         completes: bit j of qh byte 4 r + i is bit 4 of row r's element 4 j + i, bit 4 + j that
//         of element 16 + 4 j + i (j < 4). The same 176 bytes as 8 stored blocks.
//   Q4_1: d[8], m[8] (half, row r), then qs[128] as Q4_0's. The same 160 bytes as 8 stored blocks.
//   Q5_1: d[8], m[8], then qh[32] and qs[128] as Q5_0's. The same 192 bytes as 8 stored blocks.
//   Q8_0: d[8], then qs[256]: byte 32 g + 4 r + i is element 4 g + i of row r (g < 8).
//   Q4_K: d[8], dmin[8], the 6-bit scales and mins unpacked to bytes, and qs: in chunk p (64
//         values, sub-blocks 2p and 2p + 1) byte 32 k + 4 r + i is row r's qs[32 p + 4 k + i]
//         (nibbles as the row layout: low in sub-block 2p, high in 2p + 1). 1184 bytes instead of
//         1152: unpacked scales save work in every token's dot product.
//   Q5_K: Q4_K's layout plus qh[8][32]: byte 4 r + i of group k is row r's qh[4 k + i], so one
//         load serves all 4 chunks (bits 2p and 2p + 1 complete chunk p's low and high nibbles).
//         1440 bytes instead of 1408.
//   Q6_K: d[8], scales in pairs of sub-blocks, then the 6-bit quants q of each row as 4 low bits
//         (ql, as Q4_K's qs: byte 32 k + 4 r + i of chunk p holds q[64 p + 4 k + i] low and
//         q[64 p + 32 + 4 k + i] high) and 2 high bits (qh: bits 2t, 2t + 1 of byte 32 k + 4 r + i
//         of half h belong to q[128 h + 32 t + 4 k + i]).
//   F16, BF16: no blocks; the rows' values in pairs: value 16 j + 2 r + p is row r's element
//         2 j + p (n_in even). One 32-byte load widens to a float register of 8 rows x 2 values,
//         which a broadcast pair of activation values multiplies: no horizontal sums either.
#pragma once

#include <cstdint>
#include <span>

#include "tensor/types.h"

namespace bottega::kernels {

inline constexpr int64_t kRowGroup = 8;

struct PackedQ4_0 {
  uint16_t d[kRowGroup];
  uint8_t qs[kRowGroup * 16];
};
static_assert(sizeof(PackedQ4_0) == 8 * 18);

struct PackedQ5_0 {
  uint16_t d[kRowGroup];
  uint8_t qh[kRowGroup * 4];
  uint8_t qs[kRowGroup * 16];
};
static_assert(sizeof(PackedQ5_0) == 8 * 22);

struct PackedQ4_1 {
  uint16_t d[kRowGroup];
  uint16_t m[kRowGroup];
  uint8_t qs[kRowGroup * 16];
};
static_assert(sizeof(PackedQ4_1) == 8 * 20);

struct PackedQ5_1 {
  uint16_t d[kRowGroup];
  uint16_t m[kRowGroup];
  uint8_t qh[kRowGroup * 4];
  uint8_t qs[kRowGroup * 16];
};
static_assert(sizeof(PackedQ5_1) == 8 * 24);

struct PackedQ8_0 {
  uint16_t d[kRowGroup];
  int8_t qs[kRowGroup * 32];
};
static_assert(sizeof(PackedQ8_0) == 8 * 34);

struct PackedQ4_K {
  uint16_t d[kRowGroup];
  uint16_t dmin[kRowGroup];
  uint8_t scales[8][kRowGroup];   // [sub-block j][row r]
  uint8_t mins[4][kRowGroup][2];  // [pair p][row r][sub-block j - 2p]
  uint8_t qs[4][8][32];           // [chunk p][group k][4 r + i]
};
static_assert(sizeof(PackedQ4_K) == 1184);

struct PackedQ5_K {
  uint16_t d[kRowGroup];
  uint16_t dmin[kRowGroup];
  uint8_t scales[8][kRowGroup];   // as PackedQ4_K
  uint8_t mins[4][kRowGroup][2];  // as PackedQ4_K
  uint8_t qh[8][32];              // [group k][4 r + i]
  uint8_t qs[4][8][32];           // as PackedQ4_K
};
static_assert(sizeof(PackedQ5_K) == 1440);

struct PackedQ6_K {
  uint16_t d[kRowGroup];
  int8_t scales[8][kRowGroup][2];  // [pair m][row r][sub-block j - 2m], 16 sub-blocks of 16
  uint8_t ql[4][8][32];            // [chunk p][group k][4 r + i]
  uint8_t qh[2][8][32];            // [half h][group k][4 r + i]
};
static_assert(sizeof(PackedQ6_K) == 8 * 210);

// An activation block for the interleaved kernels: a Q8_0 block (quants and scale exactly as the
// Q8_0 quantizer writes them) with the scale widened to float and 8 * d * sum(qs), which applies
// Q4_0's offset of 8 once per block (one FMA with the rows' scales) instead of once per value
// (Q5_0's offset of 16 is twice it).
struct ActivationQ8 {
  float d;
  float offset8;
  int8_t qs[32];
};

// An activation block for the interleaved Q4_1/Q5_1 kernels: a Q8_1 block (as its quantizer
// writes it) with d and s = d * sum(qs) widened to float, so the minimum term is one FMA per block
// with the rows' m as a vector.
struct ActivationQ8_1 {
  float d;
  float s;
  int8_t qs[32];
};

// An activation block for the MXFP4 packing kernel: a Q8_0 block with its scale widened to float
// and its quants offset by 128 (as unsigned bytes), so vpdpbusd takes them as its unsigned
// operand and the signed MXFP4 values as the other; the offset's term, 128 times the sum of the
// weights, is known once the weights are packed.
struct ActivationQ8Unsigned {
  float d;
  uint8_t qs[32];
};

// Dot products of row groups with activation rows: for groups g < n_groups (contiguous from w)
// and activation rows c < n_cols (a_stride bytes apart; ActivationQ8 blocks for Q4_0/Q5_0/Q8_0,
// ActivationQ8_1 for Q4_1/Q5_1, BlockQ8_K for the K-quants), y[c * y_stride + 8 g + r] = dot(row r
// of group g, row c).
using InterleavedTileFn = void (*)(int64_t n_in, const uint8_t* w, int64_t n_groups,
                                   const uint8_t* a, size_t a_stride, int64_t n_cols, float* y,
                                   int64_t y_stride);

// Whether a matrix of this type and shape has an interleaved layout (n_out a multiple of 8; for
// F16 and BF16, n_in even).
bool can_interleave(TensorType type, int64_t n_in, int64_t n_out);

// Bytes of one group of 8 interleaved rows of n_in values.
size_t interleaved_group_bytes(TensorType type, int64_t n_in);

// Rewrites a stored n_out x n_in matrix (GGUF row layout) into the interleaved layout; dst holds
// n_out / 8 groups.
void interleave_rows(TensorType type, int64_t n_in, int64_t n_out, const uint8_t* src,
                     uint8_t* dst);

// Writes row r of an interleaved matrix in the stored row layout (row_bytes(type, n_in) bytes).
void extract_row(TensorType type, int64_t n_in, const uint8_t* packed, int64_t r, uint8_t* row);

}  // namespace bottega::kernels
