// Dot kernels and activation quantizers in base AArch64 NEON (every 64-bit ARM CPU runs them);
// compiled only for aarch64 (src/kernels/CMakeLists.txt). The integer dots multiply bytes into
// 16-bit products (exact: |w * q8| <= 128 * 127) and add them pairwise into int32 lanes; CPUs
// with dotprod get SDOT versions of the same kernels (vec_dot_neon_dotprod.cpp).
#include <arm_neon.h>

#include <array>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "kernels/cpu/vec_dot_neon_int_inl.h"

namespace bottega::kernels {
namespace {

using T = TensorType;

struct WideningDot {
  static int32x4_t dot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
  }
};

// ---- Float weights with float activations ----

// sum of load(i) * y[i..i+4) over n values, n a multiple of 4: four accumulators so the
// multiply-adds of consecutive vectors do not wait on each other.
template <class Load>
float dot_float_body(int64_t n, Load load, const float* y) {
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 4; ++k)
      acc[k] = vfmaq_f32(acc[k], load(i + 4 * k), vld1q_f32(y + i + 4 * k));
  }
  for (; i < n; i += 4) acc[0] = vfmaq_f32(acc[0], load(i), vld1q_f32(y + i));
  return vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
}

float dot_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  const int64_t body = n - n % 4;
  float sum = dot_float_body(
      body, [x](int64_t i) { return vld1q_f32(x + i); }, y);
  for (int64_t i = body; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

float dot_f16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  const int64_t body = n - n % 4;
  float sum = dot_float_body(
      body, [x](int64_t i) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))); }, y);
  for (int64_t i = body; i < n; ++i) sum += f16_to_f32(x[i]) * y[i];
  return sum;
}

float dot_bf16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  const int64_t body = n - n % 4;
  // A bfloat16 is the high half of a float.
  float sum = dot_float_body(
      body, [x](int64_t i) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(x + i), 16)); }, y);
  for (int64_t i = body; i < n; ++i) sum += bf16_to_f32(x[i]) * y[i];
  return sum;
}

// A tile of float-weight rows (RM) x float activation rows (RN): each 4 weights are loaded and
// widened once for RN tokens; 4 x 4 keeps 16 accumulators and 4 weight registers of the 32.
template <class Load, int RM, int RN>
void tile_float_fixed(int64_t n, const uint8_t* w, size_t w_stride, const float* a,
                      int64_t a_stride, float* y, int64_t y_stride) {
  const Load load;
  const int64_t body = n - n % 4;
  float32x4_t acc[RM][RN];
  for (int r = 0; r < RM; ++r) {
    for (int c = 0; c < RN; ++c) acc[r][c] = vdupq_n_f32(0.0f);
  }
  for (int64_t i = 0; i < body; i += 4) {
    float32x4_t wv[RM];
    for (int r = 0; r < RM; ++r) wv[r] = load(w + r * w_stride, i);
    for (int c = 0; c < RN; ++c) {
      const float32x4_t x = vld1q_f32(a + c * a_stride + i);
      for (int r = 0; r < RM; ++r) acc[r][c] = vfmaq_f32(acc[r][c], wv[r], x);
    }
  }
  for (int r = 0; r < RM; ++r) {
    for (int c = 0; c < RN; ++c) {
      float sum = vaddvq_f32(acc[r][c]);
      for (int64_t i = body; i < n; ++i) sum += load.one(w + r * w_stride, i) * a[c * a_stride + i];
      y[c * y_stride + r] = sum;
    }
  }
}

template <class Load, int RM>
void tile_float_rows(int64_t n, const uint8_t* w, size_t w_stride, const float* a, int64_t a_stride,
                     int64_t n_cols, float* y, int64_t y_stride) {
  int64_t c = 0;
  for (; c + 4 <= n_cols; c += 4) {
    tile_float_fixed<Load, RM, 4>(n, w, w_stride, a + c * a_stride, a_stride, y + c * y_stride,
                                  y_stride);
  }
  for (; c < n_cols; ++c) {
    tile_float_fixed<Load, RM, 1>(n, w, w_stride, a + c * a_stride, a_stride, y + c * y_stride,
                                  y_stride);
  }
}

template <class Load>
void tile_float(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  const auto* x = reinterpret_cast<const float*>(a);
  const auto x_stride = static_cast<int64_t>(a_stride / sizeof(float));
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) {
    tile_float_rows<Load, 4>(n, w + r * w_stride, w_stride, x, x_stride, n_cols, y + r, y_stride);
  }
  for (; r < n_rows; ++r) {
    tile_float_rows<Load, 1>(n, w + r * w_stride, w_stride, x, x_stride, n_cols, y + r, y_stride);
  }
}

