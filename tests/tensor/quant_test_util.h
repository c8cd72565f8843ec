// Helpers shared by the tensor tests: a random source that gives the same numbers with every
// standard library (std:: distributions do not, and golden hashes must not depend on them),
// inputs shaped like the cases the codecs must handle, random-but-valid encoded blocks, and a
// byte hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "tensor/blocks.h"
#include "tensor/types.h"

namespace bottega::tensor_testing {

// SplitMix64: tiny, fully specified, good enough for test data.
class PortableRng {
 public:
  explicit PortableRng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1) on multiples of 2^-23: exact in float, no rounding anywhere.
  float uniform() { return static_cast<float>(next() >> 40) * 0x1p-23f - 1.0f; }

 private:
  uint64_t state_;
};

// Inputs for the golden tests, n values (a multiple of 256).
//   0: uniform in [-1, 1)
//   1: bell-shaped (sum of four uniforms, sigma ~0.06) with every 61st value 16x larger
//   2: per 256 values: 32 zeros, 32 copies of 0.37, 32 of -0.37, the rest in [0.1, 1.1);
//      values 256..511 all zero (a whole zero super-block)
inline std::vector<float> golden_input(int kind, int64_t n, uint64_t seed) {
  PortableRng rng(seed);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    float v = 0.0f;
    if (kind == 0) {
      v = rng.uniform();
    } else if (kind == 1) {
      v = 0.05f * (rng.uniform() + rng.uniform() + rng.uniform() + rng.uniform());
      if (i % 61 == 0) v *= 16.0f;
    } else {
      const int64_t k = i % 256;
      if (i >= 256 && i < 512) {
        v = 0.0f;
      } else if (k < 32) {
        v = 0.0f;
      } else if (k < 64) {
        v = 0.37f;
      } else if (k < 96) {
        v = -0.37f;
      } else {
        v = 0.6f + 0.5f * rng.uniform();
      }
    }
    x[static_cast<size_t>(i)] = v;
  }
  return x;
}

// Byte offsets of the scale fields (half, except Q8_K's float) of each block type.
struct ScaleFields {
  size_t half_offsets[2];
  int half_count;
  bool float_d;  // Q8_K: float d at offset 0
};
inline ScaleFields scale_fields(TensorType type) {
  switch (type) {
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::Q8_0:
      return {{0, 0}, 1, false};
    case TensorType::Q4_1:
    case TensorType::Q5_1:
    case TensorType::Q8_1:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
      return {{0, 2}, 2, false};
    case TensorType::Q2_K:
      return {{offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}, 2, false};
    case TensorType::Q3_K:
      return {{offsetof(BlockQ3_K, d), 0}, 1, false};
    case TensorType::Q6_K:
      return {{offsetof(BlockQ6_K, d), 0}, 1, false};
    case TensorType::Q8_K:
      return {{0, 0}, 0, true};
    default:
      return {{0, 0}, 0, false};
  }
}

// nblocks random blocks of a quantized type: every quant/scale byte random, the scale fields
// finite values in [-2, 2) (MXFP4's exponent byte in 0..135: scales 2^-128 .. 2^7, the two
// subnormal ones included), so every decoded value is finite.
inline std::vector<uint8_t> random_blocks(TensorType type, int64_t nblocks, uint64_t seed) {
  const TypeTraits& traits = type_traits(type);
  PortableRng rng(seed);
  std::vector<uint8_t> bytes(static_cast<size_t>(nblocks) * traits.block_bytes);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng.next() >> 56);
  const ScaleFields fields = scale_fields(type);
  for (int64_t b = 0; b < nblocks; ++b) {
    uint8_t* block = bytes.data() + static_cast<size_t>(b) * traits.block_bytes;
    for (int f = 0; f < fields.half_count; ++f) {
      const uint16_t h = f32_to_f16(2.0f * rng.uniform());
      std::memcpy(block + fields.half_offsets[f], &h, sizeof(h));
    }
    if (fields.float_d) {
      const float d = 0.01f * rng.uniform();
      std::memcpy(block, &d, sizeof(d));
    }
    if (type == TensorType::MXFP4) block[0] = static_cast<uint8_t>((rng.next() >> 56) % 136);
  }
  return bytes;
}

// FNV-1a, 64-bit.
inline uint64_t fnv1a(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t hash = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

}  // namespace bottega::tensor_testing
