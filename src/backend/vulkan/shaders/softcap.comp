#version 450
#extension GL_GOOGLE_include_directive : require
// x = cap * tanh(x / cap), in place (Gemma 2's attention scores and logits).

layout(local_size_x = 64) in;

layout(std430, binding = 0) buffer Values { float x[]; };

layout(push_constant) uniform Params {
  uint width;
  uint offset;
  uint stride;
  float cap;
} p;

#include "activation.glsl"

void main() {
  const uint i = gl_GlobalInvocationID.x;
  const uint row = gl_WorkGroupID.y;
  if (i >= p.width) return;
  const uint index = p.offset + row * p.stride + i;
  x[index] = p.cap * safe_tanh(x[index] * (1.0 / p.cap));
}
