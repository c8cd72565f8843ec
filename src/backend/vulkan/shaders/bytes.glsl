// Reading the bytes of GGUF blocks from a buffer of 32-bit words. Blocks of 18, 22 or 210 bytes
// are not 4-byte aligned, and 8/16-bit storage is an optional feature, so every read is a word
// read and shifts. The including shader declares `weight_words`.

uint read_u8(uint byte_offset) {
  return (weight_words[byte_offset >> 2] >> ((byte_offset & 3u) * 8u)) & 0xFFu;
}

// 4 bytes starting anywhere, little-endian.
uint read_u32(uint byte_offset) {
  const uint shift = (byte_offset & 3u) * 8u;
  const uint low = weight_words[byte_offset >> 2];
  if (shift == 0u) return low;
  return (low >> shift) | (weight_words[(byte_offset >> 2) + 1u] << (32u - shift));
}

uint read_u16(uint byte_offset) {
  if ((byte_offset & 3u) != 3u) {
    return (weight_words[byte_offset >> 2] >> ((byte_offset & 3u) * 8u)) & 0xFFFFu;
  }
  return read_u8(byte_offset) | (read_u8(byte_offset + 1u) << 8u);
}

float read_f16(uint byte_offset) { return unpackHalf2x16(read_u16(byte_offset)).x; }

// Byte k (0..3) of a word, as unsigned and as signed.
uint byte_of(uint word, uint k) { return (word >> (k * 8u)) & 0xFFu; }
int signed_byte_of(uint word, uint k) { return bitfieldExtract(int(word), int(k * 8u), 8); }
