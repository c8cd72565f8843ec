#include "model/kv_cache.h"

#include "core/error.h"

namespace bottega {

KvCache::KvCache(int n_layer, int64_t n_kv_dim, int32_t n_blocks, int32_t block_size)
    : n_layer_(n_layer),
      n_kv_dim_(n_kv_dim),
      n_blocks_(n_blocks),
      block_size_(block_size),
      keys_(static_cast<size_t>(n_layer) * static_cast<size_t>(n_blocks) *
            static_cast<size_t>(block_size) * static_cast<size_t>(n_kv_dim)),
      values_(keys_.size()) {
  BOTTEGA_CHECK(n_layer > 0 && n_kv_dim > 0 && n_blocks > 0 && block_size > 0);
}

size_t KvCache::index(int layer, std::span<const int32_t> block_table, int32_t pos) const {
  const auto slot = static_cast<size_t>(pos / block_size_);
  BOTTEGA_CHECK(layer >= 0 && layer < n_layer_ && pos >= 0 && slot < block_table.size(), "layer ",
                layer, " pos ", pos, " blocks ", block_table.size());
  const int32_t block = block_table[slot];
  BOTTEGA_CHECK(block >= 0 && block < n_blocks_, "block ", block);
  const size_t row =
      (static_cast<size_t>(layer) * static_cast<size_t>(n_blocks_) + static_cast<size_t>(block)) *
          static_cast<size_t>(block_size_) +
      static_cast<size_t>(pos % block_size_);
  return row * static_cast<size_t>(n_kv_dim_);
}

float* KvCache::key(int layer, std::span<const int32_t> table, int32_t pos) {
  return keys_.data() + index(layer, table, pos);
}
float* KvCache::value(int layer, std::span<const int32_t> table, int32_t pos) {
  return values_.data() + index(layer, table, pos);
}
const float* KvCache::key(int layer, std::span<const int32_t> table, int32_t pos) const {
  return keys_.data() + index(layer, table, pos);
}
const float* KvCache::value(int layer, std::span<const int32_t> table, int32_t pos) const {
  return values_.data() + index(layer, table, pos);
}

}  // namespace bottega
