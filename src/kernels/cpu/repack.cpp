#include "kernels/cpu/repack.h"

#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "tensor/blocks.h"

namespace bottega::kernels {
namespace {

template <class Block>
constexpr int64_t values_per_block() {
  return std::is_same_v<Block, BlockQ4_K> || std::is_same_v<Block, BlockQ5_K> ||
                 std::is_same_v<Block, BlockQ6_K>
             ? kQK_K
             : 32;
}

// Most layouts move a row's bytes in runs of 4: packed byte 32 j + 4 r + i is the row's byte
// 4 j + i (for the blocks of 32, qs byte 4 j + i: element 4 j + i, or for the nibble types elements
// 4 j + i and 16 + 4 j + i).
void scatter_runs(const uint8_t* row, int n_bytes, int64_t r, uint8_t* packed) {
  for (int j = 0; j < n_bytes / 4; ++j) std::memcpy(packed + 32 * j + 4 * r, row + 4 * j, 4);
}

void gather_runs(const uint8_t* packed, int n_bytes, int64_t r, uint8_t* row) {
  for (int j = 0; j < n_bytes / 4; ++j) std::memcpy(row + 4 * j, packed + 32 * j + 4 * r, 4);
}

// Q5_0/Q5_1's qh is a little-endian word whose bit e is bit 4 of element e; packed, the bits of
// elements 4 j + i and 16 + 4 j + i (j < 4) gather in byte 4 r + i (bits j and 4 + j).
void scatter_high_bits(const uint8_t* qh, int64_t r, uint8_t* packed) {
  uint32_t high;
  std::memcpy(&high, qh, 4);
  for (int i = 0; i < 4; ++i) {
    uint8_t bits = 0;
    for (int j = 0; j < 8; ++j) bits |= static_cast<uint8_t>(((high >> (4 * j + i)) & 1) << j);
    packed[4 * r + i] = bits;
  }
}

void gather_high_bits(const uint8_t* packed, int64_t r, uint8_t* qh) {
  uint32_t high = 0;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j)
      high |= static_cast<uint32_t>((packed[4 * r + i] >> j) & 1) << (4 * j + i);
  }
  std::memcpy(qh, &high, 4);
}

template <class Block>
concept HasMinimum = requires(Block b) {
  b.m;
};
template <class Block>
concept HasHighBits = requires(Block b) {
  b.qh;
};

template <class Block, class Packed>
void pack_block32(const Block* rows[kRowGroup], int64_t b, Packed& out) {
  for (int64_t r = 0; r < kRowGroup; ++r) {
    const Block& in = rows[r][b];
    out.d[r] = in.d;
    if constexpr (HasMinimum<Block>) out.m[r] = in.m;
    if constexpr (HasHighBits<Block>) scatter_high_bits(in.qh, r, out.qh);
    scatter_runs(reinterpret_cast<const uint8_t*>(in.qs), sizeof(in.qs), r,
                 reinterpret_cast<uint8_t*>(out.qs));
  }
}

template <class Packed, class Block>
void unpack_block32(const Packed& in, int64_t r, Block& out) {
  out.d = in.d[r];
  if constexpr (HasMinimum<Block>) out.m = in.m[r];
  if constexpr (HasHighBits<Block>) gather_high_bits(in.qh, r, out.qh);
  gather_runs(reinterpret_cast<const uint8_t*>(in.qs), sizeof(out.qs), r,
              reinterpret_cast<uint8_t*>(out.qs));
}

// Q4_K and Q5_K share d, dmin, the 6-bit scales and mins and the nibbles (field names alike).
template <class Block, class Packed>
void pack_affine_k(const Block& in, int r, Packed& out) {
  out.d[r] = in.d;
  out.dmin[r] = in.dmin;
  // The 6-bit scales and mins (blocks.h): sub-blocks 0..3 in the low bits of bytes 0..7,
  // 4..7 split between bytes 8..11 and the top bits of bytes 0..7.
  const uint8_t* p = in.scales;
  for (int j = 0; j < 4; ++j) {
    out.scales[j][r] = p[j] & 63;
    out.scales[j + 4][r] = static_cast<uint8_t>((p[j + 8] & 0xf) | ((p[j] >> 6) << 4));
    const uint8_t min_low = p[j + 4] & 63;
    const auto min_high = static_cast<uint8_t>((p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4));
    out.mins[j / 2][r][j % 2] = min_low;
    out.mins[(j + 4) / 2][r][j % 2] = min_high;
  }
  for (int c = 0; c < 4; ++c) scatter_runs(in.qs + 32 * c, 32, r, &out.qs[c][0][0]);
}

