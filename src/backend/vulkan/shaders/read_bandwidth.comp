#version 450
// Streams a buffer for the read-bandwidth probe: each workgroup reads a contiguous span of
// 16-byte vectors, its threads side by side, and writes one sum (so the reads cannot be dropped).

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer Source { uvec4 source[]; };
layout(std430, binding = 1) writeonly buffer Sums { uint sums[]; };

layout(push_constant) uniform Params {
  uint vectors;  // in the buffer
  uint per_group;  // vectors a workgroup reads
} p;

shared uint partial[256];

void main() {
  const uint lane = gl_LocalInvocationID.x;
  const uint first = gl_WorkGroupID.x * p.per_group;
  const uint end = min(first + p.per_group, p.vectors);
  uvec4 sum = uvec4(0u);
  for (uint i = first + lane; i < end; i += 256u) sum ^= source[i];
  partial[lane] = sum.x ^ sum.y ^ sum.z ^ sum.w;
  barrier();
  if (lane == 0u) {
    uint all = 0u;
    for (uint i = 0u; i < 256u; ++i) all ^= partial[i];
    sums[gl_WorkGroupID.x] = all;
  }
}
