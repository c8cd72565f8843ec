// The integer dot kernels with the ARMv8.2 dot product instructions (SDOT: 16 byte products added
// into 4 int32 lanes in one instruction). Compiled with +dotprod (src/kernels/CMakeLists.txt) and
// called only when isa_arm.cpp finds the instructions on the CPU.
#include <arm_neon.h>

#include "kernels/cpu/vec_dot_neon_int_inl.h"

namespace bottega::kernels {
namespace {

struct SdotDot {
  static int32x4_t dot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
};

}  // namespace

std::span<const IsaKernel> neon_dotprod_kernels() {
  return kIntegerKernels<SdotDot>;
}

}  // namespace bottega::kernels
