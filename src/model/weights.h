// Fetching weight tensors from a GGUF file with their shapes checked.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "kernels/cpu/matmul.h"

namespace bottega {

// One entry of an architecture's weight list: where a tensor goes and the shape it must have.
struct WeightSpec {
  std::string name;            // GGUF tensor name
  std::vector<int64_t> shape;  // GGML order: shape[0] is a row
  kernels::WeightMatrix* target;
  bool required = true;
};

// Binds every spec to its tensor in the file. Throws Error naming the tensor for a missing
// required tensor, a shape mismatch, or a type the engine cannot compute with. An absent optional
// tensor leaves its target's data null.
void bind_weights(const gguf::File& file, const std::vector<WeightSpec>& specs);

// Rewrites each matrix that the CPU kernels run faster interleaved (kernels::prefers_interleaved)
// into a buffer of its own, points the matrix there and releases its pages of the file mapping,
// so resident memory holds one copy of the weights. Returns the buffers, which must outlive the
// matrices. Matrices must point into `file`; matrices sharing a tensor share its conversion.
std::vector<std::unique_ptr<uint8_t[]>> interleave_for_cpu(
    const gguf::File& file, const std::vector<kernels::WeightMatrix*>& matrices);

// Integer hyper-parameter that must be present and positive, else an Error naming the key.
int64_t require_positive(const gguf::File& file, const std::string& key);

}  // namespace bottega
