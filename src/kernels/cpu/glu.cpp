#include "kernels/cpu/glu.h"

#include <cmath>

#include "kernels/cpu/ops.h"

namespace bottega::kernels {
namespace {

void swiglu_ref(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

}  // namespace

SwigluFn swiglu_kernel(Isa isa) {
  check_available(isa);
  const SwigluFn simd = simd_swiglu(isa);
  return simd != nullptr ? simd : swiglu_ref;
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  static const SwigluFn best = swiglu_kernel(best_isa());
  best(gate, up, out, n);
}

}  // namespace bottega::kernels
