#include "backend/device.h"

#include <charconv>
#include <cstdio>
#include <string>

#include "core/error.h"
#ifdef BOTTEGA_HAS_VULKAN
#include "backend/vulkan/instance.h"
#include "backend/vulkan/vulkan_backend.h"
#endif

namespace bottega::backend {
namespace {

#ifdef BOTTEGA_HAS_VULKAN
std::string vendor_name(uint32_t vendor_id) {
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

GpuDescription describe_gpu(const vulkan::DeviceInfo& info, size_t index) {
  GpuDescription gpu;
  gpu.device = str("vulkan", index);
  gpu.name = info.name;
  gpu.vendor = vendor_name(info.vendor_id);
  gpu.type = info.type;
  gpu.api_version =
      str(VK_API_VERSION_MAJOR(info.api_version), ".", VK_API_VERSION_MINOR(info.api_version), ".",
          VK_API_VERSION_PATCH(info.api_version));
  gpu.shares_system_memory = info.type == "integrated" || info.type == "cpu";
  for (const vulkan::MemoryHeapInfo& heap : info.heaps) {
    if (heap.device_local) gpu.device_local_bytes += heap.bytes;
    if (heap.host_visible) gpu.host_visible_bytes += heap.bytes;
  }
  gpu.subgroup_size = info.subgroup_size;
  gpu.integer_dot_product = info.integer_dot_product;
  gpu.cooperative_matrix = info.cooperative_matrix;
  gpu.host_import = info.reads_host_memory_in_place();
  return gpu;
}
#endif

}  // namespace

bool has_vulkan() {
#ifdef BOTTEGA_HAS_VULKAN
  return true;
#else
  return false;
#endif
}

GpuList list_gpus() {
  GpuList list;
#ifdef BOTTEGA_HAS_VULKAN
  try {
    const vulkan::Loader loader;
    list.loader_found = true;
  } catch (const Error& e) {
    list.status = e.what();
    return list;
  }
  try {
    const vulkan::Instance instance;
    for (size_t i = 0; i < instance.devices().size(); ++i) {
      list.gpus.push_back(describe_gpu(instance.devices()[i], i));
    }
    list.status = list.gpus.empty() ? "Vulkan loader found, but it lists no device"
                                    : str(list.gpus.size(), " Vulkan device(s)");
  } catch (const Error& e) {
    list.status = e.what();
  }
#else
  list.status = "this bottega was built without the Vulkan backend (-DBOTTEGA_VULKAN=OFF)";
#endif
  return list;
}

std::shared_ptr<Backend> open_device(std::string_view name,
                                     [[maybe_unused]] bool import_mapped_weights,
                                     const CpuOptions& cpu) {
  if (name == "cpu") return make_cpu_backend(cpu);
  constexpr std::string_view kVulkan = "vulkan";
  if (name.substr(0, kVulkan.size()) == kVulkan) {
    const std::string_view digits = name.substr(kVulkan.size());
    size_t index = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (!digits.empty() && error == std::errc() && end == digits.data() + digits.size()) {
#ifdef BOTTEGA_HAS_VULKAN
      return make_vulkan_backend(
          {.device_index = index, .import_mapped_weights = import_mapped_weights});
#else
      throw Error(str("--device ", name,
                      ": this bottega was built without the Vulkan backend "
                      "(-DBOTTEGA_VULKAN=OFF); use --device cpu"));
#endif
    }
  }
  throw Error(str("--device '", name, "' is not a device; use cpu or vulkanN (vulkan0 is the ",
                  "first Vulkan device; `bottega hw` lists them)"));
}

}  // namespace bottega::backend
