// GPUs as the Vulkan loader sees them. The loader is opened at run time (dlopen), so bottega has
// no link-time dependency on Vulkan and runs unchanged on machines without it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bottega::hw {

struct GpuInfo {
  std::string name;
  std::string vendor;  // "AMD", "NVIDIA", "Intel", "Apple", ... or the PCI id in hex
  std::string type;    // "integrated", "discrete", "virtual", "cpu", "other"
  // Integrated GPUs (Strix Halo, Apple Silicon, laptop iGPUs) draw on system memory: what they use
  // is not available to the CPU, and their device-local heap is part of system RAM.
  bool shares_system_memory = false;
  uint64_t device_local_bytes = 0;  // heaps flagged device-local
  uint64_t host_visible_bytes = 0;  // heaps with a host-visible memory type
};

struct VulkanReport {
  bool loader_found = false;
  std::string status;  // one line for people: "no Vulkan loader found (libvulkan.so.1)", ...
  std::vector<GpuInfo> gpus;
};

VulkanReport probe_vulkan();

// "AMD" for 0x1002 and so on; the id in hex for vendors bottega does not know.
std::string vulkan_vendor_name(uint32_t vendor_id);

}  // namespace bottega::hw
