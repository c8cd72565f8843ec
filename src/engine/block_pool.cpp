#include "engine/block_pool.h"

#include "core/error.h"

namespace bottega {

size_t BlockPool::KeyHash::operator()(const Key& key) const {
  // FNV-1a over the serial and the token ids; only spreads buckets, equality decides matches.
  uint64_t h = 1469598103934665603ull ^ key.previous_serial;
  for (int32_t token : key.tokens) {
    h = (h ^ static_cast<uint32_t>(token)) * 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

BlockPool::BlockPool(int32_t n_blocks, int32_t block_size)
    : allocator_(n_blocks),
      block_size_(block_size),
      refs_(static_cast<size_t>(n_blocks), 0),
      serial_(static_cast<size_t>(n_blocks), 0),
      key_of_(static_cast<size_t>(n_blocks)),
      lru_position_(static_cast<size_t>(n_blocks), lru_.end()) {
  BOTTEGA_CHECK(block_size > 0);
}

std::optional<int32_t> BlockPool::allocate() {
  std::optional<int32_t> block = allocator_.allocate();
  if (!block) {
    if (lru_.empty()) return std::nullopt;
    block = lru_.front();
    lru_.pop_front();
    lru_position_[static_cast<size_t>(*block)] = lru_.end();
    forget(*block);
  }
  refs_[static_cast<size_t>(*block)] = 1;
  return block;
}

void BlockPool::release(int32_t block) {
  BOTTEGA_CHECK(block >= 0 && block < n_blocks(), "block ", block);
  int32_t& refs = refs_[static_cast<size_t>(block)];
  BOTTEGA_CHECK(refs > 0, "release of unreferenced block ", block);
  if (--refs > 0) return;
  if (is_published(block)) {
    lru_position_[static_cast<size_t>(block)] = lru_.insert(lru_.end(), block);
  } else {
    allocator_.release(block);
  }
}

std::vector<int32_t> BlockPool::match_prefix(std::span<const int32_t> tokens) {
  std::vector<int32_t> blocks;
  Key key{0, {}};
  for (size_t start = 0; start + static_cast<size_t>(block_size_) <= tokens.size();
       start += static_cast<size_t>(block_size_)) {
    key.tokens.assign(tokens.begin() + static_cast<std::ptrdiff_t>(start),
                      tokens.begin() + static_cast<std::ptrdiff_t>(start) + block_size_);
    const auto found = by_key_.find(key);
    if (found == by_key_.end()) break;
    const int32_t block = found->second;
    auto& position = lru_position_[static_cast<size_t>(block)];
    if (position != lru_.end()) {
      lru_.erase(position);
      position = lru_.end();
    }
    ++refs_[static_cast<size_t>(block)];
    blocks.push_back(block);
    key.previous_serial = serial_[static_cast<size_t>(block)];
  }
  return blocks;
}

void BlockPool::publish(int32_t block, int32_t previous, std::span<const int32_t> tokens) {
  BOTTEGA_CHECK(block >= 0 && block < n_blocks(), "block ", block);
  BOTTEGA_CHECK(static_cast<int32_t>(tokens.size()) == block_size_, "tokens ", tokens.size());
  BOTTEGA_CHECK(refs_[static_cast<size_t>(block)] > 0, "publish of unreferenced block ", block);
  if (is_published(block)) return;
  uint64_t previous_serial = 0;
  if (previous >= 0) {
    previous_serial = serial_[static_cast<size_t>(previous)];
    if (previous_serial == 0) return;  // its predecessor was never published: unreachable
  }
  Key key{previous_serial, std::vector<int32_t>(tokens.begin(), tokens.end())};
  if (by_key_.contains(key)) return;  // computed twice concurrently; the first copy stays
  serial_[static_cast<size_t>(block)] = next_serial_++;
  key_of_[static_cast<size_t>(block)] = key;
  by_key_.emplace(std::move(key), block);
}

void BlockPool::forget(int32_t block) {
  by_key_.erase(key_of_[static_cast<size_t>(block)]);
  key_of_[static_cast<size_t>(block)] = Key{0, {}};
  serial_[static_cast<size_t>(block)] = 0;
}

}  // namespace bottega
