// Recording of compute work: dispatches, barriers and copies go into one command buffer, which
// Context::submit runs once and waits on. Descriptor sets come from pools the list owns, so a
// list is self-contained and several can be recorded at once (one per thread at most).
#pragma once

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/vulkan/context.h"

namespace bottega::vulkan {

class Pipeline;

struct WorkgroupCount {
  uint32_t x = 1, y = 1, z = 1;
};

class CommandList {
 public:
  explicit CommandList(const Context& context);
  ~CommandList();
  CommandList(CommandList&& other) noexcept;
  CommandList& operator=(CommandList&&) = delete;
  CommandList(const CommandList&) = delete;
  CommandList& operator=(const CommandList&) = delete;

  // Runs pipeline over `groups` with buffers bound to bindings 0, 1, ... in order (whole
  // buffers: offsets travel in the push constants, since descriptor offsets must be aligned).
  void dispatch(const Pipeline& pipeline, std::span<const Buffer* const> buffers,
                std::span<const std::byte> push_constants, WorkgroupCount groups);
  template <typename PushConstants>
  void dispatch(const Pipeline& pipeline, std::initializer_list<const Buffer*> buffers,
                const PushConstants& push_constants, WorkgroupCount groups) {
    dispatch(pipeline, std::span<const Buffer* const>(buffers.begin(), buffers.size()),
             std::as_bytes(std::span(&push_constants, 1)), groups);
  }
  // Makes every earlier dispatch's and copy's writes visible to every later one.
  void barrier();
  void copy(const Buffer& source, uint64_t source_offset, const Buffer& destination,
            uint64_t destination_offset, uint64_t bytes);
  // Sets every 4-byte word of buffer to value.
  void fill(const Buffer& buffer, uint32_t value);
  // Keeps a buffer (a staging copy) alive until the list has run.
  void hold(std::unique_ptr<Buffer> buffer);
  // A device buffer of at least `bytes` for an op's intermediate values, from the context's pool
  // and kept until the list has run. Every op asking for one gets the same buffer (a larger one
  // when it needs more), so the ops must be separated by barriers, as Kernels' ops are: a pass
  // records a hundred matmuls, and a buffer each would hold them all at once.
  const Buffer& scratch(uint64_t bytes);

  VkCommandBuffer handle() const { return command_buffer_; }
  // Called by Context::submit: close the buffer for submission, then start over once it ran.
  void end();
  void restart();

 private:
  VkDescriptorSet allocate_set(VkDescriptorSetLayout layout);

  const Context* context_;
  VkCommandBuffer command_buffer_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorPool> pools_;
  size_t current_pool_ = 0;
  std::vector<std::unique_ptr<Buffer>> held_;
  std::vector<PooledBuffer> outgrown_scratch_;
  PooledBuffer scratch_;
};

}  // namespace bottega::vulkan
