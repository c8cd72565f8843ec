// A Vulkan instance and what it says about the machine's devices.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/vulkan/loader.h"

namespace bottega::vulkan {

struct MemoryHeapInfo {
  uint64_t bytes = 0;
  bool device_local = false;
  bool host_visible = false;  // some memory type of this heap can be mapped
};

struct DeviceInfo {
  std::string name;  // "llvmpipe (LLVM 15.0.6, 256 bits)", "NVIDIA GeForce RTX 4090"
  std::string type;  // "discrete", "integrated", "virtual", "cpu", "other"
  uint32_t vendor_id = 0;
  uint32_t api_version = 0;  // VK_MAKE_API_VERSION
  std::vector<MemoryHeapInfo> heaps;
  uint32_t subgroup_size = 0;
  // Packed 8-bit integer dot products (VK_KHR_shader_integer_dot_product with its feature on).
  bool integer_dot_product = false;
  bool cooperative_matrix = false;  // VK_KHR_cooperative_matrix
  // VK_EXT_external_memory_host: buffers over host memory, such as a mapped model file, with
  // their start and size multiples of this alignment (0 without the extension).
  uint64_t host_import_alignment = 0;
  bool shares_system_memory() const { return type == "integrated" || type == "cpu"; }
  // Whether bottega reads a mapped model file in place on this device: it reads system memory
  // anyway (a discrete GPU would fetch the weights across the bus at every token) and its import
  // alignment divides the page size (so the pages around a tensor are all mapped).
  bool reads_host_memory_in_place() const;
};

// "vulkan0: NVIDIA GeForce RTX 4090 (discrete, 24.0 GiB device-local)"
std::string describe(const DeviceInfo& info, size_t index);

class Instance {
 public:
  // Throws bottega::Error when the loader is missing or no driver accepts a Vulkan 1.1 instance.
  explicit Instance(const std::string& loader_library = "libvulkan.so.1");
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  const std::vector<VkPhysicalDevice>& physical_devices() const { return physical_devices_; }
  const std::vector<DeviceInfo>& devices() const { return devices_; }
  const InstanceFunctions& functions() const { return functions_; }
  VkInstance handle() const { return instance_; }

 private:
  Loader loader_;
  VkInstance instance_ = VK_NULL_HANDLE;
  InstanceFunctions functions_;
  std::vector<VkPhysicalDevice> physical_devices_;
  std::vector<DeviceInfo> devices_;
};

}  // namespace bottega::vulkan
