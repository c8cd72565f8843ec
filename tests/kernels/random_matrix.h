// Random weight matrices for the kernel tests: uniform values in [-1, 1] quantized by the type's
// reference quantizer, with their reference dequantization.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "tensor/types.h"

namespace bottega::kernels {

struct Matrix {
  std::vector<uint8_t> stored;
  std::vector<float> values;  // dequantized
};

inline Matrix random_matrix(TensorType type, int64_t n_in, int64_t n_out, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> source(static_cast<size_t>(n_in * n_out));
  for (float& v : source) v = dist(rng);
  Matrix m;
  m.stored.resize(row_bytes(type, n_in) * static_cast<size_t>(n_out));
  type_traits(type).quantize(source.data(), m.stored.data(), n_in * n_out);
  m.values.resize(source.size());
  type_traits(type).dequantize(m.stored.data(), m.values.data(), n_in * n_out);
  return m;
}

}  // namespace bottega::kernels
