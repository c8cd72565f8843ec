// A weight matrix as a view of its bytes, in GGUF's layout or a backend's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/types.h"

namespace bottega {

// A weight matrix as GGUF stores it: n_out rows of n_in values each, rows contiguous.
struct WeightMatrix {
  TensorType type = TensorType::F32;
  int64_t n_in = 0;   // values per row (GGUF ne[0])
  int64_t n_out = 0;  // rows (GGUF ne[1])
  const uint8_t* data = nullptr;
  // Rows interleaved in groups of 8 (the CPU kernels' layout, kernels/cpu/repack.h) instead of
  // stored one after another; row() is then meaningless, dequantize_row still works.
  bool interleaved = false;

  size_t row_stride() const { return row_bytes(type, n_in); }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_stride(); }
};

}  // namespace bottega
