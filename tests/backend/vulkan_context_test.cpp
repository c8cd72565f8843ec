// The Vulkan context: device listing, the errors a user sees (no loader, a device index past the
// devices), buffers in and out, several dispatches in one command buffer.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backend/vulkan/context.h"
#include "backend/vulkan/instance.h"
#include "backend/vulkan/kernels.h"
#include "backend/vulkan_test_util.h"
#include "core/error.h"

namespace bottega::vulkan {
namespace {

using testing::download;
using testing::rows_of;
using testing::upload;

std::string error_of(const ContextOptions& options) {
  try {
    Context context(options);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(VulkanContext, MissingLoaderIsAnErrorSayingWhatToInstall) {
  ContextOptions options;
  options.loader_library = "libvulkan-bottega-test-missing.so.1";
  const std::string message = error_of(options);
  EXPECT_NE(message.find("no Vulkan loader"), std::string::npos) << message;
  EXPECT_NE(message.find("libvulkan-bottega-test-missing.so.1"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
}

// The loader reads its driver list from these variables at each instance creation; the test
// points them at nothing and puts them back.
class DriverFilesHidden {
 public:
  DriverFilesHidden() {
    for (const char* name : kVariables) {
      const char* value = std::getenv(name);
      saved_.emplace_back(value != nullptr, value != nullptr ? value : "");
      setenv(name, "/nonexistent/bottega_test_icd.json", 1);
    }
  }
  ~DriverFilesHidden() {
    for (size_t i = 0; i < std::size(kVariables); ++i) {
      if (saved_[i].first) {
        setenv(kVariables[i], saved_[i].second.c_str(), 1);
      } else {
        unsetenv(kVariables[i]);
      }
    }
  }

 private:
  static constexpr const char* kVariables[] = {"VK_ICD_FILENAMES", "VK_DRIVER_FILES"};
  std::vector<std::pair<bool, std::string>> saved_;
};

TEST(VulkanContext, NoDriverIsAnErrorSayingWhatToInstall) {
  const DriverFilesHidden hidden;
  const std::string message = error_of(ContextOptions{});
  EXPECT_TRUE(message.find("no Vulkan driver") != std::string::npos ||
              message.find("found no GPU") != std::string::npos)
      << message;
  EXPECT_NE(message.find("mesa-vulkan-drivers"), std::string::npos) << message;
}

TEST(VulkanContext, ListsDevicesWithNameMemoryAndSubgroupSize) {
  BOTTEGA_SKIP_WITHOUT_VULKAN();
  const Instance instance;
  ASSERT_FALSE(instance.devices().empty()) << "no Vulkan device (BOTTEGA_VULKAN_TESTS=skip skips)";
  for (size_t i = 0; i < instance.devices().size(); ++i) {
    const DeviceInfo& info = instance.devices()[i];
    EXPECT_FALSE(info.name.empty());
    EXPECT_FALSE(info.heaps.empty());
    EXPECT_GT(info.subgroup_size, 0u);
    EXPECT_NE(describe(info, i).find("vulkan" + std::to_string(i) + ": " + info.name),
              std::string::npos);
  }
}

TEST(VulkanContext, DeviceIndexPastTheDevicesNamesTheDevicesThereAre) {
  BOTTEGA_SKIP_WITHOUT_VULKAN();
  const Instance instance;
  ASSERT_FALSE(instance.devices().empty());
  ContextOptions options;
  options.device_index = instance.devices().size();
  const std::string message = error_of(options);
  EXPECT_NE(message.find("no Vulkan device vulkan" + std::to_string(options.device_index)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("vulkan0: " + instance.devices()[0].name), std::string::npos) << message;
}

TEST(VulkanContext, OpensDeviceZeroAsVulkan0) {
  BOTTEGA_SKIP_WITHOUT_VULKAN();
  const Context context;
  EXPECT_EQ(context.name(), "vulkan0");
  EXPECT_FALSE(context.info().name.empty());
}

TEST(VulkanContext, AllocationBeyondTheDevicesMemoryIsAnErrorNotACrash) {
  BOTTEGA_SKIP_WITHOUT_VULKAN();
  const Context context;
  uint64_t total = 0;
  for (const MemoryHeapInfo& heap : context.info().heaps) total += heap.bytes;
  std::string message;
  try {
    context.allocate(4 * total + (uint64_t{1} << 40));
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("allocating a GPU buffer of"), std::string::npos) << message;
  EXPECT_NE(message.find("out of"), std::string::npos) << message;
  // The context still works afterwards.
  EXPECT_NE(context.allocate(1024), nullptr);
}

// Buffers handed back are reused for the same size, so a pass after the first allocates no device
// memory; other sizes get new buffers, and idle buffers past the cap are freed.
TEST(VulkanContext, AcquiredBuffersAreReusedBySize) {
  BOTTEGA_SKIP_WITHOUT_VULKAN();
  const Context context;
  const Buffer* first = nullptr;
  {
    PooledBuffer a = context.acquire(4096);
    first = a.get();
  }
  const uint64_t made = context.allocations();
  std::set<const Buffer*> pair;
  for (int pass = 0; pass < 3; ++pass) {
    PooledBuffer a = context.acquire(4096);
    PooledBuffer b = context.acquire(4096);  // a is taken: another buffer
    EXPECT_NE(a.get(), b.get());
    if (pass == 0) {
      EXPECT_EQ(a.get(), first);
      pair = {a.get(), b.get()};
    } else {
      EXPECT_EQ((std::set<const Buffer*>{a.get(), b.get()}), pair) << "pass " << pass;
    }
  }
  EXPECT_EQ(context.allocations(), made + 1) << "only the second buffer of the first pass is new";
  { PooledBuffer other = context.acquire(8192); }
  EXPECT_EQ(context.allocations(), made + 2);
  // Past the idle cap a returned buffer is freed, not kept.
  { PooledBuffer big = context.acquire(Context::kPoolIdleBytes + 4); }
  { PooledBuffer again = context.acquire(Context::kPoolIdleBytes + 4); }
  EXPECT_EQ(context.allocations(), made + 4);
}

TEST(VulkanContext, UploadsAndDownloadsThroughDeviceAndStagingBuffersAndCopies) {
  BOTTEGA_SKIP_WITHOUT_VULKAN();
  const Context context;
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i) - 7.0f;
  const auto device = upload(context, values);
  EXPECT_EQ(download(context, *device, values.size()), values);

  // Staging memory, and a copy command from it into a device buffer at an offset.
  const auto staging = context.allocate(values.size() * sizeof(float), MemoryKind::kStaging);
  context.upload(*staging, 0, std::as_bytes(std::span(values)));
  const auto target = context.allocate((values.size() + 8) * sizeof(float));
  CommandList commands = context.begin();
  commands.copy(*staging, 0, *target, 8 * sizeof(float), values.size() * sizeof(float));
  context.submit(commands);
  std::vector<float> copied(values.size());
  context.download(*target, 8 * sizeof(float), std::as_writable_bytes(std::span(copied)));
  EXPECT_EQ(copied, values);
}

// Uploads recorded into a command list reach a device buffer the host cannot write (as on a
// discrete GPU): the copy from staging runs before the list's later commands, and the staging
// memory lives until the list has run.
TEST(VulkanContext, UploadsRecordedIntoACommandListArriveBeforeLaterCommands) {
  BOTTEGA_SKIP_WITHOUT_VULKAN();
  ContextOptions options;
  options.map_device_buffers = false;
  const Context context(options);
  std::vector<float> values(300);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 1.5f * static_cast<float>(i) - 99.0f;
  const auto target = context.allocate(values.size() * sizeof(float));
  ASSERT_EQ(target->mapped(), nullptr);
  const auto copy = context.allocate(values.size() * sizeof(float));
  CommandList commands = context.begin();
  context.upload(commands, *target, 0, std::as_bytes(std::span(values)));
  commands.copy(*target, 0, *copy, 0, values.size() * sizeof(float));
  context.submit(commands);
  std::vector<float> back(values.size());
  context.download(*copy, 0, std::as_writable_bytes(std::span(back)));
  EXPECT_EQ(back, values);
}

TEST(VulkanContext, RecordsSeveralDependentDispatchesIntoOneSubmission) {
  BOTTEGA_SKIP_WITHOUT_VULKAN();
  const Context context;
  Kernels kernels(context);
  const uint32_t width = 300;
  std::vector<float> y(width), x(width);
  for (uint32_t i = 0; i < width; ++i) {
    y[i] = static_cast<float>(i);
    x[i] = 1.0f + static_cast<float>(i % 7);
  }
  const auto y_buffer = upload(context, y);
  const auto x_buffer = upload(context, x);
  CommandList commands = context.begin();
  // Each add reads the one before it: wrong barriers would lose updates.
  for (int repeat = 0; repeat < 5; ++repeat) {
    kernels.add(commands, rows_of(*y_buffer, 1, width), rows_of(*x_buffer, 1, width));
  }
  context.submit(commands);
  const std::vector<float> result = download(context, *y_buffer, width);
  for (uint32_t i = 0; i < width; ++i) EXPECT_EQ(result[i], y[i] + 5.0f * x[i]) << i;

  // The list records again after a submission.
  kernels.add(commands, rows_of(*y_buffer, 1, width), rows_of(*x_buffer, 1, width));
  context.submit(commands);
  EXPECT_EQ(download(context, *y_buffer, width)[10], y[10] + 6.0f * x[10]);
}

}  // namespace
}  // namespace bottega::vulkan
