#include "backend/vulkan/pipeline.h"

#include <vector>

#include "backend/vulkan/context.h"
#include "backend/vulkan/errors.h"
#include "core/error.h"

namespace bottega::vulkan {

Pipeline::Pipeline(const Context& context, std::span<const uint32_t> spirv, uint32_t buffer_count,
                   uint32_t push_constant_bytes)
    : context_(context), buffer_count_(buffer_count), push_constant_bytes_(push_constant_bytes) {
  BOTTEGA_CHECK(!spirv.empty() && push_constant_bytes <= 128,
                "push constants: ", push_constant_bytes, " bytes; Vulkan guarantees 128");
  const DeviceFunctions& f = context.functions();
  const VkDevice device = context.device();

  std::vector<VkDescriptorSetLayoutBinding> bindings(buffer_count);
  for (uint32_t i = 0; i < buffer_count; ++i) {
    bindings[i].binding = i;
    bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bindings[i].descriptorCount = 1;
    bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo set_info{};
  set_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
  set_info.bindingCount = buffer_count;
  set_info.pBindings = bindings.data();
  check(f.create_descriptor_set_layout(device, &set_info, nullptr, &set_layout_),
        "creating a descriptor set layout");

  VkPushConstantRange range{};
  range.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  range.size = push_constant_bytes;
  VkPipelineLayoutCreateInfo layout_info{};
  layout_info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
  layout_info.setLayoutCount = 1;
  layout_info.pSetLayouts = &set_layout_;
  layout_info.pushConstantRangeCount = push_constant_bytes > 0 ? 1 : 0;
  layout_info.pPushConstantRanges = &range;
  VkResult result = f.create_pipeline_layout(device, &layout_info, nullptr, &layout_);
  if (result < 0) {
    f.destroy_descriptor_set_layout(device, set_layout_, nullptr);
    check(result, "creating a pipeline layout");
  }

  VkShaderModuleCreateInfo module_info{};
  module_info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
  module_info.codeSize = spirv.size_bytes();
  module_info.pCode = spirv.data();
  VkShaderModule module = VK_NULL_HANDLE;
  result = f.create_shader_module(device, &module_info, nullptr, &module);
  if (result >= 0) {
    VkComputePipelineCreateInfo pipeline_info{};
    pipeline_info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    pipeline_info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    pipeline_info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    pipeline_info.stage.module = module;
    pipeline_info.stage.pName = "main";
    pipeline_info.layout = layout_;
    result =
        f.create_compute_pipelines(device, VK_NULL_HANDLE, 1, &pipeline_info, nullptr, &pipeline_);
    // The pipeline keeps what it needs of the module.
    f.destroy_shader_module(device, module, nullptr);
  }
  if (result < 0) {
    f.destroy_pipeline_layout(device, layout_, nullptr);
    f.destroy_descriptor_set_layout(device, set_layout_, nullptr);
    check(result, "compiling a compute shader");
  }
}

Pipeline::~Pipeline() {
  const DeviceFunctions& f = context_.functions();
  f.destroy_pipeline(context_.device(), pipeline_, nullptr);
  f.destroy_pipeline_layout(context_.device(), layout_, nullptr);
  f.destroy_descriptor_set_layout(context_.device(), set_layout_, nullptr);
}

}  // namespace bottega::vulkan