template <class Packed, class Block>
void unpack_affine_k(const Packed& in, int64_t r, Block& out) {
  out.d = in.d[r];
  out.dmin = in.dmin[r];
  for (int j = 0; j < 4; ++j) {
    const uint8_t scale_high = in.scales[j + 4][r];
    const uint8_t min_low = in.mins[j / 2][r][j % 2];
    const uint8_t min_high = in.mins[(j + 4) / 2][r][j % 2];
    out.scales[j] = static_cast<uint8_t>(in.scales[j][r] | ((scale_high >> 4) << 6));
    out.scales[j + 4] = static_cast<uint8_t>(min_low | ((min_high >> 4) << 6));
    out.scales[j + 8] = static_cast<uint8_t>((scale_high & 0xf) | ((min_high & 0xf) << 4));
  }
  for (int c = 0; c < 4; ++c) gather_runs(&in.qs[c][0][0], 32, r, out.qs + 32 * c);
}

void pack_q4_k(const BlockQ4_K* rows[kRowGroup], int64_t b, PackedQ4_K& out) {
  for (int r = 0; r < kRowGroup; ++r) pack_affine_k(rows[r][b], r, out);
}

void unpack_q4_k(const PackedQ4_K& in, int64_t r, BlockQ4_K& out) {
  unpack_affine_k(in, r, out);
}

// A Q5_K row's qh[l] holds bit 4 of elements 32 t + l (bit t): the row's bytes move in runs of 4.
void pack_q5_k(const BlockQ5_K* rows[kRowGroup], int64_t b, PackedQ5_K& out) {
  for (int r = 0; r < kRowGroup; ++r) {
    const BlockQ5_K& in = rows[r][b];
    pack_affine_k(in, r, out);
    scatter_runs(in.qh, 32, r, &out.qh[0][0]);
  }
}

void unpack_q5_k(const PackedQ5_K& in, int64_t r, BlockQ5_K& out) {
  unpack_affine_k(in, r, out);
  gather_runs(&in.qh[0][0], 32, r, out.qh);
}

// The 256 6-bit quants of a Q6_K block, in element order, written back in the stored layout
// (blocks.h).
void store_q6_k_values(const uint8_t q[kQK_K], BlockQ6_K& out) {
  std::memset(out.ql, 0, sizeof(out.ql));
  std::memset(out.qh, 0, sizeof(out.qh));
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t v = q[128 * h + 32 * k + l];
        out.ql[64 * h + l + 32 * (k % 2)] |= static_cast<uint8_t>(k < 2 ? v & 0xf : (v & 0xf) << 4);
        out.qh[32 * h + l] |= static_cast<uint8_t>((v >> 4) << (2 * k));
      }
    }
  }
}

// Byte for byte from the stored block (layout in blocks.h), no values in between: prompts over
// expert matrices pack rows on the fly (matmul.cpp). Stored ql byte l of half h holds the low bits
// of element 128 h + l (low nibble) and 128 h + 64 + l (high), byte 32 + l those of 128 h + 32 + l
// and 128 h + 96 + l; chunk p = 2 h + s takes the nibbles of elements 64 p + l and 64 p + 32 + l.
// The qh bytes are in the packed order already, 32 per half.
void pack_q6_k(const BlockQ6_K* rows[kRowGroup], int64_t b, PackedQ6_K& out) {
  for (int r = 0; r < kRowGroup; ++r) {
    const BlockQ6_K& in = rows[r][b];
    out.d[r] = in.d;
    for (int j = 0; j < 16; ++j) out.scales[j / 2][r][j % 2] = in.scales[j];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* first = in.ql + 64 * h;
      const uint8_t* second = first + 32;
      uint8_t low_chunk[32], high_chunk[32];
      for (int l = 0; l < 32; ++l) {
        low_chunk[l] = static_cast<uint8_t>((first[l] & 0x0f) | (second[l] << 4));
        high_chunk[l] = static_cast<uint8_t>((first[l] >> 4) | (second[l] & 0xf0));
      }
      scatter_runs(low_chunk, 32, r, &out.ql[2 * h][0][0]);
      scatter_runs(high_chunk, 32, r, &out.ql[2 * h + 1][0][0]);
      scatter_runs(in.qh + 32 * h, 32, r, &out.qh[h][0][0]);
    }
  }
}

