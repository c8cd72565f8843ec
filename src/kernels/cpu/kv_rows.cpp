#include "kernels/cpu/kv_rows.h"

#include "core/error.h"
#include "core/half.h"

namespace bottega::kernels {
namespace {

void half_to_float_ref(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void float_to_half_ref(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

const HalfConverters& best_half_converters() {
  static const HalfConverters converters = half_converters(best_isa());
  return converters;
}

}  // namespace

HalfConverters half_converters(Isa isa) {
  check_available(isa);
  const HalfConverters simd = simd_half_converters(isa);
  if (simd.to_float != nullptr && simd.to_half != nullptr) return simd;
  return {half_to_float_ref, float_to_half_ref};
}

void decode_row(TensorType type, const void* src, float* dst, int64_t n) {
  if (type == TensorType::F16) {
    best_half_converters().to_float(static_cast<const uint16_t*>(src), dst, n);
  } else {
    type_traits(type).dequantize(src, dst, n);
  }
}

void decode_rows(TensorType type, const uint8_t* src, size_t src_stride, int64_t n_rows, float* dst,
                 int64_t n) {
  if (type == TensorType::F16) {
    const HalfToFloatFn to_float = best_half_converters().to_float;
    for (int64_t r = 0; r < n_rows; ++r) {
      to_float(reinterpret_cast<const uint16_t*>(src + static_cast<size_t>(r) * src_stride),
               dst + r * n, n);
    }
    return;
  }
  const auto dequantize = type_traits(type).dequantize;
  for (int64_t r = 0; r < n_rows; ++r) {
    dequantize(src + static_cast<size_t>(r) * src_stride, dst + r * n, n);
  }
}

void encode_row(TensorType type, const float* src, void* dst, int64_t n) {
  if (type == TensorType::F16) {
    best_half_converters().to_half(src, static_cast<uint16_t*>(dst), n);
  } else {
    const TypeTraits& traits = type_traits(type);
    BOTTEGA_CHECK(traits.quantize != nullptr, "type ", traits.name, " cannot be encoded");
    traits.quantize(src, dst, n);
  }
}

}  // namespace bottega::kernels
