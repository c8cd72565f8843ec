#include "backend/vulkan/loader.h"

#include <dlfcn.h>

#include "core/error.h"

namespace bottega::vulkan {
namespace {

// Casts the generic pointer a get-proc-addr returns to the entry point's own type; a missing
// required entry point means a broken driver, which the user can only fix by updating it.
template <typename Function>
void resolve(Function& out, PFN_vkVoidFunction function, const char* name) {
  if (function == nullptr) {
    throw Error(str("the Vulkan driver lacks ", name, ": update the GPU driver or run on the CPU"));
  }
  out = reinterpret_cast<Function>(function);
}

}  // namespace

Loader::Loader(const std::string& library) {
  handle_ = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    throw Error(str("no Vulkan loader (", library,
                    " could not be opened): install the GPU driver's Vulkan support "
                    "(Debian: libvulkan1 and mesa-vulkan-drivers) or run on the CPU"));
  }
  get_instance_proc_addr_ =
      reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(handle_, "vkGetInstanceProcAddr"));
  if (get_instance_proc_addr_ == nullptr) {
    dlclose(handle_);
    throw Error(str(library,
                    " has no vkGetInstanceProcAddr: it is not a Vulkan loader; "
                    "reinstall libvulkan1 or run on the CPU"));
  }
}

Loader::~Loader() {
  dlclose(handle_);
}

GlobalFunctions load_global_functions(const Loader& loader) {
  const PFN_vkGetInstanceProcAddr get = loader.get_instance_proc_addr();
  GlobalFunctions functions;
  resolve(functions.create_instance, get(nullptr, "vkCreateInstance"), "vkCreateInstance");
  functions.enumerate_instance_version =
      reinterpret_cast<PFN_vkEnumerateInstanceVersion>(get(nullptr, "vkEnumerateInstanceVersion"));
  return functions;
}

InstanceFunctions load_instance_functions(const Loader& loader, VkInstance instance) {
  const PFN_vkGetInstanceProcAddr get = loader.get_instance_proc_addr();
  InstanceFunctions f;
  auto load = [&](auto& out, const char* name) { resolve(out, get(instance, name), name); };
  load(f.destroy_instance, "vkDestroyInstance");
  load(f.enumerate_physical_devices, "vkEnumeratePhysicalDevices");
  load(f.get_physical_device_properties, "vkGetPhysicalDeviceProperties");
  load(f.get_physical_device_properties2, "vkGetPhysicalDeviceProperties2");
  load(f.get_physical_device_features2, "vkGetPhysicalDeviceFeatures2");
  load(f.get_physical_device_memory_properties, "vkGetPhysicalDeviceMemoryProperties");
  load(f.get_physical_device_queue_family_properties, "vkGetPhysicalDeviceQueueFamilyProperties");
  load(f.enumerate_device_extension_properties, "vkEnumerateDeviceExtensionProperties");
  load(f.create_device, "vkCreateDevice");
  load(f.get_device_proc_addr, "vkGetDeviceProcAddr");
  return f;
}

DeviceFunctions load_device_functions(const InstanceFunctions& instance_functions,
                                      VkDevice device) {
  const PFN_vkGetDeviceProcAddr get = instance_functions.get_device_proc_addr;
  DeviceFunctions f;
  auto load = [&](auto& out, const char* name) { resolve(out, get(device, name), name); };
  load(f.destroy_device, "vkDestroyDevice");
  load(f.get_device_queue, "vkGetDeviceQueue");
  load(f.device_wait_idle, "vkDeviceWaitIdle");
  load(f.create_buffer, "vkCreateBuffer");
  load(f.destroy_buffer, "vkDestroyBuffer");
  load(f.get_buffer_memory_requirements, "vkGetBufferMemoryRequirements");
  load(f.allocate_memory, "vkAllocateMemory");
  load(f.free_memory, "vkFreeMemory");
  load(f.bind_buffer_memory, "vkBindBufferMemory");
  load(f.map_memory, "vkMapMemory");
  load(f.unmap_memory, "vkUnmapMemory");
  load(f.flush_mapped_memory_ranges, "vkFlushMappedMemoryRanges");
  load(f.invalidate_mapped_memory_ranges, "vkInvalidateMappedMemoryRanges");
  load(f.create_shader_module, "vkCreateShaderModule");
  load(f.destroy_shader_module, "vkDestroyShaderModule");
  load(f.create_descriptor_set_layout, "vkCreateDescriptorSetLayout");
  load(f.destroy_descriptor_set_layout, "vkDestroyDescriptorSetLayout");
  load(f.create_pipeline_layout, "vkCreatePipelineLayout");
  load(f.destroy_pipeline_layout, "vkDestroyPipelineLayout");
  load(f.create_compute_pipelines, "vkCreateComputePipelines");
  load(f.destroy_pipeline, "vkDestroyPipeline");
  load(f.create_descriptor_pool, "vkCreateDescriptorPool");
  load(f.destroy_descriptor_pool, "vkDestroyDescriptorPool");
  load(f.reset_descriptor_pool, "vkResetDescriptorPool");
  load(f.allocate_descriptor_sets, "vkAllocateDescriptorSets");
  load(f.update_descriptor_sets, "vkUpdateDescriptorSets");
  load(f.create_command_pool, "vkCreateCommandPool");
  load(f.destroy_command_pool, "vkDestroyCommandPool");
  load(f.allocate_command_buffers, "vkAllocateCommandBuffers");
  load(f.free_command_buffers, "vkFreeCommandBuffers");
  load(f.reset_command_buffer, "vkResetCommandBuffer");
  load(f.begin_command_buffer, "vkBeginCommandBuffer");
  load(f.end_command_buffer, "vkEndCommandBuffer");
  load(f.cmd_bind_pipeline, "vkCmdBindPipeline");
  load(f.cmd_bind_descriptor_sets, "vkCmdBindDescriptorSets");
  load(f.cmd_push_constants, "vkCmdPushConstants");
  load(f.cmd_dispatch, "vkCmdDispatch");
  load(f.cmd_pipeline_barrier, "vkCmdPipelineBarrier");
  load(f.cmd_copy_buffer, "vkCmdCopyBuffer");
  load(f.cmd_fill_buffer, "vkCmdFillBuffer");
  load(f.create_fence, "vkCreateFence");
  load(f.destroy_fence, "vkDestroyFence");
  load(f.reset_fences, "vkResetFences");
  load(f.wait_for_fences, "vkWaitForFences");
  load(f.queue_submit, "vkQueueSubmit");
  f.get_memory_host_pointer_properties = reinterpret_cast<PFN_vkGetMemoryHostPointerPropertiesEXT>(
      get(device, "vkGetMemoryHostPointerPropertiesEXT"));
  return f;
}

}  // namespace bottega::vulkan
