#include "engine/block_allocator.h"

#include <gtest/gtest.h>

#include <set>

namespace bottega {
namespace {

TEST(BlockAllocator, HandsOutEachBlockOnceUntilReleased) {
  BlockAllocator allocator(5);
  std::set<int32_t> taken;
  for (int i = 0; i < 5; ++i) {
    const auto block = allocator.allocate();
    ASSERT_TRUE(block.has_value());
    EXPECT_TRUE(taken.insert(*block).second);
    EXPECT_GE(*block, 0);
    EXPECT_LT(*block, 5);
  }
  EXPECT_FALSE(allocator.allocate().has_value());
  EXPECT_EQ(allocator.n_free(), 0);
  allocator.release(3);
  EXPECT_EQ(allocator.n_free(), 1);
  EXPECT_EQ(allocator.allocate(), 3);
}

}  // namespace
}  // namespace bottega
