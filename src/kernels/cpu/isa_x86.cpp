// CPU feature detection on x86-64, and the tables of the x86 ISAs. Compiled without ISA flags: it
// only asks the CPU.
#include <algorithm>
#include <vector>

#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/glu.h"
#include "kernels/cpu/kv_rows.h"
#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {
namespace {

bool cpu_has_avx2() {
  // __builtin_cpu_supports also checks that the OS saves the YMM registers (XGETBV).
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}

bool cpu_has_avx512_vnni() {
  // For the AVX-512 features it checks that the OS saves the ZMM and mask registers.
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni");
}

// The AVX-512 ISA is AVX2 with wider kernels for some types: its own entries first, AVX2's for
// the rest. An AVX-512 entry without a dot keeps AVX2's dot.
std::vector<IsaKernel> avx512_table() {
  std::vector<IsaKernel> table(avx512_kernels().begin(), avx512_kernels().end());
  for (const IsaKernel& k : avx2_kernels()) {
    const auto own = std::find_if(table.begin(), table.end(),
                                  [&](const IsaKernel& e) { return e.weight == k.weight; });
    if (own == table.end()) {
      table.push_back(k);
    } else if (own->dot == nullptr) {
      own->dot = k.dot;
    }
  }
  return table;
}

bool cpu_has_avx512_bf16() {
  return __builtin_cpu_supports("avx512bf16");
}

std::vector<IsaInterleavedKernel> avx512_interleaved_table() {
  std::vector<IsaInterleavedKernel> table(avx512_interleaved_kernels().begin(),
                                          avx512_interleaved_kernels().end());
  if (cpu_has_avx512_bf16()) {
    // vdpbf16ps sums a pair of products in one step, so the stored-layout row dots (float FMAs)
    // give other bits: stored matrices are not packed into this layout on the fly.
    const auto bf16 = std::find_if(table.begin(), table.end(), [](const IsaInterleavedKernel& e) {
      return e.weight == TensorType::BF16;
    });
    const IsaInterleavedKernel dot_pairs{.weight = TensorType::BF16,
                                         .tile = avx512bf16_bf16_interleaved_tile,
                                         .bf16_activations = avx512bf16_round_to_bf16,
                                         .decode_groups = kBf16DotDecodeGroups};
    if (bf16 == table.end()) {
      table.push_back(dot_pairs);
    } else {
      *bf16 = dot_pairs;
    }
  }
  for (const IsaInterleavedKernel& k : avx2_interleaved_kernels()) {
    const bool own = std::any_of(table.begin(), table.end(), [&](const IsaInterleavedKernel& e) {
      return e.weight == k.weight;
    });
    if (!own) table.push_back(k);
  }
  return table;
}

bool is_x86_simd(Isa isa) {
  return isa == Isa::kAvx2 || isa == Isa::kAvx512;
}

}  // namespace

std::vector<Isa> cpu_simd_isas() {
  std::vector<Isa> isas;
  if (cpu_has_avx2()) isas.push_back(Isa::kAvx2);
  if (cpu_has_avx512_vnni()) isas.push_back(Isa::kAvx512);
  return isas;
}

std::span<const IsaKernel> simd_kernels(Isa isa) {
  if (isa == Isa::kAvx2) return avx2_kernels();
  if (isa == Isa::kAvx512) {
    static const std::vector<IsaKernel> table = avx512_table();
    return table;
  }
  return {};
}

std::span<const IsaQuantizer> simd_quantizers(Isa isa) {
  if (is_x86_simd(isa)) return avx2_quantizers();
  return {};
}

std::span<const IsaInterleavedKernel> simd_interleaved_kernels(Isa isa) {
  if (isa == Isa::kAvx2) return avx2_interleaved_kernels();
  if (isa == Isa::kAvx512) {
    static const std::vector<IsaInterleavedKernel> table = avx512_interleaved_table();
    return table;
  }
  return {};
}

std::span<const IsaPackingKernel> simd_packing_kernels(Isa isa) {
  if (isa == Isa::kAvx512) return avx512_packing_kernels();
  return {};
}

HalfConverters simd_half_converters(Isa isa) {
  if (is_x86_simd(isa)) return avx2_half_converters();
  return {};
}

AttentionRowKernels simd_attention_row_kernels(Isa isa) {
  if (isa == Isa::kAvx512) return avx512_attention_row_kernels();
  if (is_x86_simd(isa)) return avx2_attention_row_kernels();
  return {};
}

SwigluFn simd_swiglu(Isa isa) {
  return is_x86_simd(isa) ? avx2_swiglu() : nullptr;
}

}  // namespace bottega::kernels
