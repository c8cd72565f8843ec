#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_spirv_intrinsics : require
// y[t][r] = sum_i w[r][i] * x[t][i] for quantized weights on a device with packed int8 dot
// products: x arrives rounded to 8-bit blocks (quantize_activations.comp), each 32-value chunk of
// a weight row is unpacked to signed bytes once (weight_bytes.glsl) and dotted with every token's
// chunk 4 bytes at a time. Work is laid out as in matmul.comp: kRows rows and kTokens tokens a
// workgroup, threads striding over chunks, partial sums meeting in shared memory; a value's sum
// runs in the same order for any token count, so a token's row is the same bits alone or batched.

// The instruction itself (OpSDot, SPV_KHR_integer_dot_product), as this glslang has no GLSL name
// for it: capabilities DotProduct and DotProductInput4x8BitPacked, packed format 0 (4 x 8 bit).
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4450)
int dot_4x8(uint a, uint b, spirv_literal int packed_format);

#ifndef MATMUL_TOKENS
#define MATMUL_TOKENS 4u
#endif
const uint kWorkgroup = 64u;
const uint kRows = 2u;
const uint kTokens = MATMUL_TOKENS;
const uint kSums = kRows * kTokens;
layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Weights { uint weight_words[]; };
layout(std430, binding = 1) readonly buffer Activations { uint x_words[]; };
layout(std430, binding = 2) buffer Output { float y[]; };

// x_words holds token t's chunk c as 8 words at 8 * (t * chunks + c) and its (d, s) at
// scales_offset + 2 * (t * chunks + c). Row groups beyond 65535 workgroups continue in z.
layout(push_constant) uniform Params {
  uint n_in;  // a multiple of 32
  uint n_out;
  uint n_tokens;
  uint weight_offset;  // bytes
  uint row_bytes;
  uint scales_offset;  // words
  uint y_offset;
  uint y_stride;
} p;

#include "bytes.glsl"
#include "weight_bytes.glsl"

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
  const uint chunks = p.n_in / 32u;
  for (uint c = lane; c < chunks; c += kWorkgroup) {
    for (uint r = 0u; r < rows; ++r) {
      uint q[8];
      vec3 scales;  // values 0..15 times x, 16..31 times y, plus z
      weight_chunk_bytes(p.weight_offset + (first_row + r) * p.row_bytes, c, q, scales);
      for (uint t = 0u; t < tokens; ++t) {
        const uint chunk = (first_token + t) * chunks + c;
        int low = 0, high = 0;
        for (uint k = 0u; k < 4u; ++k) {
          low += dot_4x8(q[k], x_words[8u * chunk + k], 0);
          high += dot_4x8(q[k + 4u], x_words[8u * chunk + k + 4u], 0);
        }
        const float d = uintBitsToFloat(x_words[p.scales_offset + 2u * chunk]);
        const float s = uintBitsToFloat(x_words[p.scales_offset + 2u * chunk + 1u]);
#if defined(WEIGHT_TYPE_Q6_K)
        const float products = scales.x * float(low) + scales.y * float(high);
#else
        const float products = scales.x * float(low + high);
#endif
        sums[r * kTokens + t] += products * d + scales.z * s;
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
