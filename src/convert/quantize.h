// Re-encoding a GGUF model's weights in another type, with llama.cpp's per-tensor policy for the
// mixed file types (Q4_K_M, ...), keeping all metadata so any GGUF reader loads the result.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "core/thread_pool.h"
#include "tensor/types.h"

namespace bottega::convert {

struct QuantizedTensor {
  std::string name;
  TensorType from;
  TensorType to;
  std::vector<int64_t> shape;
  uint64_t bytes_before;
  uint64_t bytes_after;
};

struct QuantizeSummary {
  uint64_t bytes_before = 0;  // tensor data of the input
  uint64_t bytes_after = 0;
  size_t n_tensors = 0;
};

// Writes `out` with every tensor of `in` converted: matrices to the type the file type's policy
// gives them (falling back, as llama.cpp does, to a type whose block fits rows that the chosen
// type's block does not divide), vectors (norms) to F32. on_tensor is called after each tensor.
// Throws Error for an unknown file type, an input tensor bottega cannot decode, or an I/O failure;
// `out` appears only when complete.
QuantizeSummary quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                               const std::string& file_type, ThreadPool& pool,
                               const std::function<void(const QuantizedTensor&)>& on_tensor);

}  // namespace bottega::convert
