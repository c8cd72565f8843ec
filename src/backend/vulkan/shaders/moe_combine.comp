#version 450
// A mixture's output, one workgroup per token: out[t] = sum over its slots s (in expert order) of
// weights[t][s] * experts[t * n_used + s], plus the shared expert's row scaled by
// sigmoid(gate . x[t]) when the family gates it (1 when not).

const uint kWorkgroup = 64u;
layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Experts { float experts[]; };
layout(std430, binding = 1) readonly buffer Weights { float weights[]; };
layout(std430, binding = 2) readonly buffer Shared { float shared_rows[]; };
layout(std430, binding = 3) readonly buffer Gate { float gate[]; };
layout(std430, binding = 4) readonly buffer Input { float x[]; };
layout(std430, binding = 5) writeonly buffer Output { float out_values[]; };

layout(push_constant) uniform Params {
  uint width;
  uint n_used;
  uint experts_offset;  // rows of `width`, contiguous
  uint has_shared;
  uint shared_offset;
  uint shared_stride;
  uint has_gate;
  uint gate_offset;
  uint x_offset;
  uint x_stride;
  uint out_offset;
  uint out_stride;
} p;

shared float partial[kWorkgroup];

void main() {
  const uint lane = gl_LocalInvocationID.x;
  const uint token = gl_WorkGroupID.x;
  float scale = 1.0;
  if (p.has_gate != 0u) {
    float sum = 0.0;
    for (uint i = lane; i < p.width; i += kWorkgroup) {
      sum += gate[p.gate_offset + i] * x[p.x_offset + token * p.x_stride + i];
    }
    partial[lane] = sum;
    barrier();
    for (uint half_width = kWorkgroup / 2u; half_width > 0u; half_width /= 2u) {
      if (lane < half_width) partial[lane] += partial[lane + half_width];
      barrier();
    }
    scale = 1.0 / (1.0 + exp(-partial[0]));
  }
  for (uint d = lane; d < p.width; d += kWorkgroup) {
    float value = 0.0;
    for (uint s = 0u; s < p.n_used; ++s) {
      const uint pair = token * p.n_used + s;
      value += weights[pair] * experts[p.experts_offset + pair * p.width + d];
    }
    if (p.has_shared != 0u) {
      value += scale * shared_rows[p.shared_offset + token * p.shared_stride + d];
    }
    out_values[p.out_offset + token * p.out_stride + d] = value;
  }
}
