// Fetching weight tensors from a GGUF file with their shapes checked.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tensor/weight_matrix.h"

namespace bottega {

// One entry of an architecture's weight list: where a tensor goes and the shape it must have.
struct WeightSpec {
  std::string name;            // GGUF tensor name
  std::vector<int64_t> shape;  // GGML order: shape[0] is a row
  WeightMatrix* target;
  bool required = true;
};

// Binds every spec to its tensor in the file. Throws Error naming the tensor for a missing
// required tensor, a shape mismatch, or a type the engine cannot compute with. An absent optional
// tensor leaves its target's data null.
void bind_weights(const gguf::File& file, const std::vector<WeightSpec>& specs);

// Integer hyper-parameter that must be present and positive, else an Error naming the key.
int64_t require_positive(const gguf::File& file, const std::string& key);

}  // namespace bottega
