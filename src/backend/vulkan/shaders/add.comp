#version 450
// y[r][i] += x[r][i]; x_stride 0 adds one row of x to every row of y (a bias).

layout(local_size_x = 64) in;

layout(std430, binding = 0) buffer Target { float y[]; };
layout(std430, binding = 1) readonly buffer Addend { float x[]; };

layout(push_constant) uniform Params {
  uint width;
  uint y_offset;
  uint y_stride;
  uint x_offset;
  uint x_stride;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  const uint row = gl_WorkGroupID.y;
  if (i >= p.width) return;
  y[p.y_offset + row * p.y_stride + i] += x[p.x_offset + row * p.x_stride + i];
}
