#include "hw/vulkan.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <memory>

namespace bottega::hw {
namespace {

// The few Vulkan 1.0 declarations needed, written from the specification's C layouts so that no
// Vulkan headers are required to build.
using VkResult = int32_t;
using VkInstance = struct VkInstanceOpaque*;
using VkPhysicalDevice = struct VkPhysicalDeviceOpaque*;
using VoidFunction = void (*)();

constexpr uint32_t kStructureTypeApplicationInfo = 0;
constexpr uint32_t kStructureTypeInstanceCreateInfo = 1;
constexpr uint32_t kApiVersion1_0 = 1u << 22;
constexpr uint32_t kMemoryHeapDeviceLocal = 0x1;
constexpr uint32_t kMemoryPropertyHostVisible = 0x2;

struct ApplicationInfo {
  uint32_t s_type = kStructureTypeApplicationInfo;
  const void* next = nullptr;
  const char* application_name = "bottega";
  uint32_t application_version = 0;
  const char* engine_name = "bottega";
  uint32_t engine_version = 0;
  uint32_t api_version = kApiVersion1_0;
};

struct InstanceCreateInfo {
  uint32_t s_type = kStructureTypeInstanceCreateInfo;
  const void* next = nullptr;
  uint32_t flags = 0;
  const ApplicationInfo* application_info = nullptr;
  uint32_t enabled_layer_count = 0;
  const char* const* enabled_layer_names = nullptr;
  uint32_t enabled_extension_count = 0;
  const char* const* enabled_extension_names = nullptr;
};

// VkPhysicalDeviceProperties starts with these fields; limits and sparse properties follow, so the
// driver is given a buffer larger than the whole struct (824 bytes in Vulkan 1.0).
struct DevicePropertiesPrefix {
  uint32_t api_version;
  uint32_t driver_version;
  uint32_t vendor_id;
  uint32_t device_id;
  uint32_t device_type;
  char device_name[256];
};
union DeviceProperties {
  DevicePropertiesPrefix prefix;
  alignas(8) unsigned char storage[4096];
};

struct MemoryType {
  uint32_t property_flags;
  uint32_t heap_index;
};
struct MemoryHeap {
  uint64_t size;
  uint32_t flags;
};
struct MemoryProperties {
  uint32_t memory_type_count;
  MemoryType memory_types[32];
  uint32_t memory_heap_count;
  MemoryHeap memory_heaps[16];
};

using GetInstanceProcAddr = VoidFunction (*)(VkInstance, const char*);
using CreateInstance = VkResult (*)(const InstanceCreateInfo*, const void*, VkInstance*);
using DestroyInstance = void (*)(VkInstance, const void*);
using EnumeratePhysicalDevices = VkResult (*)(VkInstance, uint32_t*, VkPhysicalDevice*);
using GetPhysicalDeviceProperties = void (*)(VkPhysicalDevice, DeviceProperties*);
using GetPhysicalDeviceMemoryProperties = void (*)(VkPhysicalDevice, MemoryProperties*);

struct LibraryCloser {
  void operator()(void* handle) const { dlclose(handle); }
};

std::string device_type_name(uint32_t type) {
  switch (type) {
    case 1:
      return "integrated";
    case 2:
      return "discrete";
    case 3:
      return "virtual";
    case 4:
      return "cpu";
    default:
      return "other";
  }
}

GpuInfo describe(VkPhysicalDevice device, GetPhysicalDeviceProperties get_properties,
                 GetPhysicalDeviceMemoryProperties get_memory) {
  DeviceProperties properties{};
  get_properties(device, &properties);
  MemoryProperties memory{};
  get_memory(device, &memory);
  GpuInfo gpu;
  gpu.name =
      std::string(properties.prefix.device_name,
                  strnlen(properties.prefix.device_name, sizeof properties.prefix.device_name));
  gpu.vendor = vulkan_vendor_name(properties.prefix.vendor_id);
  gpu.type = device_type_name(properties.prefix.device_type);
  gpu.shares_system_memory = gpu.type == "integrated" || gpu.type == "cpu";
  bool host_visible_heap[16] = {};
  for (uint32_t t = 0; t < memory.memory_type_count && t < 32; ++t) {
    const MemoryType& type = memory.memory_types[t];
    if ((type.property_flags & kMemoryPropertyHostVisible) != 0 && type.heap_index < 16) {
      host_visible_heap[type.heap_index] = true;
    }
  }
  for (uint32_t h = 0; h < memory.memory_heap_count && h < 16; ++h) {
    const MemoryHeap& heap = memory.memory_heaps[h];
    if ((heap.flags & kMemoryHeapDeviceLocal) != 0) gpu.device_local_bytes += heap.size;
    if (host_visible_heap[h]) gpu.host_visible_bytes += heap.size;
  }
  return gpu;
}

}  // namespace

std::string vulkan_vendor_name(uint32_t vendor_id) {
  switch (vendor_id) {
    case 0x1002:
      return "AMD";
    case 0x10de:
      return "NVIDIA";
    case 0x8086:
      return "Intel";
    case 0x106b:
      return "Apple";
    case 0x13b5:
      return "Arm";
    case 0x5143:
      return "Qualcomm";
    case 0x1010:
      return "Imagination";
    case 0x10005:
      return "Mesa";  // software drivers such as lavapipe (VK_VENDOR_ID_MESA)
    default: {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%04x", vendor_id);
      return hex;
    }
  }
}

VulkanReport probe_vulkan() {
  VulkanReport report;
  const std::unique_ptr<void, LibraryCloser> library(
      dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL));
  if (!library) {
    report.status = "no Vulkan loader found (libvulkan.so.1): GPUs are not listed";
    return report;
  }
  report.loader_found = true;
  const auto get_proc =
      reinterpret_cast<GetInstanceProcAddr>(dlsym(library.get(), "vkGetInstanceProcAddr"));
  if (get_proc == nullptr) {
    report.status = "the Vulkan loader has no vkGetInstanceProcAddr";
    return report;
  }
  const auto create = reinterpret_cast<CreateInstance>(get_proc(nullptr, "vkCreateInstance"));
  const ApplicationInfo app;
  InstanceCreateInfo info;
  info.application_info = &app;
  VkInstance instance = nullptr;
  if (create == nullptr || create(&info, nullptr, &instance) != 0 || instance == nullptr) {
    report.status = "Vulkan loader found, but no driver accepted an instance: no usable GPU";
    return report;
  }
  const auto destroy = reinterpret_cast<DestroyInstance>(get_proc(instance, "vkDestroyInstance"));
  const auto enumerate =
      reinterpret_cast<EnumeratePhysicalDevices>(get_proc(instance, "vkEnumeratePhysicalDevices"));
  const auto get_properties = reinterpret_cast<GetPhysicalDeviceProperties>(
      get_proc(instance, "vkGetPhysicalDeviceProperties"));
  const auto get_memory = reinterpret_cast<GetPhysicalDeviceMemoryProperties>(
      get_proc(instance, "vkGetPhysicalDeviceMemoryProperties"));
  uint32_t count = 0;
  if (enumerate != nullptr && get_properties != nullptr && get_memory != nullptr &&
      enumerate(instance, &count, nullptr) == 0 && count > 0) {
    std::vector<VkPhysicalDevice> devices(count);
    if (enumerate(instance, &count, devices.data()) >= 0) {
      devices.resize(count);
      for (VkPhysicalDevice device : devices) {
        report.gpus.push_back(describe(device, get_properties, get_memory));
      }
    }
  }
  if (destroy != nullptr) destroy(instance, nullptr);
  report.status = report.gpus.empty() ? "Vulkan loader found, but it lists no GPU"
                                      : std::to_string(report.gpus.size()) + " Vulkan device(s)";
  return report;
}

}  // namespace bottega::hw
