// KV cache blocks shared between sequences, with prefix caching.
//
// A block holds block_size consecutive positions of one sequence. Blocks are reference counted:
// sequences whose prompts start with the same tokens point their block tables at the same blocks
// instead of computing them again. Once every position of a block has been computed, the owner
// publishes it under (the block before it, its tokens); a later sequence walks its own tokens block
// by block and finds the chain. A published block that no sequence uses any more stays cached until
// its memory is needed: allocate() takes never-cached free blocks first, then evicts the least
// recently released cached block.
//
// Identity, not hashes, decides a match: each publication gets a fresh serial number, and a block's
// key names its predecessor by that serial, so a stale chain (a predecessor evicted and reused for
// other tokens) can never match.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/block_allocator.h"

namespace bottega {

class BlockPool {
 public:
  BlockPool(int32_t n_blocks, int32_t block_size);

  int32_t n_blocks() const { return allocator_.n_blocks(); }
  int32_t block_size() const { return block_size_; }
  // Blocks allocate() can hand out now: free ones plus cached ones nobody uses.
  int32_t n_available() const { return allocator_.n_free() + static_cast<int32_t>(lru_.size()); }
  // Blocks some sequence holds.
  int32_t n_in_use() const { return n_blocks() - n_available(); }
  // Blocks kept for their cached contents (in use or not).
  int32_t n_cached() const { return static_cast<int32_t>(by_key_.size()); }

  // A block with reference count 1, or nullopt when none is available.
  std::optional<int32_t> allocate();
  // Drops one reference; the block returns to the pool (or to the cache, if published) at zero.
  void release(int32_t block);

  // The longest run of published blocks that holds tokens[0 .. n * block_size), each with one more
  // reference taken for the caller. Only whole blocks match.
  std::vector<int32_t> match_prefix(std::span<const int32_t> tokens);

  // Makes a fully computed block findable by match_prefix: `block` holds `tokens` (block_size of
  // them) and follows `previous` (-1 for the first block of a sequence), which must itself be
  // published. Nothing happens when an identical block is already published.
  void publish(int32_t block, int32_t previous, std::span<const int32_t> tokens);
  bool is_published(int32_t block) const { return serial_[static_cast<size_t>(block)] != 0; }

 private:
  struct Key {
    uint64_t previous_serial;
    std::vector<int32_t> tokens;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& key) const;
  };

  void forget(int32_t block);

  BlockAllocator allocator_;
  int32_t block_size_;
  uint64_t next_serial_ = 1;
  std::vector<int32_t> refs_;
  std::vector<uint64_t> serial_;  // 0: not published
  std::vector<Key> key_of_;       // valid while published
  std::unordered_map<Key, int32_t, KeyHash> by_key_;
  std::list<int32_t> lru_;  // published, unreferenced blocks; least recently released first
  std::vector<std::list<int32_t>::iterator> lru_position_;
};

}  // namespace bottega