// 4 weights from element i of a row, and one weight for the tails.
struct LoadF32 {
  float32x4_t operator()(const uint8_t* row, int64_t i) const {
    return vld1q_f32(reinterpret_cast<const float*>(row) + i);
  }
  float one(const uint8_t* row, int64_t i) const { return reinterpret_cast<const float*>(row)[i]; }
};
struct LoadF16 {
  float32x4_t operator()(const uint8_t* row, int64_t i) const {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + i;
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
  }
  float one(const uint8_t* row, int64_t i) const {
    return f16_to_f32(reinterpret_cast<const uint16_t*>(row)[i]);
  }
};

// ---- Activation quantizers, byte-identical to quant_ref's ----

// Largest |x| over n values (a multiple of 4); NaN is skipped, as the reference's comparisons
// skip it.
float max_magnitude(const float* x, int n) {
  float32x4_t m = vdupq_n_f32(0.0f);
  for (int i = 0; i < n; i += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + i)));
  return vmaxnmvq_f32(m);
}

// v limited to [-127, 127], NaN to -127: the reference's `!(v > lo)` takes NaN to the low end,
// and maxnm returns the number when the other operand is NaN.
inline float32x4_t clamp127(float32x4_t v) {
  return vminnmq_f32(vmaxnmq_f32(v, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f));
}

// 16 int32 in [-127, 127] -> 16 int8, in order.
inline int8x16_t narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
  const int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
  const int16x8_t cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
  return vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd));
}

// x * inverse of 32 values rounded half away from zero (C's round, as the reference), into q.
void round_block32(const float* x, float inverse, int8_t* q) {
  const float32x4_t scale = vdupq_n_f32(inverse);
  for (int h = 0; h < 2; ++h) {
    int32x4_t r[4];
    for (int k = 0; k < 4; ++k) {
      r[k] = vcvtaq_s32_f32(clamp127(vmulq_f32(vld1q_f32(x + 16 * h + 4 * k), scale)));
    }
    vst1q_s8(q + 16 * h, narrow16(r[0], r[1], r[2], r[3]));
  }
}

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* x = src + b * kQK8_0;
    const float d = max_magnitude(x, kQK8_0) / 127.0f;
    round_block32(x, d != 0.0f ? 1.0f / d : 0.0f, blocks[b].qs);
    blocks[b].d = f32_to_f16(d);
  }
}

void quantize_q8_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / kQK8_1; ++b) {
    const float* x = src + b * kQK8_1;
    const float d = max_magnitude(x, kQK8_1) / 127.0f;
    round_block32(x, d != 0.0f ? 1.0f / d : 0.0f, blocks[b].qs);
    const int sum = vaddlvq_s8(vld1q_s8(blocks[b].qs)) + vaddlvq_s8(vld1q_s8(blocks[b].qs + 16));
    blocks[b].d = f32_to_f16(d);
    blocks[b].s = f32_to_f16(static_cast<float>(sum) * d);
  }
}

void quantize_q8_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    BlockQ8_K& block = blocks[b];
    const float magnitude = max_magnitude(x, kQK_K);
    if (!(magnitude > 0.0f)) {
      std::memset(&block, 0, sizeof(block));
      continue;
    }
    // The reference keeps the sign of the first value of largest magnitude.
    float extreme = magnitude;
    for (int i = 0; i < kQK_K; ++i) {
      if (std::fabs(x[i]) == magnitude) {
        extreme = x[i];
        break;
      }
    }
    const float inverse = -127.0f / extreme;
    const float32x4_t scale = vdupq_n_f32(inverse);
    for (int i = 0; i < kQK_K; i += 16) {
      int32x4_t r[4];
      for (int k = 0; k < 4; ++k) {
        // Ties to even, as the reference's nearbyint under the default rounding mode.
        r[k] = vcvtnq_s32_f32(clamp127(vmulq_f32(scale, vld1q_f32(x + i + 4 * k))));
      }
      const int8x16_t q = narrow16(r[0], r[1], r[2], r[3]);
      vst1q_s8(block.qs + i, q);
      block.bsums[i / 16] = vaddlvq_s8(q);
    }
    block.d = 1.0f / inverse;
  }
}

constexpr std::array kFloatKernels = {
    IsaKernel{T::F32, dot_f32, tile_float<LoadF32>},
    IsaKernel{T::F16, dot_f16, tile_float<LoadF16>},
    IsaKernel{T::BF16, dot_bf16, nullptr},
};

constexpr auto kKernels = [] {
  std::array<IsaKernel, std::size(kIntegerKernels<WideningDot>) + kFloatKernels.size()> table{};
  size_t i = 0;
  for (const IsaKernel& k : kIntegerKernels<WideningDot>) table[i++] = k;
  for (const IsaKernel& k : kFloatKernels) table[i++] = k;
  return table;
}();

constexpr std::array kQuantizers = {
    IsaQuantizer{T::Q8_0, quantize_q8_0},
    IsaQuantizer{T::Q8_1, quantize_q8_1},
    IsaQuantizer{T::Q8_K, quantize_q8_k},
};

}  // namespace

std::span<const IsaKernel> neon_kernels() {
  return kKernels;
}
std::span<const IsaQuantizer> neon_quantizers() {
  return kQuantizers;
}

}  // namespace bottega::kernels
