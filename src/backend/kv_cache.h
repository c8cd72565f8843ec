// Storage of attention keys and values, in fixed-size blocks of token positions.
//
// A sequence owns a list of blocks (its block table); position p of the sequence lives in block
// table[p / block_size] at offset p % block_size. Who owns which block is the engine's business;
// the model only reads and writes through block tables it is given.
//
// Rows are stored in the cache type chosen for keys and for values (F16 by default, as llama.cpp
// does; Q8_0 and Q4_0 halve and quarter that again; F32 is exact and kept for tests). A row is
// n_kv_dim values encoded as that type's blocks, so the quantized types need n_kv_dim to be a
// multiple of their block size (32).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tensor/types.h"

namespace bottega {

struct KvCacheTypes {
  TensorType key = TensorType::F16;
  TensorType value = TensorType::F16;
};

// The types a cache can store, in the order messages list them: f32, f16, q8_0, q4_0.
std::span<const TensorType> kv_cache_types();
// Parses a flag value ("f16", "q8_0", ... case-insensitive); throws Error naming `flag` and the
// accepted values otherwise.
TensorType parse_kv_cache_type(std::string_view text, std::string_view flag);
// Bytes of keys plus values that one token position takes over all layers.
uint64_t kv_bytes_per_token(int n_layer, int64_t n_kv_dim, KvCacheTypes types);

class KvCache {
 public:
  // n_kv_dim: values per token per layer for K (and again for V) = n_head_kv * head_dim.
  // Throws Error when a quantized type's blocks do not divide n_kv_dim.
  KvCache(int n_layer, int64_t n_kv_dim, int32_t n_blocks, int32_t block_size,
          KvCacheTypes types = {});

  int32_t n_blocks() const { return n_blocks_; }
  int32_t block_size() const { return block_size_; }
  int64_t n_kv_dim() const { return n_kv_dim_; }
  TensorType key_type() const { return types_.key; }
  TensorType value_type() const { return types_.value; }
  size_t key_row_bytes() const { return key_row_bytes_; }
  size_t value_row_bytes() const { return value_row_bytes_; }
  size_t bytes() const { return keys_.size() + values_.size(); }

  // The encoded row of n_kv_dim values for one token position. Rows of the positions of one block
  // follow each other, row_bytes apart.
  uint8_t* key(int layer, std::span<const int32_t> block_table, int32_t pos);
  uint8_t* value(int layer, std::span<const int32_t> block_table, int32_t pos);
  const uint8_t* key(int layer, std::span<const int32_t> block_table, int32_t pos) const;
  const uint8_t* value(int layer, std::span<const int32_t> block_table, int32_t pos) const;

 private:
  // Index of the row of (layer, pos) among all rows: [n_layer][n_blocks][block_size].
  size_t row(int layer, std::span<const int32_t> block_table, int32_t pos) const;

  int n_layer_;
  int64_t n_kv_dim_;
  int32_t n_blocks_;
  int32_t block_size_;
  KvCacheTypes types_;
  size_t key_row_bytes_;
  size_t value_row_bytes_;
  std::vector<uint8_t> keys_;    // [n_layer][n_blocks][block_size] rows of key_row_bytes_
  std::vector<uint8_t> values_;  // same layout, rows of value_row_bytes_
};

}  // namespace bottega
