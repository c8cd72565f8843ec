// The cache types a KV row is encoded in (backend/kv_cache.h), as kv_store.comp writes them and
// attention.comp reads them; codes shared with kernels.cpp's kv_type_code.
const uint KV_F32 = 0u;
const uint KV_F16 = 1u;
const uint KV_Q8_0 = 2u;
const uint KV_Q4_0 = 3u;

// Element i of the row that starts at byte row_byte of WORDS, decoded to f32. Q8_0 blocks are 34
// bytes (a half scale, 32 signed bytes), Q4_0 blocks 18 (a half scale, 16 bytes of two 4-bit
// levels: element j in the low nibble of byte j, element j + 16 in the high one); rows and blocks
// start on even bytes, so the scales never straddle a word.
#define KV_ELEMENT_READER(NAME, WORDS)                                                 \
  float NAME(uint type, uint row_byte, uint i) {                                       \
    if (type == KV_F32) return uintBitsToFloat(WORDS[(row_byte >> 2) + i]);            \
    if (type == KV_F16) {                                                              \
      const uint b = row_byte + 2u * i;                                                \
      return unpackHalf2x16(WORDS[b >> 2] >> ((b & 2u) * 8u)).x;                       \
    }                                                                                  \
    const uint j = i & 31u;                                                            \
    if (type == KV_Q8_0) {                                                             \
      const uint block = row_byte + (i >> 5) * 34u;                                   \
      const float d = unpackHalf2x16(WORDS[block >> 2] >> ((block & 2u) * 8u)).x;      \
      const uint b = block + 2u + j;                                                   \
      return d * float(bitfieldExtract(int(WORDS[b >> 2]), int((b & 3u) * 8u), 8));    \
    }                                                                                  \
    const uint block = row_byte + (i >> 5) * 18u;                                      \
    const float d = unpackHalf2x16(WORDS[block >> 2] >> ((block & 2u) * 8u)).x;        \
    const uint b = block + 2u + (j & 15u);                                             \
    const uint level = (WORDS[b >> 2] >> ((b & 3u) * 8u + (j >> 4) * 4u)) & 15u;       \
    return d * (float(level) - 8.0);                                                   \
  }
