// Peak arithmetic rate: the ceiling for prompt processing, which is bound by multiply-adds.
#pragma once

#include "core/thread_pool.h"

namespace bottega::hw {

// Passes of about 50 ms each. The best is the peak: other work only ever lowers a pass. On a shared
// host a neighbour takes half of the cores for a second or so at times, and 3 passes in a row read
// half the peak twice in one afternoon (docs/performance.md); measure_roofline spreads its passes.
constexpr int kDefaultPeakPasses = 12;

// Best of `repetitions` passes in which every thread of the pool runs independent chains of
// float32 fused multiply-adds in registers (8-wide AVX2 FMA where the CPU has it, else what the
// compiler makes of plain floats). Returns floating-point operations per second (an FMA is 2).
double measure_f32_flops(ThreadPool& pool, int repetitions = kDefaultPeakPasses);

// The same for the integer dot product the quantized kernels are built on: 8-bit products summed
// in pairs to 16 bits, then to 32 (AVX2 maddubs + madd where the CPU has it, else plain int8
// loops). Returns integer operations per second (a multiply-add of two 8-bit values is 2), the
// ceiling for prompts of quantized models.
double measure_int8_ops(ThreadPool& pool, int repetitions = kDefaultPeakPasses);

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

// Integer kernels in the same shape: operations done per iteration, and the loop (its result
// is a checksum that keeps the work observable).
struct IntOpKernel {
  double ops_per_iteration;
  int64_t (*run)(int64_t iterations, int seed);
};
IntOpKernel best_int8_kernel();
IntOpKernel plain_int8_kernel();

}  // namespace bottega::hw
