// Q4_K and Q5_K: super-blocks of 256 values in 8 sub-blocks of 32 (one chunk each): half d, half
// dmin, 12 bytes of packed 6-bit scales and mins, [Q5_K: 32 bytes of high bits,] 128 bytes of
// nibbles. Sub-block j holds the low (j even) or high (j odd) nibbles of bytes 32*(j/2) ..
// 32*(j/2) + 31; Q5_K's fifth bit of its value l is bit j of high-bit byte l.
// value = d * scale * q - dmin * min. Shared by dequantize.glsl and weight_bytes.glsl.

// Sub-block j's 6-bit scale and min of a Q4_K/Q5_K super-block, from its 12 packed bytes at
// byte `scales`: bytes 0..3 hold scales 0..3 and bytes 4..7 mins 0..3 in their low 6 bits; scales
// and mins 4..7 take their low 4 bits from bytes 8..11 and their top 2 from the spare bits of
// bytes 0..7.
uvec2 scale_and_min(uint scales, uint j) {
  if (j < 4u) return uvec2(read_u8(scales + j) & 63u, read_u8(scales + j + 4u) & 63u);
  const uint packed = read_u8(scales + j + 4u);
  return uvec2((packed & 15u) | ((read_u8(scales + j - 4u) >> 6u) << 4u),
               (packed >> 4u) | ((read_u8(scales + j) >> 6u) << 4u));
}

// Chunk `chunk` of the row at byte row_byte: its levels q (0..31) as bytes, value 4k + b in byte b
// of levels[k], and value = scale * q - minimum.
void kquant_chunk_levels(uint row_byte, uint chunk, out uint levels[8], out float scale,
                         out float minimum) {
#if defined(WEIGHT_TYPE_Q4_K)
  const uint base = row_byte + (chunk / 8u) * 144u;
  const uint quants = base + 16u;
#else
  const uint base = row_byte + (chunk / 8u) * 176u;
  const uint high_bits = base + 16u;
  const uint quants = base + 48u;
#endif
  const uint j = chunk % 8u;
  const uvec2 sm = scale_and_min(base + 4u, j);
  scale = read_f16(base) * float(sm.x);
  minimum = read_f16(base + 2u) * float(sm.y);
  const uint shift = (j & 1u) * 4u;
  for (uint k = 0u; k < 8u; ++k) {
    levels[k] = (read_u32(quants + 32u * (j / 2u) + 4u * k) >> shift) & 0x0F0F0F0Fu;
#if defined(WEIGHT_TYPE_Q5_K)
    levels[k] |= ((read_u32(high_bits + 4u * k) >> j) & 0x01010101u) << 4u;
#endif
  }
}
