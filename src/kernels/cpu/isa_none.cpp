// Architectures without SIMD kernels: every weight type uses its reference dot.
#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/glu.h"
#include "kernels/cpu/kv_rows.h"
#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {

std::vector<Isa> cpu_simd_isas() {
  return {};
}
std::span<const IsaKernel> simd_kernels(Isa) {
  return {};
}
std::span<const IsaQuantizer> simd_quantizers(Isa) {
  return {};
}
std::span<const IsaInterleavedKernel> simd_interleaved_kernels(Isa) {
  return {};
}
std::span<const IsaPackingKernel> simd_packing_kernels(Isa) {
  return {};
}

HalfConverters simd_half_converters(Isa) {
  return {};
}
AttentionRowKernels simd_attention_row_kernels(Isa) {
  return {};
}

SwigluFn simd_swiglu(Isa) {
  return nullptr;
}

}  // namespace bottega::kernels
