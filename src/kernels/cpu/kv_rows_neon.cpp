// NEON conversions for the KV cache rows (FCVTL/FCVTN: base AArch64, round to nearest even as
// f32_to_f16).
#include <arm_neon.h>

#include "core/half.h"
#include "kernels/cpu/kv_rows.h"

namespace bottega::kernels {
namespace {

void half_to_float_neon(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t halves = vreinterpretq_f16_u16(vld1q_u16(src + i));
    vst1q_f32(dst + i, vcvt_f32_f16(vget_low_f16(halves)));
    vst1q_f32(dst + i + 4, vcvt_high_f32_f16(halves));
  }
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void float_to_half_neon(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x4_t low = vcvt_f16_f32(vld1q_f32(src + i));
    const float16x8_t halves = vcvt_high_f16_f32(low, vld1q_f32(src + i + 4));
    vst1q_u16(dst + i, vreinterpretq_u16_f16(halves));
  }
  for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

}  // namespace

HalfConverters neon_half_converters() {
  return {half_to_float_neon, float_to_half_neon};
}

}  // namespace bottega::kernels
