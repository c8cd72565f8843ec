#include "core/host_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

namespace bottega {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// Every byte can be written and read back: a region shorter than asked would fault or (under
// AddressSanitizer) be reported here.
void expect_whole_region_usable(const HostMemory& memory) {
  uint8_t* data = memory.data();
  for (size_t i = 0; i < memory.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  for (size_t i = 0; i < memory.size(); i += 4093) {
    ASSERT_EQ(data[i], static_cast<uint8_t>(i * 7 + 3)) << i;
  }
  ASSERT_EQ(data[memory.size() - 1], static_cast<uint8_t>((memory.size() - 1) * 7 + 3));
}

TEST(HostMemory, SmallRegionIsCacheLineAligned) {
  for (size_t bytes : {size_t{1}, size_t{63}, size_t{4097}, kHugePage - 1}) {
    const HostMemory memory(bytes);
    ASSERT_NE(memory.data(), nullptr);
    EXPECT_EQ(memory.size(), bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(memory.data()) % 64, 0u) << bytes;
    expect_whole_region_usable(memory);
  }
}

// The kernel backs only aligned 2 MiB ranges with huge pages, so a large region starts on one.
TEST(HostMemory, LargeRegionStartsOnAHugePageBoundary) {
  for (size_t bytes : {kHugePage, kHugePage + 1, 3 * kHugePage + 12345}) {
    const HostMemory memory(bytes);
    ASSERT_NE(memory.data(), nullptr);
    EXPECT_EQ(memory.size(), bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(memory.data()) % kHugePage, 0u) << bytes;
    expect_whole_region_usable(memory);
  }
}

TEST(HostMemory, MoveHandsTheRegionOver) {
  HostMemory a(kHugePage + 100);
  a.data()[kHugePage] = 42;
  uint8_t* const data = a.data();
  HostMemory b(std::move(a));
  EXPECT_EQ(a.data(),
            nullptr);       // NOLINT(bugprone-use-after-move): the moved-from state is the point
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.data()[kHugePage], 42);
  HostMemory c(64);
  c = std::move(b);
  EXPECT_EQ(c.data(), data);
  EXPECT_EQ(c.size(), kHugePage + 100);
}

TEST(HostMemory, EmptyRegionHasNoData) {
  const HostMemory memory(0);
  EXPECT_EQ(memory.data(), nullptr);
  EXPECT_EQ(memory.size(), 0u);
}

}  // namespace
}  // namespace bottega
