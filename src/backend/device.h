// Picking a backend by the name a user gives it (--device), over every backend this build has.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"

namespace bottega::backend {

// "cpu", or "vulkanN" for the Nth Vulkan device (as `bottega hw` lists them). Throws Error naming
// the accepted names when the name is neither or this build has no Vulkan backend, and the
// Vulkan layer's own message when the device cannot be opened.
// import_mapped_weights: a GPU that reads system memory reads the weights in the mapped file
// instead of copying them (false copies, as on a discrete GPU).
std::shared_ptr<Backend> open_device(std::string_view name, bool import_mapped_weights = true,
                                     const CpuOptions& cpu = {});

// Whether this build has the Vulkan backend (BOTTEGA_VULKAN at configure time).
bool has_vulkan();

// A GPU as `bottega hw` lists it, under the name --device takes.
struct GpuDescription {
  std::string device;       // "vulkan0"
  std::string name;         // "AMD Radeon 8060S Graphics (RADV GFX1151)"
  std::string vendor;       // "AMD", "NVIDIA", "Intel", "Mesa" (software drivers), or the PCI id
  std::string type;         // "integrated", "discrete", "virtual", "cpu", "other"
  std::string api_version;  // "1.3.255"
  // Integrated GPUs (Strix Halo, Apple Silicon, laptop iGPUs) and CPU drivers draw on system
  // memory: what they use is not available to the CPU.
  bool shares_system_memory = false;
  uint64_t device_local_bytes = 0;  // heaps flagged device-local
  uint64_t host_visible_bytes = 0;  // heaps with a host-visible memory type
  uint32_t subgroup_size = 0;
  bool integer_dot_product = false;  // packed 8-bit dot products in shaders
  bool cooperative_matrix = false;   // VK_KHR_cooperative_matrix
  bool host_import = false;          // reads a mapped model file in place (no copy of the weights)
};

struct GpuList {
  bool loader_found = false;
  std::string status;  // one line for people: "1 Vulkan device", "no Vulkan loader found ..."
  std::vector<GpuDescription> gpus;
};

// The machine's Vulkan devices; never throws: what went wrong is the status.
GpuList list_gpus();

}  // namespace bottega::backend
