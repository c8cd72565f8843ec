// Hands out KV cache blocks from a free list.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace bottega {

class BlockAllocator {
 public:
  explicit BlockAllocator(int32_t n_blocks);

  int32_t n_blocks() const { return n_blocks_; }
  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }

  // nullopt when every block is in use.
  std::optional<int32_t> allocate();
  void release(int32_t block);

 private:
  int32_t n_blocks_;
  std::vector<int32_t> free_;  // invariant: each id in [0, n_blocks) appears at most once
};

}  // namespace bottega
