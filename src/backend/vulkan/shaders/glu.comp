#version 450
#extension GL_GOOGLE_include_directive : require
// out = act(gate) * up, element by element (kernels/cpu/ops.cpp has the same formulas):
//   0 SiLU:            g / (1 + exp(-g)) * u
//   1 GELU (tanh):     0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))) * u
//   2 clamped SwiGLU:  g = min(g, limit), u = clamp(u, -limit, limit),
//                      g / (1 + exp(-alpha g)) * (u + 1)   (gpt-oss)
// out may be gate or up.

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Gate { float gate[]; };
layout(std430, binding = 1) readonly buffer Up { float up[]; };
layout(std430, binding = 2) buffer Output { float out_values[]; };

layout(push_constant) uniform Params {
  uint width;
  uint gate_offset;
  uint gate_stride;
  uint up_offset;
  uint up_stride;
  uint out_offset;
  uint out_stride;
  uint activation;
  float alpha;
  float limit;
} p;

#include "activation.glsl"

void main() {
  const uint i = gl_GlobalInvocationID.x;
  const uint row = gl_WorkGroupID.y;
  if (i >= p.width) return;
  float g = gate[p.gate_offset + row * p.gate_stride + i];
  float u = up[p.up_offset + row * p.up_stride + i];
  float result;
  if (p.activation == 0u) {
    result = g / (1.0 + exp(-g)) * u;
  } else if (p.activation == 1u) {
    const float kSqrt2OverPi = 0.7978845608028654;
    result = 0.5 * g * (1.0 + safe_tanh(kSqrt2OverPi * (g + 0.044715 * g * g * g))) * u;
  } else {
    g = min(g, p.limit);
    u = clamp(u, -p.limit, p.limit);
    result = g / (1.0 + exp(-p.alpha * g)) * (u + 1.0);
  }
  out_values[p.out_offset + row * p.out_stride + i] = result;
}
