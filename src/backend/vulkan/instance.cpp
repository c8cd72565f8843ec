#include "backend/vulkan/instance.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "backend/vulkan/errors.h"
#include "core/error.h"

namespace bottega::vulkan {
namespace {

std::string device_type_name(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "cpu";
    default:
      return "other";
  }
}

std::vector<std::string> device_extensions(const InstanceFunctions& f, VkPhysicalDevice device) {
  uint32_t count = 0;
  check(f.enumerate_device_extension_properties(device, nullptr, &count, nullptr),
        "listing device extensions");
  std::vector<VkExtensionProperties> properties(count);
  check(f.enumerate_device_extension_properties(device, nullptr, &count, properties.data()),
        "listing device extensions");
  std::vector<std::string> names;
  for (uint32_t i = 0; i < count; ++i) names.emplace_back(properties[i].extensionName);
  return names;
}

bool contains(const std::vector<std::string>& names, const char* name) {
  for (const std::string& n : names) {
    if (n == name) return true;
  }
  return false;
}

std::vector<MemoryHeapInfo> memory_heaps(const InstanceFunctions& f, VkPhysicalDevice device) {
  VkPhysicalDeviceMemoryProperties memory{};
  f.get_physical_device_memory_properties(device, &memory);
  std::vector<MemoryHeapInfo> heaps(memory.memoryHeapCount);
  for (uint32_t h = 0; h < memory.memoryHeapCount; ++h) {
    heaps[h].bytes = memory.memoryHeaps[h].size;
    heaps[h].device_local = (memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
  }
  for (uint32_t t = 0; t < memory.memoryTypeCount; ++t) {
    const VkMemoryType& type = memory.memoryTypes[t];
    if ((type.propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0 &&
        type.heapIndex < heaps.size()) {
      heaps[type.heapIndex].host_visible = true;
    }
  }
  return heaps;
}

DeviceInfo query_device(const InstanceFunctions& f, VkPhysicalDevice device) {
  const std::vector<std::string> extensions = device_extensions(f, device);
  const bool host_import = contains(extensions, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
  VkPhysicalDeviceExternalMemoryHostPropertiesEXT import{};
  import.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT;
  VkPhysicalDeviceSubgroupProperties subgroup{};
  subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
  subgroup.pNext = host_import ? &import : nullptr;
  VkPhysicalDeviceProperties2 properties{};
  properties.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
  properties.pNext = &subgroup;
  f.get_physical_device_properties2(device, &properties);

  DeviceInfo info;
  info.name =
      std::string(properties.properties.deviceName,
                  strnlen(properties.properties.deviceName, VK_MAX_PHYSICAL_DEVICE_NAME_SIZE));
  info.type = device_type_name(properties.properties.deviceType);
  info.vendor_id = properties.properties.vendorID;
  info.api_version = properties.properties.apiVersion;
  info.subgroup_size = subgroup.subgroupSize;
  info.heaps = memory_heaps(f, device);
  if (host_import) info.host_import_alignment = import.minImportedHostPointerAlignment;
  info.cooperative_matrix = contains(extensions, "VK_KHR_cooperative_matrix");
  // Through the extension only: the instance asks for Vulkan 1.1, under which a 1.3 device's
  // core feature is not available without it.
  if (contains(extensions, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME)) {
    // The feature bit, not the extension's presence, says whether shaders may use it.
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot{};
    dot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
    VkPhysicalDeviceFeatures2 features{};
    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    features.pNext = &dot;
    f.get_physical_device_features2(device, &features);
    info.integer_dot_product = dot.shaderIntegerDotProduct == VK_TRUE;
  }
  return info;
}

}  // namespace

bool DeviceInfo::reads_host_memory_in_place() const {
  const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return shares_system_memory() && host_import_alignment > 0 && host_import_alignment <= page &&
         page % host_import_alignment == 0;
}

std::string describe(const DeviceInfo& info, size_t index) {
  uint64_t device_local = 0;
  for (const MemoryHeapInfo& heap : info.heaps) {
    if (heap.device_local) device_local += heap.bytes;
  }
  char gib[32];
  std::snprintf(gib, sizeof gib, "%.1f", static_cast<double>(device_local) / (1u << 30));
  return str("vulkan", index, ": ", info.name, " (", info.type, ", ", gib,
             " GiB device-local, subgroup ", info.subgroup_size,
             info.integer_dot_product ? ", int8 dot" : "",
             info.cooperative_matrix ? ", cooperative matrix" : "", ")");
}

Instance::Instance(const std::string& loader_library) : loader_(loader_library) {
  const GlobalFunctions global = load_global_functions(loader_);
  uint32_t loader_version = VK_API_VERSION_1_0;
  if (global.enumerate_instance_version != nullptr) {
    global.enumerate_instance_version(&loader_version);
  }
  if (loader_version < VK_API_VERSION_1_1) {
    throw Error(str("the Vulkan loader ", loader_library,
                    " supports only Vulkan 1.0; bottega needs 1.1: update libvulkan1"));
  }
  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "bottega";
  app.pEngineName = "bottega";
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo create{};
  create.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  create.pApplicationInfo = &app;
  const VkResult created = global.create_instance(&create, nullptr, &instance_);
  if (created == VK_ERROR_INCOMPATIBLE_DRIVER) {
    // What the loader answers when it finds no driver at all, as well as only 1.0 drivers.
    throw Error(
        "no Vulkan driver accepted a Vulkan 1.1 instance (VK_ERROR_INCOMPATIBLE_DRIVER): "
        "install or update the GPU's Vulkan driver (Debian: mesa-vulkan-drivers, or the "
        "vendor's) or run on the CPU");
  }
  check(created, "creating a Vulkan instance");
  try {
    functions_ = load_instance_functions(loader_, instance_);
    uint32_t count = 0;
    check(functions_.enumerate_physical_devices(instance_, &count, nullptr), "listing GPUs");
    physical_devices_.resize(count);
    check(functions_.enumerate_physical_devices(instance_, &count, physical_devices_.data()),
          "listing GPUs");
    physical_devices_.resize(count);
    for (VkPhysicalDevice device : physical_devices_) {
      devices_.push_back(query_device(functions_, device));
    }
  } catch (...) {
    // The table may be what failed to load, so the one entry point needed is looked up alone.
    const auto destroy = reinterpret_cast<PFN_vkDestroyInstance>(
        loader_.get_instance_proc_addr()(instance_, "vkDestroyInstance"));
    if (destroy != nullptr) destroy(instance_, nullptr);
    throw;
  }
}

Instance::~Instance() {
  functions_.destroy_instance(instance_, nullptr);
}

}  // namespace bottega::vulkan
