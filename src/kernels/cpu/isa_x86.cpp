// CPU feature detection on x86-64, and the tables of the x86 ISAs. Compiled without ISA flags: it
// only asks the CPU.
#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/kv_rows.h"
#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {
namespace {

bool cpu_has_avx2() {
  // __builtin_cpu_supports also checks that the OS saves the YMM registers (XGETBV).
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}

}  // namespace

std::vector<Isa> cpu_simd_isas() {
  if (cpu_has_avx2()) return {Isa::kAvx2};
  return {};
}

std::span<const IsaKernel> simd_kernels(Isa isa) {
  if (isa == Isa::kAvx2) return avx2_kernels();
  return {};
}

std::span<const IsaQuantizer> simd_quantizers(Isa isa) {
  if (isa == Isa::kAvx2) return avx2_quantizers();
  return {};
}

std::span<const IsaInterleavedKernel> simd_interleaved_kernels(Isa isa) {
  if (isa == Isa::kAvx2) return avx2_interleaved_kernels();
  return {};
}

HalfConverters simd_half_converters(Isa isa) {
  if (isa == Isa::kAvx2) return avx2_half_converters();
  return {};
}

AttentionRowKernels simd_attention_row_kernels(Isa isa) {
  if (isa == Isa::kAvx2) return avx2_attention_row_kernels();
  return {};
}

}  // namespace bottega::kernels
