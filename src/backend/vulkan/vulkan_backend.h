// A Backend (backend/backend.h) on a Vulkan device: weights and activations in device buffers,
// a pass recorded into one command list and submitted when its results are read.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace bottega::backend {

struct VulkanBackendOptions {
  size_t device_index = 0;  // vulkanN
  std::string loader = "libvulkan.so.1";
  // On a device that reads system memory, weights in a mapped file are read in place unless this
  // is false (then, and elsewhere, copied).
  bool import_mapped_weights = true;
  // Quantized weights multiply 8-bit activations with int8 dot products where the device has
  // them (vulkan::KernelOptions).
  bool integer_dot = true;
};

// Opens vulkanN. Throws Error when there is no loader, no driver or no such device (the message
// lists the devices there are). Runs every op of the decoder, mixtures of experts included.
std::unique_ptr<Backend> make_vulkan_backend(const VulkanBackendOptions& options = {});

}  // namespace bottega::backend
