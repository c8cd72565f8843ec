// weight_chunk_bytes(row_byte, chunk, q, scales): values 32*chunk .. 32*chunk + 31 of a quantized
// weight row as signed bytes, for packed int8 dot products: value 4k + b in byte b of q[k], and
// value i = (i < 16 ? scales.x : scales.y) * q_i + scales.z. One WEIGHT_TYPE_* define picks the
// type; blocks as dequantize.glsl describes them. Levels with an offset (Q4_0's q - 8, Q5_0's
// q - 16, Q6_K's q - 32) are shifted byte-wise: adding 0x80 - offset to a byte below 0x80 and
// flipping its top bit gives the byte's two's complement of level - offset.

uint shifted_bytes(uint levels, uint offset) {
  return (levels + (0x80u - offset) * 0x01010101u) ^ 0x80808080u;
}

// Bits 0..3 of `bits` to bit 4 of bytes 0..3.
uint spread_to_bit4(uint bits) {
  return ((bits & 1u) << 4u) | ((bits & 2u) << 11u) | ((bits & 4u) << 18u) | ((bits & 8u) << 25u);
}

#if defined(WEIGHT_TYPE_Q8_0)
void weight_chunk_bytes(uint row_byte, uint chunk, out uint q[8], out vec3 scales) {
  const uint base = row_byte + chunk * 34u;
  const float d = read_f16(base);
  scales = vec3(d, d, 0.0);
  for (uint k = 0u; k < 8u; ++k) q[k] = read_u32(base + 2u + 4u * k);
}

#elif defined(WEIGHT_TYPE_Q4_0) || defined(WEIGHT_TYPE_Q4_1)
void weight_chunk_bytes(uint row_byte, uint chunk, out uint q[8], out vec3 scales) {
#if defined(WEIGHT_TYPE_Q4_0)
  const uint base = row_byte + chunk * 18u;
  const float d = read_f16(base);
  scales = vec3(d, d, 0.0);
  const uint quants = base + 2u;
  const uint offset = 8u;
#else
  const uint base = row_byte + chunk * 20u;
  const float d = read_f16(base);
  scales = vec3(d, d, read_f16(base + 2u));
  const uint quants = base + 4u;
  const uint offset = 0u;
#endif
  for (uint k = 0u; k < 4u; ++k) {
    const uint word = read_u32(quants + 4u * k);
    q[k] = shifted_bytes(word & 0x0F0F0F0Fu, offset);
    q[k + 4u] = shifted_bytes((word >> 4u) & 0x0F0F0F0Fu, offset);
  }
}

#elif defined(WEIGHT_TYPE_Q5_0) || defined(WEIGHT_TYPE_Q5_1)
void weight_chunk_bytes(uint row_byte, uint chunk, out uint q[8], out vec3 scales) {
#if defined(WEIGHT_TYPE_Q5_0)
  const uint base = row_byte + chunk * 22u;
  const float d = read_f16(base);
  scales = vec3(d, d, 0.0);
  const uint high_bits = read_u32(base + 2u);
  const uint quants = base + 6u;
  const uint offset = 16u;
#else
  const uint base = row_byte + chunk * 24u;
  const float d = read_f16(base);
  scales = vec3(d, d, read_f16(base + 2u));
  const uint high_bits = read_u32(base + 4u);
  const uint quants = base + 8u;
  const uint offset = 0u;
#endif
  for (uint k = 0u; k < 4u; ++k) {
    const uint word = read_u32(quants + 4u * k);
    const uint low = (word & 0x0F0F0F0Fu) | spread_to_bit4((high_bits >> (4u * k)) & 15u);
    const uint high =
        ((word >> 4u) & 0x0F0F0F0Fu) | spread_to_bit4((high_bits >> (16u + 4u * k)) & 15u);
    q[k] = shifted_bytes(low, offset);
    q[k + 4u] = shifted_bytes(high, offset);
  }
}

#elif defined(WEIGHT_TYPE_Q4_K) || defined(WEIGHT_TYPE_Q5_K)
#include "kquant_chunk.glsl"

void weight_chunk_bytes(uint row_byte, uint chunk, out uint q[8], out vec3 scales) {
  float scale, minimum;
  kquant_chunk_levels(row_byte, chunk, q, scale, minimum);
  scales = vec3(scale, scale, -minimum);
}

#elif defined(WEIGHT_TYPE_Q6_K)
#include "q6k_chunk.glsl"

void weight_chunk_bytes(uint row_byte, uint chunk, out uint q[8], out vec3 scales) {
  vec2 half_scales;
  q6k_chunk_levels(row_byte, chunk, q, half_scales);
  for (uint k = 0u; k < 8u; ++k) q[k] = shifted_bytes(q[k], 32u);
  scales = vec3(half_scales, 0.0);
}

#elif defined(WEIGHT_TYPE_MXFP4)
// E2M1 magnitudes doubled (0, 1, 2, 3, 4, 6, 8, 12) so they are integers; the scale halves.
int mxfp4_level(uint code) {
  const int doubled[8] = int[8](0, 1, 2, 3, 4, 6, 8, 12);
  const int m = doubled[code & 7u];
  return (code & 8u) != 0u ? -m : m;
}

void weight_chunk_bytes(uint row_byte, uint chunk, out uint q[8], out vec3 scales) {
  const uint base = row_byte + chunk * 17u;
  const uint e = read_u8(base);
  // 2^(e - 127) / 2 as float bits; e = 0 and 1 are the subnormals 2^-128 and 2^-127.
  const float d = uintBitsToFloat(e >= 2u ? (e - 1u) << 23u : 0x00200000u << e);
  scales = vec3(d, d, 0.0);
  for (uint k = 0u; k < 4u; ++k) {
    uint low = 0u, high = 0u;
    for (uint b = 0u; b < 4u; ++b) {
      const uint codes = read_u8(base + 1u + 4u * k + b);
      low |= (uint(mxfp4_level(codes & 15u)) & 0xFFu) << (8u * b);
      high |= (uint(mxfp4_level(codes >> 4u)) & 0xFFu) << (8u * b);
    }
    q[k] = low;
    q[k + 4u] = high;
  }
}

#else
#error "define one quantized WEIGHT_TYPE_*"
#endif
