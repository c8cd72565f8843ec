// Scalar reference dot products: the definition of every (weight, activation) pair.
//
// Within a block the products of integer quants are summed exactly in int32 (the largest sum,
// Q6_K's 16 sub-blocks of |q - 32| <= 32 times |scale| <= 128 times |q8| <= 127 over 16 values,
// is 1.3e8 < 2^31); each block's integer sum is scaled once in float and blocks are summed in
// order. SIMD kernels do the same integer work, so they differ from these only in the order of
// the float additions.
#include <cstring>

#include "core/half.h"
#include "kernels/cpu/vec_dot_impl.h"
#include "tensor/blocks.h"

namespace bottega::kernels::dot_ref {
namespace {

// Bit 4 of the 5-bit quant of element j of a Q5_0/Q5_1 block (bit j of the little-endian qh).
int q5_high_bit(const uint8_t* qh, int j) {
  return (qh[j / 8] >> (j % 8)) & 1;
}

// 6-bit scale and min j (0..7) of a Q4_K/Q5_K super-block (layout in blocks.h).
void scale_min_k4(const uint8_t* packed, int j, int* scale, int* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = (packed[j + 4] & 0xf) | ((packed[j - 4] >> 6) << 4);
    *min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

// Quants of one Q4_K/Q5_K super-block as 256 levels, element order.
void q4_k_levels(const BlockQ4_K& b, int* q) {
  for (int p = 0; p < 4; ++p) {
    for (int l = 0; l < 32; ++l) {
      q[64 * p + l] = b.qs[32 * p + l] & 0xf;
      q[64 * p + 32 + l] = b.qs[32 * p + l] >> 4;
    }
  }
}

// sum over sub-blocks of 32 of scale[j] * sum(q * q8), and of min[j] * sum(q8), for the affine
// K-quants; the caller applies d and dmin.
float affine_k_superblock(const int* q, const uint8_t* packed, float d, float dmin,
                          const BlockQ8_K& y) {
  int32_t sum_q = 0;
  int32_t sum_min = 0;
  for (int j = 0; j < 8; ++j) {
    int scale = 0, min = 0;
    scale_min_k4(packed, j, &scale, &min);
    int32_t s = 0;
    for (int l = 0; l < 32; ++l) s += q[32 * j + l] * y.qs[32 * j + l];
    sum_q += scale * s;
    sum_min += min * (y.bsums[2 * j] + y.bsums[2 * j + 1]);
  }
  return y.d * (d * static_cast<float>(sum_q) - dmin * static_cast<float>(sum_min));
}

}  // namespace

float q4_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) {
      s += ((x[b].qs[j] & 0xf) - 8) * y[b].qs[j];
      s += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + 16];
    }
    sum += static_cast<float>(s) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
  }
  return sum;
}

float q4_1_q8_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK4_1; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) {
      s += (x[b].qs[j] & 0xf) * y[b].qs[j];
      s += (x[b].qs[j] >> 4) * y[b].qs[j + 16];
    }
    // (d q + m) . y = d dy sum(q q8) + m * (dy sum(q8)), the second factor being y's s.
    sum += static_cast<float>(s) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) +
           f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
  }
  return sum;
}

float q5_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK5_0; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = (x[b].qs[j] & 0xf) | (q5_high_bit(x[b].qh, j) << 4);
      const int hi = (x[b].qs[j] >> 4) | (q5_high_bit(x[b].qh, j + 16) << 4);
      s += (lo - 16) * y[b].qs[j] + (hi - 16) * y[b].qs[j + 16];
    }
    sum += static_cast<float>(s) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
  }
  return sum;
}

float q5_1_q8_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK5_1; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = (x[b].qs[j] & 0xf) | (q5_high_bit(x[b].qh, j) << 4);
      const int hi = (x[b].qs[j] >> 4) | (q5_high_bit(x[b].qh, j + 16) << 4);
      s += lo * y[b].qs[j] + hi * y[b].qs[j + 16];
    }
    sum += static_cast<float>(s) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) +
           f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
  }
  return sum;
}

float q8_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    int32_t s = 0;
    for (int j = 0; j < kQK8_0; ++j) s += x[b].qs[j] * y[b].qs[j];
    sum += static_cast<float>(s) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
  }
  return sum;
}

float q8_1_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_1*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK8_1; ++b) {
    int32_t s = 0;
    for (int j = 0; j < kQK8_1; ++j) s += x[b].qs[j] * y[b].qs[j];
    sum += static_cast<float>(s) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
  }
  return sum;
}

