#version 450
// Rotary position embedding of each token's n_head heads by the token's position, in place; the
// formulas of kernels/cpu/ops.cpp's rope. One thread per (rotated pair, token): the angle is
// computed once and applied to every head. Pairs are (2i, 2i+1) or, NeoX style, (i, i + n_rot/2);
// dimensions past n_rot pass through.

layout(local_size_x = 64) in;

layout(std430, binding = 0) buffer Values { float x[]; };
layout(std430, binding = 1) readonly buffer Positions { int positions[]; };
layout(std430, binding = 2) readonly buffer FreqFactors { float freq_factors[]; };

layout(push_constant) uniform Params {
  uint n_head;
  uint head_dim;
  uint n_rot;
  uint neox;
  uint has_freq_factors;  // 0: binding 2 is a placeholder
  uint yarn;
  float freq_base;
  float freq_scale;
  float attn_factor;
  float yarn_low;
  float yarn_high;
  uint x_offset;
  uint x_stride;
  uint positions_offset;
  uint freq_factors_offset;
} p;

void main() {
  const uint pair = gl_GlobalInvocationID.x;
  const uint token = gl_WorkGroupID.y;
  const uint half_rot = p.n_rot / 2u;
  if (pair >= half_rot) return;

  float magnitude = p.attn_factor;
  if (p.yarn != 0u) magnitude *= 1.0 + 0.1 * log(1.0 / p.freq_scale);
  const float position = float(positions[p.positions_offset + token]);
  float unscaled = position * pow(p.freq_base, -2.0 * float(pair) / float(p.n_rot));
  if (p.has_freq_factors != 0u) unscaled /= freq_factors[p.freq_factors_offset + pair];
  float theta = unscaled * p.freq_scale;
  if (p.yarn != 0u) {
    // ramp 0: a high-frequency pair, which keeps its own frequency; 1: a scaled one.
    const float ramp =
        clamp((float(pair) - p.yarn_low) / max(0.001, p.yarn_high - p.yarn_low), 0.0, 1.0);
    theta = unscaled * (1.0 - ramp) + theta * ramp;
  }
  const float cos_theta = cos(theta) * magnitude;
  const float sin_theta = sin(theta) * magnitude;
  const uint first = p.neox != 0u ? pair : 2u * pair;
  const uint second = p.neox != 0u ? pair + half_rot : 2u * pair + 1u;
  const uint row = p.x_offset + token * p.x_stride;
  for (uint h = 0u; h < p.n_head; ++h) {
    const uint head = row + h * p.head_dim;
    const float a = x[head + first];
    const float b = x[head + second];
    x[head + first] = a * cos_theta - b * sin_theta;
    x[head + second] = a * sin_theta + b * cos_theta;
  }
}
