#include "engine/block_allocator.h"

#include "core/error.h"

namespace bottega {

BlockAllocator::BlockAllocator(int32_t n_blocks) : n_blocks_(n_blocks) {
  BOTTEGA_CHECK(n_blocks > 0);
  free_.reserve(static_cast<size_t>(n_blocks));
  // Hand out low ids first: pop_back takes from the end.
  for (int32_t id = n_blocks - 1; id >= 0; --id) free_.push_back(id);
}

std::optional<int32_t> BlockAllocator::allocate() {
  if (free_.empty()) return std::nullopt;
  const int32_t block = free_.back();
  free_.pop_back();
  return block;
}

void BlockAllocator::release(int32_t block) {
  BOTTEGA_CHECK(block >= 0 && block < n_blocks_, "block ", block);
  BOTTEGA_CHECK(static_cast<int32_t>(free_.size()) < n_blocks_, "double release of block ", block);
  free_.push_back(block);
}

}  // namespace bottega
