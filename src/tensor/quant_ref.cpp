// Reference codecs for the float types and the 32-value block types (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q8_1). The K-quants live in quant_ref_k.cpp.
//
// The quantizers follow ggml's reference rules (scale from the block's extreme values, one
// rounding per value), so a tensor quantized here encodes like one quantized by llama.cpp.
#include "tensor/quant_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "tensor/blocks.h"

namespace bottega::quant_ref {
namespace {

// Number of blocks in n values; n must be a whole number of blocks.
int64_t block_count(int64_t n, int block_size) {
  BOTTEGA_CHECK(n >= 0 && n % block_size == 0, n, " values is not a multiple of the block size ",
                block_size);
  return n / block_size;
}

// floor(v) limited to 0..hi, for v >= 0 by construction (an offset of +0.5 turns it into
// round-half-up). Clamping in float first keeps the conversion defined for NaN and huge v.
int floor_level(float v, int hi) {
  if (!(v > 0.0f)) return 0;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

// round-half-away-from-zero (C's roundf), limited to lo..hi.
int round_level(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(std::round(v));
}

// The value of largest magnitude, sign kept (the first one on ties).
float signed_extreme(const float* x, int n) {
  float extreme = 0.0f;
  float magnitude = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > magnitude) {
      magnitude = std::fabs(x[i]);
      extreme = x[i];
    }
  }
  return extreme;
}

struct Range {
  float min;
  float max;
};
Range value_range(const float* x, int n) {
  Range r{x[0], x[0]};
  for (int i = 1; i < n; ++i) {
    r.min = std::min(r.min, x[i]);
    r.max = std::max(r.max, x[i]);
  }
  return r;
}

float inverse_or_zero(float d) {
  return d != 0.0f ? 1.0f / d : 0.0f;
}

// Bit 4 of the 5-bit quant of element j (0..31) in a Q5_0/Q5_1 block: bit j of the little-endian
// word qh. Read byte-wise so it does not depend on the host's byte order.
int q5_high_bit(const uint8_t* qh, int j) {
  return (qh[j / 8] >> (j % 8)) & 1;
}

// Fills qs/qh of a Q5 block from 32 levels in 0..31.
void pack_q5(const int* levels, uint8_t* qs, uint8_t* qh) {
  std::memset(qh, 0, 4);
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((levels[j] & 0xf) | ((levels[j + 16] & 0xf) << 4));
  }
  for (int j = 0; j < 32; ++j) {
    qh[j / 8] = static_cast<uint8_t>(qh[j / 8] | (((levels[j] >> 4) & 1) << (j % 8)));
  }
}

}  // namespace

void dequantize_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void quantize_f32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void dequantize_f16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
}
void quantize_f16(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
}

void dequantize_bf16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
}
void quantize_bf16(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
}

// ---- Q4_0 / Q5_0: symmetric, value = d * (q - 2^(bits-1)) ----
//
// The scale maps the block's extreme value onto the most negative level (-8 or -16): the negative
// side has one level more than the positive side, so the extreme gets it whatever its sign and is
// reproduced exactly (up to the half rounding of d). A value on the other side as large as the
// extreme needs level +8 (+16), is clamped to +7 (+15) and is off by at most one step.