// Each block: sum of doubled codes times activation bytes (|sum| <= 32 * 12 * 127), scaled by
// d_y * 2^(e - 128), i.e. the stored value times the activation.
float mxfp4_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockMXFP4*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_MXFP4; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) {
      s += kMXFP4Doubled[x[b].qs[j] & 0xf] * y[b].qs[j];
      s += kMXFP4Doubled[x[b].qs[j] >> 4] * y[b].qs[j + 16];
    }
    sum += static_cast<float>(s) * (f16_to_f32(y[b].d) * mxfp4_half_scale(x[b].e));
  }
  return sum;
}

float q2_k_q8_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ2_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t sum_q = 0;
    int32_t sum_min = 0;
    for (int e = 0; e < kQK_K; ++e) {
      const int q = (x[b].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
      sum_q += (x[b].scales[e / 16] & 0xf) * q * y[b].qs[e];
    }
    for (int j = 0; j < 16; ++j) sum_min += (x[b].scales[j] >> 4) * y[b].bsums[j];
    sum += y[b].d * (f16_to_f32(x[b].d) * static_cast<float>(sum_q) -
                     f16_to_f32(x[b].dmin) * static_cast<float>(sum_min));
  }
  return sum;
}

float q3_k_q8_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int scales[16];
    for (int j = 0; j < 16; ++j) {
      const int low = j < 8 ? x[b].scales[j] & 0xf : x[b].scales[j - 8] >> 4;
      const int high = (x[b].scales[8 + j % 4] >> (2 * (j / 4))) & 3;
      scales[j] = (low | (high << 4)) - 32;
    }
    int32_t sum_q = 0;
    for (int e = 0; e < kQK_K; ++e) {
      const int low = (x[b].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
      const int high = (x[b].hmask[e % 32] >> (e / 32)) & 1;
      sum_q += scales[e / 16] * (low + 4 * high - 4) * y[b].qs[e];
    }
    sum += y[b].d * f16_to_f32(x[b].d) * static_cast<float>(sum_q);
  }
  return sum;
}

float q4_k_q8_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int q[kQK_K];
    q4_k_levels(x[b], q);
    sum += affine_k_superblock(q, x[b].scales, f16_to_f32(x[b].d), f16_to_f32(x[b].dmin), y[b]);
  }
  return sum;
}

float q5_k_q8_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int q[kQK_K];
    for (int p = 0; p < 4; ++p) {
      for (int l = 0; l < 32; ++l) {
        q[64 * p + l] = (x[b].qs[32 * p + l] & 0xf) | (((x[b].qh[l] >> (2 * p)) & 1) << 4);
        q[64 * p + 32 + l] = (x[b].qs[32 * p + l] >> 4) | (((x[b].qh[l] >> (2 * p + 1)) & 1) << 4);
      }
    }
    sum += affine_k_superblock(q, x[b].scales, f16_to_f32(x[b].d), f16_to_f32(x[b].dmin), y[b]);
  }
  return sum;
}

float q6_k_q8_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t sum_q = 0;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x[b].ql + 64 * half;
      const uint8_t* qh = x[b].qh + 32 * half;
      for (int k = 0; k < 4; ++k) {
        for (int l = 0; l < 32; ++l) {
          const int low = (ql[l + 32 * (k % 2)] >> (4 * (k / 2))) & 0xf;
          const int high = (qh[l] >> (2 * k)) & 3;
          const int e = 128 * half + 32 * k + l;
          sum_q += x[b].scales[e / 16] * ((low | (high << 4)) - 32) * y[b].qs[e];
        }
      }
    }
    sum += y[b].d * f16_to_f32(x[b].d) * static_cast<float>(sum_q);
  }
  return sum;
}

float q8_k_q8_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t s = 0;
    for (int e = 0; e < kQK_K; ++e) s += x[b].qs[e] * y[b].qs[e];
    sum += x[b].d * y[b].d * static_cast<float>(s);
  }
  return sum;
}

// The float dots keep eight partial sums, like kernels::dot, so the compiler can vectorise them
// without reassociating one accumulator.
float f32_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) partial[j] += x[i + j] * y[i + j];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += x[i] * y[i];
  for (float p : partial) sum += p;
  return sum;
}

float f16_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) partial[j] += f16_to_f32(x[i + j]) * y[i + j];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += f16_to_f32(x[i]) * y[i];
  for (float p : partial) sum += p;
  return sum;
}

float bf16_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) partial[j] += bf16_to_f32(x[i + j]) * y[i + j];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += bf16_to_f32(x[i]) * y[i];
  for (float p : partial) sum += p;
  return sum;
}

}  // namespace bottega::kernels::dot_ref
