// CPU feature detection on AArch64, and the tables of the ARM ISAs. Compiled without ISA flags:
// NEON is part of the AArch64 baseline; the dotprod kernels run only when the CPU reports the
// instructions.
#if defined(__APPLE__)
#include <sys/sysctl.h>
#else
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <algorithm>

#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/glu.h"
#include "kernels/cpu/kv_rows.h"
#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {
namespace {

#if defined(__APPLE__)
bool cpu_has_dotprod() {
  int value = 0;
  size_t size = sizeof(value);
  return sysctlbyname("hw.optional.arm.FEAT_DotProd", &value, &size, nullptr, 0) == 0 && value != 0;
}
#else
bool cpu_has_dotprod() {
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;  // the SDOT/UDOT instructions
}
#endif

// The dotprod ISA is NEON with faster integer dots: its own kernels first, NEON's for the rest.
std::vector<IsaKernel> neon_dotprod_table() {
  std::vector<IsaKernel> table(neon_dotprod_kernels().begin(), neon_dotprod_kernels().end());
  for (const IsaKernel& k : neon_kernels()) {
    const bool overridden = std::any_of(table.begin(), table.end(),
                                        [&](const IsaKernel& d) { return d.weight == k.weight; });
    if (!overridden) table.push_back(k);
  }
  return table;
}

}  // namespace

std::vector<Isa> cpu_simd_isas() {
  std::vector<Isa> isas = {Isa::kNeon};
  if (cpu_has_dotprod()) isas.push_back(Isa::kNeonDot);
  return isas;
}

std::span<const IsaKernel> simd_kernels(Isa isa) {
  if (isa == Isa::kNeon) return neon_kernels();
  if (isa == Isa::kNeonDot) {
    static const std::vector<IsaKernel> table = neon_dotprod_table();
    return table;
  }
  return {};
}

std::span<const IsaQuantizer> simd_quantizers(Isa isa) {
  if (isa == Isa::kNeon || isa == Isa::kNeonDot) return neon_quantizers();
  return {};
}

std::span<const IsaInterleavedKernel> simd_interleaved_kernels(Isa isa) {
  if (isa == Isa::kNeonDot) return neon_dotprod_interleaved_kernels();
  return {};
}

std::span<const IsaPackingKernel> simd_packing_kernels(Isa) {
  return {};
}

HalfConverters simd_half_converters(Isa isa) {
  if (isa == Isa::kNeon || isa == Isa::kNeonDot) return neon_half_converters();
  return {};
}

AttentionRowKernels simd_attention_row_kernels(Isa isa) {
  if (isa == Isa::kNeon || isa == Isa::kNeonDot) return neon_attention_row_kernels();
  return {};
}

SwigluFn simd_swiglu(Isa) {
  return nullptr;
}

}  // namespace bottega::kernels
