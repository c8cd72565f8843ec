// CPU feature detection on x86-64. Compiled without ISA flags: it only asks the CPU.
#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {

bool cpu_has_avx2() {
  // __builtin_cpu_supports also checks that the OS saves the YMM registers (XGETBV).
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}

}  // namespace bottega::kernels
