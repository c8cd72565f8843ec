// Storage of attention keys and values, in fixed-size blocks of token positions.
//
// A sequence owns a list of blocks (its block table); position p of the sequence lives in block
// table[p / block_size] at offset p % block_size. Who owns which block is the engine's business;
// the model only reads and writes through block tables it is given.
//
// Each layer's rows live in the memory of the backend that runs the layer (KvLayerMemory), made on
// the layer's first pass: host memory for the CPU's layers, device memory for a GPU's, so a model
// split between them keeps one copy of each layer's cache, where it is read.
//
// Rows are stored in the cache type chosen for keys and for values (F16 by default, as llama.cpp
// does; Q8_0 and Q4_0 halve and quarter that again; F32 is exact and kept for tests). A row is
// n_kv_dim values encoded as that type's blocks, so the quantized types need n_kv_dim to be a
// multiple of their block size (32).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
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

// One layer's keys and values in the memory of one backend; each backend defines its own form.
class KvLayerMemory {
 public:
  virtual ~KvLayerMemory() = default;
};

// The host's form: the layer's [n_blocks][block_size] rows of keys, and of values.
class HostKvLayer final : public KvLayerMemory {
 public:
  // Zero-filled, so every page is resident from the layer's first pass on: memory use is what
  // `fit` predicts, not a surprise when the context fills.
  HostKvLayer(size_t key_bytes, size_t value_bytes) : keys(key_bytes, 0), values(value_bytes, 0) {}
  std::vector<uint8_t> keys;
  std::vector<uint8_t> values;
};

class KvCache {
 public:
  // n_kv_dim: values per token per layer for K (and again for V) = n_head_kv * head_dim.
  // Throws Error when a quantized type's blocks do not divide n_kv_dim.
  KvCache(int n_layer, int64_t n_kv_dim, int32_t n_blocks, int32_t block_size,
          KvCacheTypes types = {}, int n_head_kv = 1);

  int32_t n_blocks() const { return n_blocks_; }
  int32_t block_size() const { return block_size_; }
  int64_t n_kv_dim() const { return n_kv_dim_; }
  TensorType key_type() const { return types_.key; }
  TensorType value_type() const { return types_.value; }
  size_t key_row_bytes() const { return key_row_bytes_; }
  size_t value_row_bytes() const { return value_row_bytes_; }
  int n_layer() const { return n_layer_; }
  // Rows of one layer: n_blocks * block_size, of keys and again of values.
  size_t rows_per_layer() const;
  // Bytes of keys plus values over all layers, wherever they live.
  size_t bytes() const;

  // The index of position pos's row among its layer's rows, through the sequence's block table;
  // throws when the table does not cover pos or names a block past the cache.
  size_t row_in_layer(std::span<const int32_t> block_table, int32_t pos) const;

  // The layer's memory, made by `make` when the layer has none yet. The backend that asks checks
  // that the memory is of its own form: a layer is run by one backend.
  KvLayerMemory& layer_memory(int layer,
                              const std::function<std::unique_ptr<KvLayerMemory>()>& make);
  // The layer's rows in host memory, made when the layer has none; throws when the layer's memory
  // belongs to another backend. Call it before writing rows from several threads.
  HostKvLayer& host_layer(int layer);
  // The same for reading: throws when the layer has no host memory.
  const HostKvLayer& host_layer(int layer) const;

  // Host memory keeps rows split into slices, slice-major: [slice][block][position in block]
  // [slice's values]. A slice is one KV head where a head is whole blocks of both cache types,
  // else the whole row (one slice). Attention reads one head over many positions, which is then
  // one contiguous run per block (one stream over consecutive blocks) instead of a strided
  // fraction of every row, a read the hardware prefetchers follow at a few times the speed.
  int n_host_slices() const { return n_host_slices_; }
  int64_t host_slice_values() const { return n_kv_dim_ / n_host_slices_; }
  size_t key_slice_bytes() const { return key_row_bytes_ / static_cast<size_t>(n_host_slices_); }
  size_t value_slice_bytes() const {
    return value_row_bytes_ / static_cast<size_t>(n_host_slices_);
  }
  // Where slice `slice` of position pos sits among its layer's slices, in slices (times the key
  // or value slice bytes: its byte offset in host_layer's keys or values). The positions of one
  // block follow each other, one slice apart.
  size_t slice_in_layer(std::span<const int32_t> block_table, int32_t pos, int slice) const;

  // The encoded slice of host_slice_values() values of one token position of a layer in host
  // memory (host_layer).
  uint8_t* key(int layer, std::span<const int32_t> block_table, int32_t pos, int slice);
  uint8_t* value(int layer, std::span<const int32_t> block_table, int32_t pos, int slice);

 private:
  int n_layer_;
  int64_t n_kv_dim_;
  int32_t n_blocks_;
  int32_t block_size_;
  KvCacheTypes types_;
  size_t key_row_bytes_;
  size_t value_row_bytes_;
  int n_host_slices_;
  std::vector<std::unique_ptr<KvLayerMemory>> layers_;  // null until the layer's first pass
};

}  // namespace bottega
