// One Vulkan device opened for compute: its queue, memory, buffers and the submission of recorded
// work. Buffers and pipelines made by a Context must die before it.
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "backend/vulkan/instance.h"
#include "backend/vulkan/loader.h"

namespace bottega::vulkan {

struct ContextOptions {
  std::string loader_library = "libvulkan.so.1";  // tests name a missing one
  size_t device_index = 0;                        // vulkan0, vulkan1, ...
  // false: device buffers are never mapped, even in host-visible memory, so every upload and
  // download goes through staging memory as on a discrete GPU without resizable BAR (tests).
  bool map_device_buffers = true;
};

enum class MemoryKind {
  kDevice,   // device-local: weights, activations (host-visible too on unified-memory devices)
  kStaging,  // host-visible and coherent: uploads and downloads go through it
};

class Context;

// Host memory a buffer can be made over: start and size multiples of the device's import
// alignment.
struct HostRange {
  const std::byte* start = nullptr;
  uint64_t bytes = 0;
};

// A storage buffer with its own memory allocation.
class Buffer {
 public:
  Buffer(const Context& context, uint64_t bytes, MemoryKind kind);
  // A buffer over host memory (VK_EXT_external_memory_host), read in place. Throws Error when
  // the driver refuses it.
  Buffer(const Context& context, HostRange host);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_; }
  uint64_t bytes() const { return bytes_; }
  // The mapped memory, or nullptr when the buffer is not host-visible.
  std::byte* mapped() const { return mapped_; }
  bool host_coherent() const { return host_coherent_; }

 private:
  const Context& context_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  uint64_t bytes_ = 0;
  std::byte* mapped_ = nullptr;
  bool host_coherent_ = false;
};

class CommandList;

// Hands a buffer back to its context's pool instead of freeing it.
struct Recycle {
  const Context* context = nullptr;
  void operator()(Buffer* buffer) const;
};
using PooledBuffer = std::unique_ptr<Buffer, Recycle>;

class Context {
 public:
  // Throws bottega::Error with an actionable message: no loader, no device, an index past the
  // devices there are (the message lists them), no compute queue.
  explicit Context(const ContextOptions& options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const DeviceInfo& info() const { return instance_->devices()[index_]; }
  std::string name() const { return "vulkan" + std::to_string(index_); }

  std::unique_ptr<Buffer> allocate(uint64_t bytes, MemoryKind kind = MemoryKind::kDevice) const;
  // A device buffer of exactly `bytes`, reused from those handed back when one is idle. A forward
  // pass needs the same activation buffers token after token, and a driver's allocation costs far
  // more than a token's dispatch on a GPU; up to kPoolIdleBytes of idle buffers are kept.
  PooledBuffer acquire(uint64_t bytes) const;
  static constexpr uint64_t kPoolIdleBytes = uint64_t{512} << 20;
  // Device memory allocations made so far (each Buffer made), for tests and statistics.
  uint64_t allocations() const { return allocations_.load(); }
  // Whether import_host can work: the device reads system memory and has
  // VK_EXT_external_memory_host with an alignment no larger than a page.
  bool can_import_host() const { return import_alignment_ > 0; }
  // A buffer over host memory that the caller keeps alive and unchanged while the buffer lives
  // (a mapped model file), so the device reads it where it is, without a copy. The buffer covers
  // the pages around `bytes`, which start `offset` bytes into it. Null when the device cannot
  // import (can_import_host) or its driver refuses this memory.
  std::unique_ptr<Buffer> import_host(std::span<const std::byte> bytes, uint64_t& offset) const;
  // Copies host bytes into buffer at offset, waiting until they are there. Mapped, coherent
  // buffers are written directly; others through a staging buffer and one copy command.
  void upload(Buffer& buffer, uint64_t offset, std::span<const std::byte> bytes) const;
  void download(const Buffer& buffer, uint64_t offset, std::span<std::byte> bytes) const;
  // The same as upload, but a copy through staging memory is recorded into `commands` (followed
  // by a barrier) instead of submitted on its own: a pass's inputs then cost no extra round trip
  // to the GPU. The buffer must not be in use by work already submitted.
  void upload(CommandList& commands, Buffer& buffer, uint64_t offset,
              std::span<const std::byte> bytes) const;
  // Starts recording dispatches and copies, to be run by submit().
  CommandList begin() const;
  // Runs the list's commands once and waits for them (fence); the list can be recorded again.
  // One submitter at a time: the context has one queue and one fence.
  void submit(CommandList& commands) const;

  VkDevice device() const { return device_; }
  const DeviceFunctions& functions() const { return functions_; }
  // The index of a memory type allowed by type_bits with every flag in `required` (preferring
  // one that also has `preferred`); throws when there is none.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                       VkMemoryPropertyFlags preferred) const;
  VkMemoryPropertyFlags memory_flags(uint32_t type_index) const;
  bool maps_device_buffers() const { return map_device_buffers_; }
  VkCommandBuffer allocate_command_buffer() const;
  void free_command_buffer(VkCommandBuffer command_buffer) const;

 private:
  std::unique_ptr<Instance> instance_;
  size_t index_ = 0;
  VkPhysicalDevice physical_device_ = VK_NULL_HANDLE;
  VkPhysicalDeviceMemoryProperties memory_{};
  VkDevice device_ = VK_NULL_HANDLE;
  DeviceFunctions functions_;
  uint32_t queue_family_ = 0;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  uint64_t import_alignment_ = 0;  // 0: no import
  bool map_device_buffers_ = true;

  friend struct Recycle;
  friend class Buffer;
  void recycle(Buffer* buffer) const;
  mutable std::atomic<uint64_t> allocations_{0};
  mutable std::mutex pool_mutex_;
  mutable std::multimap<uint64_t, std::unique_ptr<Buffer>> idle_;  // by size
  mutable uint64_t idle_bytes_ = 0;
};

}  // namespace bottega::vulkan
