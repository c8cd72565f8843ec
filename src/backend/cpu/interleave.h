// A model's matrices moved into the CPU backend's own memory at load, in the interleaved layout
// where the kernels want it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/host_memory.h"
#include "gguf/gguf.h"
#include "tensor/weight_matrix.h"

namespace bottega::backend::cpu {

// Rewrites each matrix into a buffer of its own (interleaved where the CPU kernels run faster
// so, kernels::prefers_interleaved; else as stored), points the matrix there and releases its
// pages of the file mapping, so resident memory holds one copy of the weights. A copy even where
// the layout stays: decode streamed F16 weights 16% faster from the process's own memory than from
// the file's page cache (docs/performance.md, 2026-12-06). Returns the memory, one region on huge
// pages where the system gives them (core/host_memory.h), which must outlive the matrices.
// Matrices must point into `file` (or into memory of the caller's when it is null, whose pages are
// then left alone); matrices sharing a tensor share its conversion. f16_as_bf16: F16 matrices are
// rounded to BF16 where the CPU has BF16 dot products (kernels::bf16_dot_products).
HostMemory copy_for_cpu(const gguf::File* file, const std::vector<WeightMatrix*>& matrices,
                        bool f16_as_bf16 = false);

}  // namespace bottega::backend::cpu
