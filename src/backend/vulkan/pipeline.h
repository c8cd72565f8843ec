// A compute pipeline from SPIR-V: storage buffers at bindings 0..n-1 of set 0 and one block of
// push constants.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <span>

namespace bottega::vulkan {

class Context;

class Pipeline {
 public:
  Pipeline(const Context& context, std::span<const uint32_t> spirv, uint32_t buffer_count,
           uint32_t push_constant_bytes);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  VkPipeline handle() const { return pipeline_; }
  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_; }
  uint32_t buffer_count() const { return buffer_count_; }
  uint32_t push_constant_bytes() const { return push_constant_bytes_; }

 private:
  const Context& context_;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  uint32_t buffer_count_ = 0;
  uint32_t push_constant_bytes_ = 0;
};

}  // namespace bottega::vulkan
