#version 450
// Causal attention of one query head of one token over its sequence's cached keys and values
// (the paged cache of backend/kv_cache.h), as backend/cpu/attention.cpp computes it: scores
// q.k * scale, an optional soft-cap, an optional window, a softmax whose denominator may take a
// sink, then the weighted sum of value rows. One workgroup per (query head, token). Positions go
// in chunks of 64, one per thread for the score; the softmax runs online (a running maximum and
// sum, rescaling what was summed when the maximum grows), so any context length fits.

#include "kv_rows.glsl"

#define WORKGROUP 64u
#define MAX_HEAD_DIM 512u

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Queries { float q[]; };
layout(std430, binding = 1) readonly buffer Keys { uint key_words[]; };
layout(std430, binding = 2) readonly buffer Values { uint value_words[]; };
// Per token: its position and where its sequence's block table starts in this same buffer.
layout(std430, binding = 3) readonly buffer Tokens { int meta[]; };
layout(std430, binding = 4) writeonly buffer Output { float out_values[]; };
layout(std430, binding = 5) readonly buffer Sinks { float sinks[]; };

layout(push_constant) uniform Params {
  uint n_head;
  uint n_head_kv;
  uint head_dim;
  uint key_type;
  uint value_type;
  uint key_row_bytes;
  uint value_row_bytes;
  uint block_size;
  uint window;  // 0: none
  uint has_sinks;
  float scale;
  float softcap;  // 0: none
  uint q_offset;
  uint q_stride;
  uint out_offset;
  uint out_stride;
  uint meta_offset;
  uint sinks_offset;
} p;

KV_ELEMENT_READER(key_at, key_words)
KV_ELEMENT_READER(value_at, value_words)

shared float query[MAX_HEAD_DIM];
shared float chunk_weights[WORKGROUP];
shared uint chunk_rows[WORKGROUP];
shared float reduction[WORKGROUP];

float workgroup_max(float v) {
  reduction[gl_LocalInvocationID.x] = v;
  barrier();
  for (uint s = WORKGROUP / 2u; s > 0u; s >>= 1) {
    if (gl_LocalInvocationID.x < s) {
      reduction[gl_LocalInvocationID.x] =
          max(reduction[gl_LocalInvocationID.x], reduction[gl_LocalInvocationID.x + s]);
    }
    barrier();
  }
  const float result = reduction[0];
  barrier();
  return result;
}

float workgroup_sum(float v) {
  reduction[gl_LocalInvocationID.x] = v;
  barrier();
  for (uint s = WORKGROUP / 2u; s > 0u; s >>= 1) {
    if (gl_LocalInvocationID.x < s) {
      reduction[gl_LocalInvocationID.x] += reduction[gl_LocalInvocationID.x + s];
    }
    barrier();
  }
  const float result = reduction[0];
  barrier();
  return result;
}

void main() {
  const uint head = gl_WorkGroupID.x;
  const uint token = gl_WorkGroupID.y;
  const uint tid = gl_LocalInvocationID.x;
  const uint kv_head = head / (p.n_head / p.n_head_kv);
  const uint pos = uint(meta[p.meta_offset + 2u * token]);
  const uint table = uint(meta[p.meta_offset + 2u * token + 1u]);
  const uint first = p.window > 0u && pos + 1u > p.window ? pos + 1u - p.window : 0u;
  const uint end = pos + 1u;
  const uint element = kv_head * p.head_dim;  // the KV head's first value in a row

  for (uint d = tid; d < p.head_dim; d += WORKGROUP) {
    query[d] = q[p.q_offset + token * p.q_stride + head * p.head_dim + d];
  }
  barrier();

  float running_max = -1.0 / 0.0;
  float running_sum = 0.0;
  float acc[MAX_HEAD_DIM / WORKGROUP];
  for (uint k = 0u; k < MAX_HEAD_DIM / WORKGROUP; ++k) acc[k] = 0.0;

  for (uint chunk = first; chunk < end; chunk += WORKGROUP) {
    const uint position = chunk + tid;
    float score = -1.0 / 0.0;
    if (position < end) {
      const uint row = uint(meta[table + position / p.block_size]) * p.block_size +
                       position % p.block_size;
      chunk_rows[tid] = row;
      const uint key_row = row * p.key_row_bytes;
      float dot_product = 0.0;
      for (uint d = 0u; d < p.head_dim; ++d) {
        dot_product += query[d] * key_at(p.key_type, key_row, element + d);
      }
      score = dot_product * p.scale;
      if (p.softcap > 0.0) score = p.softcap * tanh(score / p.softcap);
    }
    const float new_max = max(running_max, workgroup_max(score));
    const float weight = position < end ? exp(score - new_max) : 0.0;
    chunk_weights[tid] = weight;
    const float rescale = exp(running_max - new_max);
    running_sum = running_sum * rescale + workgroup_sum(weight);
    running_max = new_max;
    // workgroup_sum's barriers made chunk_weights and chunk_rows visible.
    const uint n = min(WORKGROUP, end - chunk);
    for (uint k = 0u; k * WORKGROUP + tid < p.head_dim; ++k) {
      const uint d = k * WORKGROUP + tid;
      float sum = acc[k] * rescale;
      for (uint j = 0u; j < n; ++j) {
        sum += chunk_weights[j] *
               value_at(p.value_type, chunk_rows[j] * p.value_row_bytes, element + d);
      }
      acc[k] = sum;
    }
    barrier();  // before the next chunk overwrites chunk_weights and chunk_rows
  }

  // A sink joins the denominator; taken into the maximum first, so a large one cannot overflow.
  float kept = 1.0;
  float denominator = running_sum;
  if (p.has_sinks != 0u) {
    const float sink = sinks[p.sinks_offset + head];
    const float top = max(running_max, sink);
    kept = exp(running_max - top);
    denominator = running_sum * kept + exp(sink - top);
  }
  for (uint k = 0u; k * WORKGROUP + tid < p.head_dim; ++k) {
    const uint d = k * WORKGROUP + tid;
    out_values[p.out_offset + token * p.out_stride + head * p.head_dim + d] =
        acc[k] * kept / denominator;
  }
}
