#version 450
// out[r][i] = x[r][i] / sqrt(mean(x[r]^2) + eps) * weight[i]: one workgroup per row. out may be
// x: each thread writes only the values it read.

const uint kWorkgroup = 128u;
layout(local_size_x = 128) in;

layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) readonly buffer Weight { float weight[]; };
layout(std430, binding = 2) buffer Output { float out_values[]; };

layout(push_constant) uniform Params {
  uint width;
  uint x_offset;
  uint x_stride;
  uint weight_offset;
  uint out_offset;
  uint out_stride;
  float eps;
} p;

shared float partial[kWorkgroup];

void main() {
  const uint lane = gl_LocalInvocationID.x;
  const uint row = gl_WorkGroupID.x;
  const uint x_row = p.x_offset + row * p.x_stride;
  float sum = 0.0;
  for (uint i = lane; i < p.width; i += kWorkgroup) sum += x[x_row + i] * x[x_row + i];
  partial[lane] = sum;
  barrier();
  for (uint width = kWorkgroup / 2u; width > 0u; width /= 2u) {
    if (lane < width) partial[lane] += partial[lane + width];
    barrier();
  }
  const float scale = 1.0 / sqrt(partial[0] / float(p.width) + p.eps);
  const uint out_row = p.out_offset + row * p.out_stride;
  for (uint i = lane; i < p.width; i += kWorkgroup) {
    out_values[out_row + i] = x[x_row + i] * scale * weight[p.weight_offset + i];
  }
}
