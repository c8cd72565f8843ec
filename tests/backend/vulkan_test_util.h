// Helpers shared by the Vulkan tests: opening the device (or skipping when told to), moving floats
// in and out of buffers.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "backend/vulkan/context.h"
#include "backend/vulkan/kernels.h"

namespace bottega::vulkan::testing {

// CI has a Vulkan device (lavapipe), so a missing one fails the tests; a machine without one
// opts out with BOTTEGA_VULKAN_TESTS=skip.
inline bool skip_requested() {
  const char* value = std::getenv("BOTTEGA_VULKAN_TESTS");
  return value != nullptr && std::string_view(value) == "skip";
}

#define BOTTEGA_SKIP_WITHOUT_VULKAN() \
  if (::bottega::vulkan::testing::skip_requested()) GTEST_SKIP() << "BOTTEGA_VULKAN_TESTS=skip"

template <typename T>
std::unique_ptr<Buffer> upload(const Context& context, std::span<const T> values) {
  auto buffer = context.allocate(weight_buffer_bytes(values.size_bytes()));
  context.upload(*buffer, 0, std::as_bytes(values));
  return buffer;
}

template <typename T>
std::unique_ptr<Buffer> upload(const Context& context, const std::vector<T>& values) {
  return upload(context, std::span<const T>(values));
}

inline std::vector<float> download(const Context& context, const Buffer& buffer, size_t count) {
  std::vector<float> values(count);
  context.download(buffer, 0, std::as_writable_bytes(std::span(values)));
  return values;
}

// A view of a whole buffer as contiguous rows.
inline FloatView rows_of(const Buffer& buffer, uint32_t rows, uint32_t width) {
  return FloatView{&buffer, 0, rows, width, width};
}

}  // namespace bottega::vulkan::testing
