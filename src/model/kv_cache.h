// Storage of attention keys and values, in fixed-size blocks of token positions.
//
// A sequence owns a list of blocks (its block table); position p of the sequence lives in block
// table[p / block_size] at offset p % block_size. Who owns which block is the engine's business;
// the model only reads and writes through block tables it is given.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace bottega {

class KvCache {
 public:
  // n_kv_dim: floats per token per layer for K (and again for V) = n_head_kv * head_dim.
  KvCache(int n_layer, int64_t n_kv_dim, int32_t n_blocks, int32_t block_size);

  int32_t n_blocks() const { return n_blocks_; }
  int32_t block_size() const { return block_size_; }
  int64_t n_kv_dim() const { return n_kv_dim_; }
  size_t bytes() const { return keys_.size() * sizeof(float) * 2; }

  // The row of n_kv_dim floats for one token position.
  float* key(int layer, std::span<const int32_t> block_table, int32_t pos);
  float* value(int layer, std::span<const int32_t> block_table, int32_t pos);
  const float* key(int layer, std::span<const int32_t> block_table, int32_t pos) const;
  const float* value(int layer, std::span<const int32_t> block_table, int32_t pos) const;

 private:
  size_t index(int layer, std::span<const int32_t> block_table, int32_t pos) const;

  int n_layer_;
  int64_t n_kv_dim_;
  int32_t n_blocks_;
  int32_t block_size_;
  std::vector<float> keys_;    // [n_layer][n_blocks][block_size][n_kv_dim]
  std::vector<float> values_;  // same layout as keys_
};

}  // namespace bottega
