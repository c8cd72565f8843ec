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