void unpack_q6_k(const PackedQ6_K& in, int64_t r, BlockQ6_K& out) {
  out.d = in.d[r];
  for (int j = 0; j < 16; ++j) out.scales[j] = in.scales[j / 2][r][j % 2];
  uint8_t q[kQK_K];
  for (int k = 0; k < 8; ++k) {
    for (int i = 0; i < 4; ++i) {
      for (int p = 0; p < 4; ++p) {
        const uint8_t ql = in.ql[p][k][4 * r + i];
        q[64 * p + 4 * k + i] = ql & 0xf;
        q[64 * p + 32 + 4 * k + i] = ql >> 4;
      }
      for (int h = 0; h < 2; ++h) {
        for (int t = 0; t < 4; ++t) {
          const int high = (in.qh[h][k][4 * r + i] >> (2 * t)) & 3;
          q[128 * h + 32 * t + 4 * k + i] |= static_cast<uint8_t>(high << 4);
        }
      }
    }
  }
  store_q6_k_values(q, out);
}

template <class Block, class Packed, class PackFn>
void interleave(int64_t n_in, int64_t n_out, const uint8_t* src, uint8_t* dst, PackFn pack) {
  const int64_t nb = n_in / values_per_block<Block>();
  const size_t row_stride = static_cast<size_t>(nb) * sizeof(Block);
  auto* out = reinterpret_cast<Packed*>(dst);
  for (int64_t g = 0; g < n_out / kRowGroup; ++g) {
    const Block* rows[kRowGroup];
    for (int64_t r = 0; r < kRowGroup; ++r) {
      rows[r] =
          reinterpret_cast<const Block*>(src + static_cast<size_t>(g * kRowGroup + r) * row_stride);
    }
    for (int64_t b = 0; b < nb; ++b) pack(rows, b, out[g * nb + b]);
  }
}

template <class Block, class Packed, class UnpackFn>
void extract(int64_t n_in, const uint8_t* packed, int64_t r, uint8_t* row, UnpackFn unpack) {
  const int64_t nb = n_in / values_per_block<Block>();
  const auto* group = reinterpret_cast<const Packed*>(packed) + (r / kRowGroup) * nb;
  auto* out = reinterpret_cast<Block*>(row);
  for (int64_t b = 0; b < nb; ++b) unpack(group[b], r % kRowGroup, out[b]);
}

// F16 and BF16 move values in pairs (repack.h): pair j of row r of a group is value 16 j + 2 r.
void interleave_pairs16(int64_t n_in, int64_t n_out, const uint8_t* src, uint8_t* dst) {
  const size_t row_bytes = static_cast<size_t>(n_in) * sizeof(uint16_t);
  for (int64_t g = 0; g < n_out / kRowGroup; ++g) {
    uint8_t* group = dst + static_cast<size_t>(g) * kRowGroup * row_bytes;
    for (int64_t r = 0; r < kRowGroup; ++r) {
      const uint8_t* row = src + static_cast<size_t>(g * kRowGroup + r) * row_bytes;
      for (int64_t j = 0; j < n_in / 2; ++j) std::memcpy(group + 32 * j + 4 * r, row + 4 * j, 4);
    }
  }
}

void extract_pairs16(int64_t n_in, const uint8_t* packed, int64_t r, uint8_t* row) {
  const size_t row_bytes = static_cast<size_t>(n_in) * sizeof(uint16_t);
  const uint8_t* group = packed + static_cast<size_t>(r / kRowGroup) * kRowGroup * row_bytes;
  for (int64_t j = 0; j < n_in / 2; ++j) {
    std::memcpy(row + 4 * j, group + 32 * j + 4 * (r % kRowGroup), 4);
  }
}

}  // namespace

bool can_interleave(TensorType type, int64_t n_in, int64_t n_out) {
  const bool pairs16 = type == TensorType::F16 || type == TensorType::BF16;
  if (pairs16 && n_in % 2 != 0) return false;
  return (pairs16 || type == TensorType::Q4_0 || type == TensorType::Q4_1 ||
          type == TensorType::Q5_0 || type == TensorType::Q5_1 || type == TensorType::Q8_0 ||
          type == TensorType::Q4_K || type == TensorType::Q5_K || type == TensorType::Q6_K) &&
         n_out > 0 && n_out % kRowGroup == 0;
}

