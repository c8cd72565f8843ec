#version 450
#extension GL_GOOGLE_include_directive : require
// out[t] = scale * row ids[t] of a weight table (the token embeddings), dequantized: one thread
// per 32-value chunk of a row, one row of the grid per token.

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Weights { uint weight_words[]; };
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };
layout(std430, binding = 2) writeonly buffer Output { float out_values[]; };

layout(push_constant) uniform Params {
  uint width;  // values per row
  uint n_rows;  // of the table: ids outside it give zeros rather than reading past the buffer
  uint table_offset;  // bytes
  uint row_bytes;
  uint ids_offset;
  uint out_offset;  // floats
  uint out_stride;
  float scale;
} p;

#include "bytes.glsl"
#include "dequantize.glsl"

void main() {
  const uint chunk = gl_GlobalInvocationID.x;
  const uint token = gl_WorkGroupID.y;
  const uint begin = 32u * chunk;
  if (begin >= p.width) return;
  const uint count = min(32u, p.width - begin);
  const int id = ids[p.ids_offset + token];
  float v[32];
  if (id >= 0 && uint(id) < p.n_rows) {
    dequantize_chunk(p.table_offset + uint(id) * p.row_bytes, chunk, count, v);
  } else {
    for (uint i = 0u; i < 32u; ++i) v[i] = 0.0;
  }
  const uint out_index = p.out_offset + token * p.out_stride + begin;
  for (uint i = 0u; i < count; ++i) out_values[out_index + i] = p.scale * v[i];
}
