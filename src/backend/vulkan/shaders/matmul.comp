#version 450
#extension GL_GOOGLE_include_directive : require
// y[t][r] = sum_i w[r][i] * x[t][i]: weights in GGUF's row layout (rows of blocks, one after
// another), f32 activations. A workgroup takes kRows rows and kTokens tokens; its threads stride
// over the rows' 32-value chunks, each chunk decoded once and used for every token, and the
// partial sums meet in shared memory. One weight type per compiled variant (WEIGHT_TYPE_*).

// Prompts compile a variant with more tokens per workgroup (MATMUL_TOKENS): each chunk is decoded
// once for all of them. A value's sum runs in the same order whatever the count, so a token's
// result is the same bits in either variant.
#ifndef MATMUL_TOKENS
#define MATMUL_TOKENS 4u
#endif
const uint kWorkgroup = 64u;
const uint kRows = 2u;
const uint kTokens = MATMUL_TOKENS;
const uint kSums = kRows * kTokens;
layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Weights { uint weight_words[]; };
layout(std430, binding = 1) readonly buffer Input { float x[]; };
layout(std430, binding = 2) buffer Output { float y[]; };

// Offsets and strides in floats, except weight_offset and row_bytes. Row groups beyond the
// 65535 workgroups a dimension may have continue in z.
layout(push_constant) uniform Params {
  uint n_in;
  uint n_out;
  uint n_tokens;
  uint weight_offset;
  uint row_bytes;
  uint x_offset;
  uint x_stride;
  uint y_offset;
  uint y_stride;
} p;

#include "bytes.glsl"
#include "dequantize.glsl"

shared float partial[kSums][kWorkgroup];

void main() {
  const uint lane = gl_LocalInvocationID.x;
  const uint first_row = (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * kRows;
  const uint first_token = gl_WorkGroupID.y * kTokens;
  // Uniform across the workgroup, so leaving before the barriers is allowed.
  if (first_row >= p.n_out) return;
  const uint rows = min(kRows, p.n_out - first_row);
  const uint tokens = min(kTokens, p.n_tokens - first_token);

  float sums[kSums];
  for (uint s = 0u; s < kSums; ++s) sums[s] = 0.0;
  const uint chunks = (p.n_in + 31u) / 32u;
  for (uint c = lane; c < chunks; c += kWorkgroup) {
    const uint begin = 32u * c;
    const uint count = min(32u, p.n_in - begin);
    for (uint r = 0u; r < rows; ++r) {
      float v[32];
      dequantize_chunk(p.weight_offset + (first_row + r) * p.row_bytes, c, count, v);
      for (uint t = 0u; t < tokens; ++t) {
        const uint xi = p.x_offset + (first_token + t) * p.x_stride + begin;
        float sum = 0.0;
        for (uint i = 0u; i < count; ++i) sum += v[i] * x[xi + i];
        sums[r * kTokens + t] += sum;
      }
    }
  }

  for (uint s = 0u; s < kSums; ++s) partial[s][lane] = sums[s];
  barrier();
  for (uint width = kWorkgroup / 2u; width > 0u; width /= 2u) {
    if (lane < width) {
      for (uint s = 0u; s < kSums; ++s) partial[s][lane] += partial[s][lane + width];
    }
    barrier();
  }
  if (lane < rows * tokens) {
    const uint r = lane / tokens;
    const uint t = lane % tokens;
    y[p.y_offset + (first_token + t) * p.y_stride + first_row + r] = partial[r * kTokens + t][0];
  }
}
