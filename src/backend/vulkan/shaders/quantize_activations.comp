#version 450
#extension GL_GOOGLE_include_directive : require
// Rounds activation rows to the 8-bit blocks the CPU backend pairs with each quantized weight
// type (kernels::activation_type), for matmul_dot.comp's packed int8 dot products. One variant per
// activation type:
//   ACT_Q8_0: per 32 values d = f16(|extreme| / 127), q = round(x / d) (half away from zero)
//   ACT_Q8_1: as Q8_0, and s = f16(d * sum q) with d before its rounding to f16 (as the CPU)
//   ACT_Q8_K: per 256 values d = extreme / -127 (float), q = round-to-even(x / d)
// The output is word-addressed: chunk c (32 values) of token t has its 8 words of 4 signed bytes
// (value 4k + b in byte b of word k) at 8 * (t * chunks + c), and the pair (d, s) at
// scales_offset + 2 * (t * chunks + c), s = d * sum(q) (Q8_1: the CPU's rounded s). One thread per
// block: 32 values (Q8_0, Q8_1) or 256 (Q8_K); rows of the grid are tokens.

#include "rounded_division.glsl"

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) writeonly buffer Output { uint out_words[]; };

layout(push_constant) uniform Params {
  uint n_in;  // a multiple of the block
  uint x_offset;
  uint x_stride;
  uint scales_offset;  // words
} p;

#if defined(ACT_Q8_K)
const uint kBlock = 256u;
#elif defined(ACT_Q8_0) || defined(ACT_Q8_1)
const uint kBlock = 32u;
#else
#error "define one ACT_*"
#endif

// C's roundf, limited to -127..127: v - trunc(v) is exact, so no tie is misjudged.
int round_away(float v) {
  const float whole = trunc(v);
  const float rounded = abs(v - whole) >= 0.5 ? whole + sign(v) : whole;
  return int(clamp(rounded, -127.0, 127.0));
}

int round_even(float v) { return int(clamp(roundEven(v), -127.0, 127.0)); }

float f16_rounded(float v) { return unpackHalf2x16(packHalf2x16(vec2(v, 0.0))).x; }

void main() {
  const uint block = gl_GlobalInvocationID.x;
  const uint token = gl_GlobalInvocationID.y;
  if (block >= p.n_in / kBlock) return;
  const uint first = p.x_offset + token * p.x_stride + block * kBlock;
  const uint chunks = p.n_in / 32u;

  // The value of largest magnitude, sign kept, the first on ties (as the CPU picks it).
  float extreme = 0.0;
  for (uint i = 0u; i < kBlock; ++i) {
    const float v = x[first + i];
    if (abs(v) > abs(extreme)) extreme = v;
  }
#if defined(ACT_Q8_K)
  const float inverse = extreme != 0.0 ? divide_rounded(-127.0, extreme) : 0.0;
  const float d = extreme != 0.0 ? divide_rounded(1.0, inverse) : 0.0;
  const float stored_d = d;
#else
  const float d = divide_rounded(abs(extreme), 127.0);
  const float inverse = d != 0.0 ? divide_rounded(1.0, d) : 0.0;
  const float stored_d = f16_rounded(d);
#endif

  for (uint c = 0u; c < kBlock / 32u; ++c) {
    const uint chunk = token * chunks + block * (kBlock / 32u) + c;
    int sum = 0;
    for (uint k = 0u; k < 8u; ++k) {
      uint word = 0u;
      for (uint b = 0u; b < 4u; ++b) {
        const float v = x[first + 32u * c + 4u * k + b] * inverse;
#if defined(ACT_Q8_K)
        const int q = round_even(v);
#else
        const int q = round_away(v);
#endif
        sum += q;
        word |= (uint(q) & 0xFFu) << (8u * b);
      }
      out_words[8u * chunk + k] = word;
    }
#if defined(ACT_Q8_1)
    const float s = f16_rounded(d * float(sum));
#else
    const float s = stored_d * float(sum);
#endif
    out_words[p.scales_offset + 2u * chunk] = floatBitsToUint(stored_d);
    out_words[p.scales_offset + 2u * chunk + 1u] = floatBitsToUint(s);
  }
}
