// The CPU kernels' interleaved weight layout, applied to a model's matrices at load.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gguf/gguf.h"
#include "tensor/weight_matrix.h"

namespace bottega::backend::cpu {

// Rewrites each matrix that the CPU kernels run faster interleaved (kernels::prefers_interleaved)
// into a buffer of its own, points the matrix there and releases its pages of the file mapping,
// so resident memory holds one copy of the weights. Returns the buffers, which must outlive the
// matrices. Matrices must point into `file` (or into memory of the caller's when it is null, whose
// pages are then left alone); matrices sharing a tensor share its conversion.
std::vector<std::unique_ptr<uint8_t[]>> interleave_for_cpu(
    const gguf::File* file, const std::vector<WeightMatrix*>& matrices);

}  // namespace bottega::backend::cpu
