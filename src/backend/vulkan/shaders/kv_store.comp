#version 450
// Writes each token's key (or value) row into its layer's cache row, encoded in the cache type
// with the rounding of tensor/quant_ref.cpp (Q8_0: the block's largest magnitude maps to 127,
// half away from zero; Q4_0: its signed extreme to -8, levels truncated after + 8.5). One thread
// per 32 values of a row (one block); y is the token. A row need not start on a word, so words
// shared with a neighbouring block are merged with atomics.

#include "kv_rows.glsl"
#include "rounded_division.glsl"

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Source { float src[]; };
layout(std430, binding = 1) buffer Cache { uint cache_words[]; };
layout(std430, binding = 2) readonly buffer Rows { int rows[]; };

layout(push_constant) uniform Params {
  uint width;  // values per row
  uint row_bytes;
  uint type;
  uint src_offset;
  uint src_stride;
  uint rows_offset;
} p;

uint unit_bytes[128];

void put_half(uint k, float value) {
  const uint h = packHalf2x16(vec2(value, 0.0)) & 0xFFFFu;
  unit_bytes[k] = h & 0xFFu;
  unit_bytes[k + 1u] = h >> 8;
}

// Stores unit_bytes[0..count) at byte start of the cache.
void emit(uint start, uint count) {
  uint k = 0u;
  while (k < count) {
    const uint word = (start + k) >> 2;
    uint mask = 0u;
    uint bits = 0u;
    for (; k < count && ((start + k) >> 2) == word; ++k) {
      const uint shift = ((start + k) & 3u) * 8u;
      mask |= 0xFFu << shift;
      bits |= unit_bytes[k] << shift;
    }
    if (mask == 0xFFFFFFFFu) {
      cache_words[word] = bits;
    } else {
      atomicAnd(cache_words[word], ~mask);
      atomicOr(cache_words[word], bits);
    }
  }
}

void main() {
  const uint unit = gl_GlobalInvocationID.x;
  const uint token = gl_WorkGroupID.y;
  const uint first = unit * 32u;
  if (first >= p.width) return;
  const uint count = min(32u, p.width - first);
  const uint source = p.src_offset + token * p.src_stride + first;
  const uint row_byte = uint(rows[p.rows_offset + token]) * p.row_bytes;

  if (p.type == KV_F32) {
    for (uint i = 0u; i < count; ++i) {
      cache_words[(row_byte >> 2) + first + i] = floatBitsToUint(src[source + i]);
    }
    return;
  }
  if (p.type == KV_F16) {
    for (uint i = 0u; i < count; ++i) put_half(2u * i, src[source + i]);
    emit(row_byte + 2u * first, 2u * count);
    return;
  }

  // The quantized types: whole blocks of 32 (kv_cache.h refuses other widths).
  float extreme = 0.0;
  float magnitude = 0.0;
  for (uint i = 0u; i < 32u; ++i) {
    const float v = src[source + i];
    if (abs(v) > magnitude) {
      magnitude = abs(v);
      extreme = v;
    }
  }
  if (p.type == KV_Q8_0) {
    const float d = divide_rounded(magnitude, 127.0);
    const float inverse = d != 0.0 ? divide_rounded(1.0, d) : 0.0;
    put_half(0u, d);
    for (uint i = 0u; i < 32u; ++i) {
      const float v = src[source + i] * inverse;
      int level;
      if (!(v > -127.0)) {
        level = -127;
      } else if (v >= 127.0) {
        level = 127;
      } else {
        level = int(sign(v) * floor(abs(v) + 0.5));
      }
      unit_bytes[2u + i] = uint(level) & 0xFFu;
    }
    emit(row_byte + (first / 32u) * 34u, 34u);
    return;
  }
  const float d = divide_rounded(extreme, -8.0);
  const float inverse = d != 0.0 ? divide_rounded(1.0, d) : 0.0;
  put_half(0u, d);
  for (uint j = 0u; j < 16u; ++j) {
    uint levels[2];
    for (uint h = 0u; h < 2u; ++h) {
      precise const float v = src[source + j + 16u * h] * inverse + 8.5;  // not fused, as on the CPU
      levels[h] = !(v > 0.0) ? 0u : (v >= 15.0 ? 15u : uint(v));
    }
    unit_bytes[2u + j] = levels[0] | (levels[1] << 4);
  }
  emit(row_byte + (first / 32u) * 18u, 18u);
}
