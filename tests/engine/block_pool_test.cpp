// BlockPool: reference counts, prefix matching by chain identity, eviction of cached blocks.
#include "engine/block_pool.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>

namespace bottega {
namespace {

std::vector<int32_t> iota_tokens(int32_t n, int32_t start) {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  std::iota(tokens.begin(), tokens.end(), start);
  return tokens;
}

// Allocates blocks for tokens and publishes them as a sequence would after computing them.
std::vector<int32_t> compute_and_publish(BlockPool& pool, const std::vector<int32_t>& tokens) {
  std::vector<int32_t> blocks;
  const int32_t bs = pool.block_size();
  for (size_t start = 0; start + static_cast<size_t>(bs) <= tokens.size(); start += bs) {
    const int32_t block = *pool.allocate();
    pool.publish(block, blocks.empty() ? -1 : blocks.back(),
                 std::span<const int32_t>(tokens).subspan(start, static_cast<size_t>(bs)));
    blocks.push_back(block);
  }
  return blocks;
}

TEST(BlockPool, AllocatesEveryBlockOnceThenRunsOut) {
  BlockPool pool(5, 4);
  std::set<int32_t> seen;
  for (int i = 0; i < 5; ++i) {
    const auto block = pool.allocate();
    ASSERT_TRUE(block.has_value());
    EXPECT_TRUE(seen.insert(*block).second);
  }
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_EQ(pool.n_available(), 0);
  pool.release(3);
  EXPECT_EQ(pool.n_available(), 1);
  EXPECT_EQ(pool.allocate(), 3);
}

TEST(BlockPool, MatchesTheLongestPublishedPrefixAndSharesIt) {
  BlockPool pool(8, 4);
  const auto tokens = iota_tokens(10, 100);  // two full blocks and a partial one
  const auto blocks = compute_and_publish(pool, tokens);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(pool.n_cached(), 2);

  auto other = iota_tokens(12, 100);
  other[9] = 7;  // differs inside the third block only
  const auto matched = pool.match_prefix(other);
  EXPECT_EQ(matched, blocks);
  // Shared: releasing the first owner keeps them in use for the second.
  for (int32_t b : blocks) pool.release(b);
  EXPECT_EQ(pool.n_in_use(), 2);
  for (int32_t b : matched) pool.release(b);
  EXPECT_EQ(pool.n_in_use(), 0);
  EXPECT_EQ(pool.n_available(), 8);
  EXPECT_EQ(pool.n_cached(), 2);  // still findable until evicted

  auto differs_first = iota_tokens(8, 100);
  differs_first[0] = 1;
  EXPECT_TRUE(pool.match_prefix(differs_first).empty());
  EXPECT_TRUE(pool.match_prefix(iota_tokens(3, 100)).empty());  // no whole block
}

TEST(BlockPool, EvictsCachedBlocksOnlyWhenFreeOnesRunOut) {
  BlockPool pool(3, 2);
  const auto blocks = compute_and_publish(pool, iota_tokens(4, 0));  // 2 blocks
  for (int32_t b : blocks) pool.release(b);
  const auto fresh = pool.allocate();  // the never-used block comes first
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(pool.n_cached(), 2);
  EXPECT_TRUE(pool.allocate().has_value());  // evicts one cached block
  EXPECT_EQ(pool.n_cached(), 1);
  EXPECT_TRUE(pool.allocate().has_value());
  EXPECT_EQ(pool.n_cached(), 0);
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_TRUE(pool.match_prefix(iota_tokens(4, 0)).empty());
}

TEST(BlockPool, AStaleChainNeverMatchesAfterItsHeadIsReused) {
  BlockPool pool(3, 2);
  const auto a = compute_and_publish(pool, {1, 2, 3, 4});
  // Release the head first so it is evicted first, while its successor stays cached.
  pool.release(a[0]);
  pool.release(a[1]);
  const auto free_block = pool.allocate();  // the third, never-used block
  ASSERT_TRUE(free_block.has_value());
  const int32_t reused = *pool.allocate();  // evicts a[0]
  EXPECT_EQ(reused, a[0]);
  pool.publish(reused, -1, std::vector<int32_t>{9, 9});
  // {9, 9, 3, 4} now has a published head, but a[1] followed the old {1, 2}.
  EXPECT_EQ(pool.match_prefix(std::vector<int32_t>{9, 9, 3, 4}).size(), 1u);
  EXPECT_TRUE(pool.match_prefix(std::vector<int32_t>{1, 2, 3, 4}).empty());
}

TEST(BlockPool, PublishingADuplicateKeepsTheFirstCopy) {
  BlockPool pool(4, 2);
  const auto first = compute_and_publish(pool, {5, 6});
  const auto second = compute_and_publish(pool, {5, 6});
  EXPECT_EQ(pool.n_cached(), 1);
  EXPECT_FALSE(pool.is_published(second[0]));
  EXPECT_EQ(pool.match_prefix(std::vector<int32_t>{5, 6}), first);
}

}  // namespace
}  // namespace bottega
