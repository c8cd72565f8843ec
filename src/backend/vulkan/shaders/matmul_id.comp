#version 450
#extension GL_GOOGLE_include_directive : require
// The experts' matrix products of a mixture: for each (token, slot) pair p, y[p] = W[ids[p]] x
// (+ bias row ids[p]), where W stacks n_expert matrices of n_out rows one after another and x's
// row is the pair's own (x_per_pair) or its token's. A workgroup takes kRows rows of one pair; its
// threads stride over the rows' 32-value chunks and meet in shared memory, as matmul.comp's.

const uint kWorkgroup = 64u;
const uint kRows = 4u;
layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Weights { uint weight_words[]; };
layout(std430, binding = 1) readonly buffer Input { float x[]; };
layout(std430, binding = 2) readonly buffer Ids { int ids[]; };
layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
layout(std430, binding = 4) writeonly buffer Output { float y[]; };

// Offsets and strides in floats, except weight_offset, row_bytes and expert_bytes. Row groups
// past the 65535 workgroups of a dimension continue in z.
layout(push_constant) uniform Params {
  uint n_in;
  uint n_out;  // rows of one expert
  uint n_pairs;
  uint n_used;  // pairs per token
  uint n_expert;
  uint weight_offset;
  uint row_bytes;
  uint expert_bytes;
  uint x_per_pair;
  uint x_offset;
  uint x_stride;
  uint has_bias;
  uint bias_offset;  // expert e's bias row starts at bias_offset + e * bias_stride
  uint bias_stride;
  uint y_offset;
  uint y_stride;
} p;

#include "bytes.glsl"
#include "dequantize.glsl"

shared float partial[kRows][kWorkgroup];

void main() {
  const uint lane = gl_LocalInvocationID.x;
  const uint first_row = (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * kRows;
  const uint pair = gl_WorkGroupID.y;
  if (first_row >= p.n_out || pair >= p.n_pairs) return;  // uniform across the workgroup
  const uint rows = min(kRows, p.n_out - first_row);
  const int id = ids[pair];
  // An id outside the experts (never from the router) gives zeros, not a read past the buffer.
  const bool valid = id >= 0 && uint(id) < p.n_expert;
  const uint expert = valid ? uint(id) : 0u;
  const uint x_row = p.x_per_pair != 0u ? pair : pair / p.n_used;
  const uint xi0 = p.x_offset + x_row * p.x_stride;

  float sums[kRows];
  for (uint r = 0u; r < kRows; ++r) sums[r] = 0.0;
  const uint chunks = (p.n_in + 31u) / 32u;
  for (uint c = lane; valid && c < chunks; c += kWorkgroup) {
    const uint begin = 32u * c;
    const uint count = min(32u, p.n_in - begin);
    for (uint r = 0u; r < rows; ++r) {
      float v[32];
      dequantize_chunk(p.weight_offset + expert * p.expert_bytes + (first_row + r) * p.row_bytes,
                       c, count, v);
      float sum = 0.0;
      for (uint i = 0u; i < count; ++i) sum += v[i] * x[xi0 + begin + i];
      sums[r] += sum;
    }
  }

  for (uint r = 0u; r < kRows; ++r) partial[r][lane] = sums[r];
  barrier();
  for (uint width = kWorkgroup / 2u; width > 0u; width /= 2u) {
    if (lane < width) {
      for (uint r = 0u; r < kRows; ++r) partial[r][lane] += partial[r][lane + width];
    }
    barrier();
  }
  if (lane < rows) {
    const uint row = first_row + lane;
    float value = partial[lane][0];
    if (valid && p.has_bias != 0u) value += bias[p.bias_offset + expert * p.bias_stride + row];
    y[p.y_offset + pair * p.y_stride + row] = valid ? value : 0.0;
  }
}
