// Peak arithmetic rate: the ceiling for prompt processing, which is bound by multiply-adds.
#pragma once

#include "core/thread_pool.h"

namespace bottega::hw {

// Best of `repetitions` passes in which every thread of the pool runs independent chains of
// float32 fused multiply-adds in registers (8-wide AVX2 FMA where the CPU has it, else what the
// compiler makes of plain floats). Returns floating-point operations per second (an FMA is 2).
double measure_f32_flops(ThreadPool& pool, int repetitions = 3);

// Internal: FLOPs done by one thread in `iterations` passes of its kernel, and the kernel itself;
// flops_x86.cpp (compiled with AVX2/FMA) or flops_generic.cpp provides it.
struct FlopKernel {
  double flops_per_iteration;
  float (*run)(int64_t iterations, float seed);
};
FlopKernel best_flop_kernel();
// Plain float chains, which the compiler vectorises with the target's baseline SIMD: the kernel
// where there is no ISA-specific one, or where the CPU lacks it.
FlopKernel plain_flop_kernel();

}  // namespace bottega::hw