size_t interleaved_group_bytes(TensorType type, int64_t n_in) {
  switch (type) {
    case TensorType::Q4_0:
      return static_cast<size_t>(n_in / 32) * sizeof(PackedQ4_0);
    case TensorType::Q4_1:
      return static_cast<size_t>(n_in / 32) * sizeof(PackedQ4_1);
    case TensorType::Q5_0:
      return static_cast<size_t>(n_in / 32) * sizeof(PackedQ5_0);
    case TensorType::Q5_1:
      return static_cast<size_t>(n_in / 32) * sizeof(PackedQ5_1);
    case TensorType::Q8_0:
      return static_cast<size_t>(n_in / 32) * sizeof(PackedQ8_0);
    case TensorType::Q4_K:
      return static_cast<size_t>(n_in / kQK_K) * sizeof(PackedQ4_K);
    case TensorType::Q5_K:
      return static_cast<size_t>(n_in / kQK_K) * sizeof(PackedQ5_K);
    case TensorType::Q6_K:
      return static_cast<size_t>(n_in / kQK_K) * sizeof(PackedQ6_K);
    case TensorType::F16:
    case TensorType::BF16:
      return static_cast<size_t>(n_in) * kRowGroup * sizeof(uint16_t);
    default:
      throw Error(str("no interleaved layout for ", type_name(type)));
  }
}

void interleave_rows(TensorType type, int64_t n_in, int64_t n_out, const uint8_t* src,
                     uint8_t* dst) {
  BOTTEGA_CHECK(can_interleave(type, n_in, n_out), "no interleaved layout for ", type_name(type),
                " with ", n_out, " rows of ", n_in);
  if (type == TensorType::F16 || type == TensorType::BF16) {
    interleave_pairs16(n_in, n_out, src, dst);
  } else if (type == TensorType::Q4_0) {
    interleave<BlockQ4_0, PackedQ4_0>(n_in, n_out, src, dst, pack_block32<BlockQ4_0, PackedQ4_0>);
  } else if (type == TensorType::Q5_0) {
    interleave<BlockQ5_0, PackedQ5_0>(n_in, n_out, src, dst, pack_block32<BlockQ5_0, PackedQ5_0>);
  } else if (type == TensorType::Q4_1) {
    interleave<BlockQ4_1, PackedQ4_1>(n_in, n_out, src, dst, pack_block32<BlockQ4_1, PackedQ4_1>);
  } else if (type == TensorType::Q5_1) {
    interleave<BlockQ5_1, PackedQ5_1>(n_in, n_out, src, dst, pack_block32<BlockQ5_1, PackedQ5_1>);
  } else if (type == TensorType::Q8_0) {
    interleave<BlockQ8_0, PackedQ8_0>(n_in, n_out, src, dst, pack_block32<BlockQ8_0, PackedQ8_0>);
  } else if (type == TensorType::Q4_K) {
    interleave<BlockQ4_K, PackedQ4_K>(n_in, n_out, src, dst, pack_q4_k);
  } else if (type == TensorType::Q5_K) {
    interleave<BlockQ5_K, PackedQ5_K>(n_in, n_out, src, dst, pack_q5_k);
  } else {
    interleave<BlockQ6_K, PackedQ6_K>(n_in, n_out, src, dst, pack_q6_k);
  }
}

void extract_row(TensorType type, int64_t n_in, const uint8_t* packed, int64_t r, uint8_t* row) {
  if (type == TensorType::F16 || type == TensorType::BF16) {
    extract_pairs16(n_in, packed, r, row);
  } else if (type == TensorType::Q4_0) {
    extract<BlockQ4_0, PackedQ4_0>(n_in, packed, r, row, unpack_block32<PackedQ4_0, BlockQ4_0>);
  } else if (type == TensorType::Q5_0) {
    extract<BlockQ5_0, PackedQ5_0>(n_in, packed, r, row, unpack_block32<PackedQ5_0, BlockQ5_0>);
  } else if (type == TensorType::Q4_1) {
    extract<BlockQ4_1, PackedQ4_1>(n_in, packed, r, row, unpack_block32<PackedQ4_1, BlockQ4_1>);
  } else if (type == TensorType::Q5_1) {
    extract<BlockQ5_1, PackedQ5_1>(n_in, packed, r, row, unpack_block32<PackedQ5_1, BlockQ5_1>);
  } else if (type == TensorType::Q8_0) {
    extract<BlockQ8_0, PackedQ8_0>(n_in, packed, r, row, unpack_block32<PackedQ8_0, BlockQ8_0>);
  } else if (type == TensorType::Q4_K) {
    extract<BlockQ4_K, PackedQ4_K>(n_in, packed, r, row, unpack_q4_k);
  } else if (type == TensorType::Q5_K) {
    extract<BlockQ5_K, PackedQ5_K>(n_in, packed, r, row, unpack_q5_k);
  } else {
    BOTTEGA_CHECK(type == TensorType::Q6_K, "no interleaved layout for ", type_name(type));
    extract<BlockQ6_K, PackedQ6_K>(n_in, packed, r, row, unpack_q6_k);
  }
}

}  // namespace bottega::kernels
