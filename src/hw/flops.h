// Peak arithmetic rate: the ceiling for prompt processing, which is bound by multiply-adds.
#pragma once

#include <vector>

#include "core/thread_pool.h"

namespace bottega::hw {

// Passes of about 50 ms each. A peak is the upper quartile of its passes, neither the best nor the
// median: on a shared host the rate moves with what the neighbours run (int8 passes read 190 to
// 370 GOP/s within an hour). At times half of the cores are taken for a second or more, which
// pulls many passes down, and now and then a pass runs faster than anything lasting seconds
// does; the upper quartile stands still under both as long as a quarter of the passes ran
// undisturbed (hw/rates.h). measure_roofline spreads its passes over the whole measurement.
constexpr int kDefaultPeakPasses = 12;

// The rate of each of `passes` passes in which every thread of the pool runs independent chains
// of float32 fused multiply-adds in registers (8-wide AVX2 FMA where the CPU has it, else what
// the compiler makes of plain floats), in floating-point operations per second (an FMA is 2).
std::vector<double> f32_flops_passes(ThreadPool& pool, int passes);

// The same for the integer dot product the quantized kernels are built on: 8-bit products summed
// in pairs to 16 bits, then to 32 (AVX2 maddubs + madd where the CPU has it, else plain int8
// loops), in integer operations per second (a multiply-add of two 8-bit values is 2): the ceiling
// for prompts of quantized models.
std::vector<double> int8_ops_passes(ThreadPool& pool, int passes);

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
