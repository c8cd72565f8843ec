// SwiGLU on float rows, with a SIMD path: it runs over every value of a model's feed-forward
// layer (5632 per token of the standard model), where a scalar exp per value costs a few percent
// of a prompt.
#pragma once

#include <cstdint>

#include "kernels/cpu/vec_dot.h"

namespace bottega::kernels {

// out[i] = silu(gate[i]) * up[i]; out may alias gate.
using SwigluFn = void (*)(const float* gate, const float* up, float* out, int64_t n);

// The kernel of `isa` (one of available_isas(), checked); kRef's is the plain loop with std::exp.
SwigluFn swiglu_kernel(Isa isa);

// Implementation detail of the dispatch: the ISA's own, nullptr where it has none (isa_x86.cpp,
// isa_arm.cpp, isa_none.cpp), and the ISA files'.
SwigluFn simd_swiglu(Isa isa);
SwigluFn avx2_swiglu();

}  // namespace bottega::kernels