void dequantize_q4_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_0*>(src);
  const int64_t nb = block_count(n, kQK4_0);
  for (int64_t b = 0; b < nb; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    float* y = dst + b * kQK4_0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = static_cast<float>((blocks[b].qs[j] & 0xf) - 8) * d;
      y[j + 16] = static_cast<float>((blocks[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void quantize_q4_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ4_0*>(dst);
  const int64_t nb = block_count(n, kQK4_0);
  for (int64_t b = 0; b < nb; ++b) {
    const float* x = src + b * kQK4_0;
    const float d = signed_extreme(x, kQK4_0) / -8.0f;
    const float inverse = inverse_or_zero(d);
    blocks[b].d = f32_to_f16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int lo = floor_level(x[j] * inverse + 8.5f, 15);
      const int hi = floor_level(x[j + 16] * inverse + 8.5f, 15);
      blocks[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_q5_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_0*>(src);
  const int64_t nb = block_count(n, kQK5_0);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ5_0& block = blocks[b];
    const float d = f16_to_f32(block.d);
    float* y = dst + b * kQK5_0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int lo = (block.qs[j] & 0xf) | (q5_high_bit(block.qh, j) << 4);
      const int hi = (block.qs[j] >> 4) | (q5_high_bit(block.qh, j + 16) << 4);
      y[j] = static_cast<float>(lo - 16) * d;
      y[j + 16] = static_cast<float>(hi - 16) * d;
    }
  }
}

void quantize_q5_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ5_0*>(dst);
  const int64_t nb = block_count(n, kQK5_0);
  for (int64_t b = 0; b < nb; ++b) {
    const float* x = src + b * kQK5_0;
    const float d = signed_extreme(x, kQK5_0) / -16.0f;
    const float inverse = inverse_or_zero(d);
    int levels[kQK5_0];
    for (int j = 0; j < kQK5_0; ++j) levels[j] = floor_level(x[j] * inverse + 16.5f, 31);
    blocks[b].d = f32_to_f16(d);
    pack_q5(levels, blocks[b].qs, blocks[b].qh);
  }
}

// ---- Q4_1 / Q5_1: affine, value = d * q + m ----
//
// m is the block minimum and d spreads [min, max] over all levels, so every value is within half
// a step of a level; only the half rounding of d and m adds to that.

void dequantize_q4_1(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_1*>(src);
  const int64_t nb = block_count(n, kQK4_1);
  for (int64_t b = 0; b < nb; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    const float m = f16_to_f32(blocks[b].m);
    float* y = dst + b * kQK4_1;
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      y[j] = static_cast<float>(blocks[b].qs[j] & 0xf) * d + m;
      y[j + 16] = static_cast<float>(blocks[b].qs[j] >> 4) * d + m;
    }
  }
}

void quantize_q4_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ4_1*>(dst);
  const int64_t nb = block_count(n, kQK4_1);
  for (int64_t b = 0; b < nb; ++b) {
    const float* x = src + b * kQK4_1;
    const Range range = value_range(x, kQK4_1);
    const float d = (range.max - range.min) / 15.0f;
    const float inverse = inverse_or_zero(d);
    blocks[b].d = f32_to_f16(d);
    blocks[b].m = f32_to_f16(range.min);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      const int lo = floor_level((x[j] - range.min) * inverse + 0.5f, 15);
      const int hi = floor_level((x[j + 16] - range.min) * inverse + 0.5f, 15);
      blocks[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_q5_1(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_1*>(src);
  const int64_t nb = block_count(n, kQK5_1);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ5_1& block = blocks[b];
    const float d = f16_to_f32(block.d);
    const float m = f16_to_f32(block.m);
    float* y = dst + b * kQK5_1;
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int lo = (block.qs[j] & 0xf) | (q5_high_bit(block.qh, j) << 4);
      const int hi = (block.qs[j] >> 4) | (q5_high_bit(block.qh, j + 16) << 4);
      y[j] = static_cast<float>(lo) * d + m;
      y[j + 16] = static_cast<float>(hi) * d + m;
    }
  }
}

void quantize_q5_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ5_1*>(dst);
  const int64_t nb = block_count(n, kQK5_1);
  for (int64_t b = 0; b < nb; ++b) {
    const float* x = src + b * kQK5_1;
    const Range range = value_range(x, kQK5_1);
    const float d = (range.max - range.min) / 31.0f;
    const float inverse = inverse_or_zero(d);
    int levels[kQK5_1];
    for (int j = 0; j < kQK5_1; ++j)
      levels[j] = floor_level((x[j] - range.min) * inverse + 0.5f, 31);
    blocks[b].d = f32_to_f16(d);
    blocks[b].m = f32_to_f16(range.min);
    pack_q5(levels, blocks[b].qs, blocks[b].qh);
  }
}

// ---- Q8_0 / Q8_1: symmetric 8-bit, value = d * q, q in -127..127 ----

void dequantize_q8_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_0*>(src);
  const int64_t nb = block_count(n, kQK8_0);
  for (int64_t b = 0; b < nb; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    for (int i = 0; i < kQK8_0; ++i) dst[b * kQK8_0 + i] = d * static_cast<float>(blocks[b].qs[i]);
  }
}

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(dst);
  const int64_t nb = block_count(n, kQK8_0);
  for (int64_t b = 0; b < nb; ++b) {
    const float* x = src + b * kQK8_0;
    const float d = std::fabs(signed_extreme(x, kQK8_0)) / 127.0f;
    const float inverse = inverse_or_zero(d);
    blocks[b].d = f32_to_f16(d);
    for (int i = 0; i < kQK8_0; ++i) {
      blocks[b].qs[i] = static_cast<int8_t>(round_level(x[i] * inverse, -127, 127));
    }
  }
}

void dequantize_q8_1(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_1*>(src);
  const int64_t nb = block_count(n, kQK8_1);
  for (int64_t b = 0; b < nb; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    for (int i = 0; i < kQK8_1; ++i) dst[b * kQK8_1 + i] = d * static_cast<float>(blocks[b].qs[i]);
  }
}

void quantize_q8_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_1*>(dst);
  const int64_t nb = block_count(n, kQK8_1);
  for (int64_t b = 0; b < nb; ++b) {
    const float* x = src + b * kQK8_1;
    const float d = std::fabs(signed_extreme(x, kQK8_1)) / 127.0f;
    const float inverse = inverse_or_zero(d);
    int sum = 0;
    for (int i = 0; i < kQK8_1; ++i) {
      const int q = round_level(x[i] * inverse, -127, 127);
      blocks[b].qs[i] = static_cast<int8_t>(q);
      sum += q;
    }
    blocks[b].d = f32_to_f16(d);
    // From the unrounded d, as ggml does: s feeds the dot product's min term, d * sum(q) being
    // the block's sum as the 8-bit quants represent it.
    blocks[b].s = f32_to_f16(static_cast<float>(sum) * d);
  }
}

}  // namespace bottega::quant_ref
