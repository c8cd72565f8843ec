#include "backend/kv_cache.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "core/error.h"

namespace bottega {
namespace {

constexpr std::array<TensorType, 4> kCacheTypes = {TensorType::F32, TensorType::F16,
                                                   TensorType::Q8_0, TensorType::Q4_0};

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string accepted_names() {
  std::string names;
  for (TensorType type : kCacheTypes) {
    names += (names.empty() ? "" : ", ") + lowercase(type_name(type));
  }
  return names;
}

bool is_cache_type(TensorType type) {
  return std::find(kCacheTypes.begin(), kCacheTypes.end(), type) != kCacheTypes.end();
}

size_t checked_row_bytes(TensorType type, int64_t n_kv_dim, std::string_view flag) {
  BOTTEGA_CHECK(is_cache_type(type), "KV cache type ", type_name(type));
  const int64_t block = type_traits(type).block_size;
  if (n_kv_dim % block != 0) {
    throw Error(str(flag, " ", lowercase(type_name(type)), " stores rows in blocks of ", block,
                    " values, but this model's K/V rows have ", n_kv_dim,
                    " values (n_head_kv * head_dim); use ", flag, " f16"));
  }
  return row_bytes(type, n_kv_dim);
}

// One slice per KV head where a head is whole blocks of both types, else one per row.
int host_slices(int64_t n_kv_dim, int n_head_kv, KvCacheTypes types) {
  BOTTEGA_CHECK(n_head_kv > 0 && n_kv_dim % n_head_kv == 0, "n_head_kv ", n_head_kv);
  const int64_t head_dim = n_kv_dim / n_head_kv;
  const bool whole_blocks = head_dim % type_traits(types.key).block_size == 0 &&
                            head_dim % type_traits(types.value).block_size == 0;
  return whole_blocks ? n_head_kv : 1;
}

}  // namespace

std::span<const TensorType> kv_cache_types() {
  return kCacheTypes;
}

TensorType parse_kv_cache_type(std::string_view text, std::string_view flag) {
  const auto type = parse_type_name(text);
  if (!type || !is_cache_type(*type)) {
    throw Error(str(flag, " '", text, "' is not a KV cache type; use one of ", accepted_names()));
  }
  return *type;
}

uint64_t kv_bytes_per_token(int n_layer, int64_t n_kv_dim, KvCacheTypes types) {
  return static_cast<uint64_t>(n_layer) *
         (checked_row_bytes(types.key, n_kv_dim, "--cache-type-k") +
          checked_row_bytes(types.value, n_kv_dim, "--cache-type-v"));
}

KvCache::KvCache(int n_layer, int64_t n_kv_dim, int32_t n_blocks, int32_t block_size,
                 KvCacheTypes types, int n_head_kv)
    : n_layer_(n_layer),
      n_kv_dim_(n_kv_dim),
      n_blocks_(n_blocks),
      block_size_(block_size),
      types_(types),
      key_row_bytes_(checked_row_bytes(types.key, n_kv_dim, "--cache-type-k")),
      value_row_bytes_(checked_row_bytes(types.value, n_kv_dim, "--cache-type-v")),
      n_host_slices_(host_slices(n_kv_dim, n_head_kv, types)) {
  BOTTEGA_CHECK(n_layer > 0 && n_kv_dim > 0 && n_blocks > 0 && block_size > 0);
  layers_.resize(static_cast<size_t>(n_layer));
}

size_t KvCache::rows_per_layer() const {
  return static_cast<size_t>(n_blocks_) * static_cast<size_t>(block_size_);
}

size_t KvCache::bytes() const {
  return static_cast<size_t>(n_layer_) * rows_per_layer() * (key_row_bytes_ + value_row_bytes_);
}

size_t KvCache::row_in_layer(std::span<const int32_t> block_table, int32_t pos) const {
  const auto slot = static_cast<size_t>(pos / block_size_);
  BOTTEGA_CHECK(pos >= 0 && slot < block_table.size(), "pos ", pos, " blocks ", block_table.size());
  const int32_t block = block_table[slot];
  BOTTEGA_CHECK(block >= 0 && block < n_blocks_, "block ", block);
  return static_cast<size_t>(block) * static_cast<size_t>(block_size_) +
         static_cast<size_t>(pos % block_size_);
}

KvLayerMemory& KvCache::layer_memory(int layer,
                                     const std::function<std::unique_ptr<KvLayerMemory>()>& make) {
  BOTTEGA_CHECK(layer >= 0 && layer < n_layer_, "layer ", layer);
  std::unique_ptr<KvLayerMemory>& memory = layers_[static_cast<size_t>(layer)];
  if (memory == nullptr) memory = make();
  return *memory;
}

HostKvLayer& KvCache::host_layer(int layer) {
  KvLayerMemory& memory = layer_memory(layer, [&] {
    return std::make_unique<HostKvLayer>(rows_per_layer() * key_row_bytes_,
                                         rows_per_layer() * value_row_bytes_);
  });
  auto* host = dynamic_cast<HostKvLayer*>(&memory);
  BOTTEGA_CHECK(host != nullptr, "layer ", layer, "'s KV cache is in a device's memory");
  return *host;
}

const HostKvLayer& KvCache::host_layer(int layer) const {
  BOTTEGA_CHECK(layer >= 0 && layer < n_layer_, "layer ", layer);
  const auto* host = dynamic_cast<const HostKvLayer*>(layers_[static_cast<size_t>(layer)].get());
  BOTTEGA_CHECK(host != nullptr, "layer ", layer, "'s KV cache is not in host memory");
  return *host;
}

size_t KvCache::slice_in_layer(std::span<const int32_t> block_table, int32_t pos, int slice) const {
  BOTTEGA_CHECK(slice >= 0 && slice < n_host_slices_, "slice ", slice);
  const size_t row = row_in_layer(block_table, pos);
  // Slice-major: a head's blocks follow each other, one stream over a sequence's consecutive
  // blocks.
  return static_cast<size_t>(slice) * rows_per_layer() + row;
}

uint8_t* KvCache::key(int layer, std::span<const int32_t> table, int32_t pos, int slice) {
  return host_layer(layer).keys.data() + slice_in_layer(table, pos, slice) * key_slice_bytes();
}
uint8_t* KvCache::value(int layer, std::span<const int32_t> table, int32_t pos, int slice) {
  return host_layer(layer).values.data() + slice_in_layer(table, pos, slice) * value_slice_bytes();
}

}  // namespace bottega
