// dequantize_chunk(row_byte, chunk, count, v): values 32*chunk .. 32*chunk + 31 of the weight row
// that starts at byte row_byte, for the type named by one WEIGHT_TYPE_* define. Every type is
// decoded 32 values at a time (a block of the 32-value types, a sub-block pair of the K-quants'
// 256-value super-blocks), so matmul and get_rows share one loop. count (<= 32) matters only for
// the float types, whose rows may end inside a chunk; values past it are 0.

#if defined(WEIGHT_TYPE_F32)
void dequantize_chunk(uint row_byte, uint chunk, uint count, out float v[32]) {
  const uint base = row_byte + chunk * 128u;
  for (uint i = 0u; i < 32u; ++i) v[i] = i < count ? uintBitsToFloat(read_u32(base + 4u * i)) : 0.0;
}

#elif defined(WEIGHT_TYPE_F16)
void dequantize_chunk(uint row_byte, uint chunk, uint count, out float v[32]) {
  const uint base = row_byte + chunk * 64u;
  for (uint i = 0u; i < 32u; ++i) v[i] = i < count ? read_f16(base + 2u * i) : 0.0;
}

#elif defined(WEIGHT_TYPE_BF16)
void dequantize_chunk(uint row_byte, uint chunk, uint count, out float v[32]) {
  const uint base = row_byte + chunk * 64u;
  for (uint i = 0u; i < 32u; ++i) {
    v[i] = i < count ? uintBitsToFloat(read_u16(base + 2u * i) << 16u) : 0.0;
  }
}

#elif defined(WEIGHT_TYPE_Q8_0)
// 34 bytes: half d, 32 signed bytes.
void dequantize_chunk(uint row_byte, uint chunk, uint count, out float v[32]) {
  const uint base = row_byte + chunk * 34u;
  const float d = read_f16(base);
  for (uint w = 0u; w < 8u; ++w) {
    const uint word = read_u32(base + 2u + 4u * w);
    for (uint k = 0u; k < 4u; ++k) v[4u * w + k] = d * float(signed_byte_of(word, k));
  }
}

#elif defined(WEIGHT_TYPE_Q4_0) || defined(WEIGHT_TYPE_Q4_1)
// Q4_0, 18 bytes: half d, 16 bytes of nibbles (value j low, j + 16 high); d * (q - 8).
// Q4_1, 20 bytes: half d, half m, nibbles as Q4_0; d * q + m.
void dequantize_chunk(uint row_byte, uint chunk, uint count, out float v[32]) {
#if defined(WEIGHT_TYPE_Q4_0)
  const uint base = row_byte + chunk * 18u;
  const float d = read_f16(base);
  const float m = 0.0;
  const int zero = 8;
  const uint quants = base + 2u;
#else
  const uint base = row_byte + chunk * 20u;
  const float d = read_f16(base);
  const float m = read_f16(base + 2u);
  const int zero = 0;
  const uint quants = base + 4u;
#endif
  for (uint w = 0u; w < 4u; ++w) {
    const uint word = read_u32(quants + 4u * w);
    for (uint k = 0u; k < 4u; ++k) {
      const uint q = byte_of(word, k);
      v[4u * w + k] = d * float(int(q & 15u) - zero) + m;
      v[4u * w + k + 16u] = d * float(int(q >> 4u) - zero) + m;
    }
  }
}

#elif defined(WEIGHT_TYPE_Q5_0) || defined(WEIGHT_TYPE_Q5_1)
// Q5_0, 22 bytes: half d, 32 high bits (bit j of a little-endian word: value j), nibbles as Q4_0;
// d * (q - 16). Q5_1, 24 bytes: half d, half m, then as Q5_0; d * q + m.
void dequantize_chunk(uint row_byte, uint chunk, uint count, out float v[32]) {
#if defined(WEIGHT_TYPE_Q5_0)
  const uint base = row_byte + chunk * 22u;
  const float d = read_f16(base);
  const float m = 0.0;
  const int zero = 16;
  const uint high_bits = read_u32(base + 2u);
  const uint quants = base + 6u;
#else
  const uint base = row_byte + chunk * 24u;
  const float d = read_f16(base);
  const float m = read_f16(base + 2u);
  const int zero = 0;
  const uint high_bits = read_u32(base + 4u);
  const uint quants = base + 8u;
#endif
  for (uint w = 0u; w < 4u; ++w) {
    const uint word = read_u32(quants + 4u * w);
    for (uint k = 0u; k < 4u; ++k) {
      const uint j = 4u * w + k;
      const uint q = byte_of(word, k);
      const uint low = (q & 15u) | (((high_bits >> j) & 1u) << 4u);
      const uint high = (q >> 4u) | (((high_bits >> (j + 16u)) & 1u) << 4u);
      v[j] = d * float(int(low) - zero) + m;
      v[j + 16u] = d * float(int(high) - zero) + m;
    }
  }
}

#elif defined(WEIGHT_TYPE_Q4_K) || defined(WEIGHT_TYPE_Q5_K)
#include "kquant_chunk.glsl"

void dequantize_chunk(uint row_byte, uint chunk, uint count, out float v[32]) {
  uint levels[8];
  float scale, minimum;
  kquant_chunk_levels(row_byte, chunk, levels, scale, minimum);
  for (uint w = 0u; w < 8u; ++w) {
    for (uint k = 0u; k < 4u; ++k) v[4u * w + k] = scale * float(byte_of(levels[w], k)) - minimum;
  }
}

#elif defined(WEIGHT_TYPE_Q6_K)
#include "q6k_chunk.glsl"

void dequantize_chunk(uint row_byte, uint chunk, uint count, out float v[32]) {
  uint levels[8];
  vec2 scales;
  q6k_chunk_levels(row_byte, chunk, levels, scales);
  for (uint w = 0u; w < 8u; ++w) {
    for (uint b = 0u; b < 4u; ++b) {
      const uint l = 4u * w + b;
      v[l] = (l < 16u ? scales.x : scales.y) * float(int(byte_of(levels[w], b)) - 32);
    }
  }
}

#elif defined(WEIGHT_TYPE_MXFP4)
// 17 bytes: an E8M0 exponent e, then 16 bytes of E2M1 codes (value j in the low nibble, j + 16 in
// the high one): bit 3 the sign, bits 0..2 index 0, 0.5, 1, 1.5, 2, 3, 4, 6; times 2^(e - 127).
float mxfp4_value(uint code) {
  const float magnitude[8] = float[8](0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0);
  const float m = magnitude[code & 7u];
  return (code & 8u) != 0u ? -m : m;
}

void dequantize_chunk(uint row_byte, uint chunk, uint count, out float v[32]) {
  const uint base = row_byte + chunk * 17u;
  const uint e = read_u8(base);
  // 2^(e - 127) as float bits; e = 0 is the subnormal 2^-127.
  const float d = uintBitsToFloat(e == 0u ? 0x00400000u : e << 23u);
  for (uint j = 0u; j < 16u; ++j) {
    const uint codes = read_u8(base + 1u + j);
    v[j] = d * mxfp4_value(codes & 15u);
    v[j + 16u] = d * mxfp4_value(codes >> 4u);
  }
}

#else
#error "define one WEIGHT_TYPE_*"
#endif
