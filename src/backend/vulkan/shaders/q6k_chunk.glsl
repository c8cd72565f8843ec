// Q6_K: super-blocks of 256 values, 210 bytes: 128 bytes of low nibbles (ql), 64 bytes of high
// bit pairs (qh), 16 signed scales (one per 16 values), half d. Chunk c is values 32*k + l
// (l < 32) of half h = c/4 (k = c%4): low bits in ql[64h + 32(k%2) + l] (high nibble for k >= 2),
// high bits at bit 2k of qh[32h + l]. value = d * scale * (q - 32). Shared by dequantize.glsl and
// weight_bytes.glsl.

// Chunk `chunk` of the row at byte row_byte: its levels q (0..63) as bytes, value 4w + b in byte b
// of levels[w]; values 0..15 take scales.x, 16..31 scales.y (d times each signed scale).
void q6k_chunk_levels(uint row_byte, uint chunk, out uint levels[8], out vec2 scales) {
  const uint base = row_byte + (chunk / 8u) * 210u;
  const uint c = chunk % 8u;
  const uint h = c / 4u;
  const uint k = c % 4u;
  const float d = read_f16(base + 208u);
  const uint low_bytes = base + 64u * h + 32u * (k % 2u);
  const uint low_shift = (k / 2u) * 4u;
  const uint high_bytes = base + 128u + 32u * h;
  const uint scale_bytes = base + 192u + 8u * h + 2u * k;
  scales = vec2(d * float(bitfieldExtract(int(read_u8(scale_bytes)), 0, 8)),
                d * float(bitfieldExtract(int(read_u8(scale_bytes + 1u)), 0, 8)));
  for (uint w = 0u; w < 8u; ++w) {
    const uint low = (read_u32(low_bytes + 4u * w) >> low_shift) & 0x0F0F0F0Fu;
    const uint high = ((read_u32(high_bytes + 4u * w) >> (2u * k)) & 0x03030303u) << 4u;
    levels[w] = low | high;
  }
}
