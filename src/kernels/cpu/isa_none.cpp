// Architectures without SIMD kernels: every weight type uses its reference dot.
#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/kv_rows.h"
#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {

bool cpu_has_avx2() {
  return false;
}
std::span<const IsaKernel> avx2_kernels() {
  return {};
}
std::span<const IsaQuantizer> avx2_quantizers() {
  return {};
}
std::span<const IsaInterleavedKernel> avx2_interleaved_kernels() {
  return {};
}
HalfConverters avx2_half_converters() {
  return {};
}
AttentionRowKernels avx2_attention_row_kernels() {
  return {};
}

}  // namespace bottega::kernels
