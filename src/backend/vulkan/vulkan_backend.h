// A Backend (backend/backend.h) on a Vulkan device: weights and activations in device buffers,
// a pass recorded into one command list and submitted when its results are read.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace bottega::backend {

// Opens vulkanN. Throws Error when there is no loader, no driver or no such device (the message
// lists the devices there are). Runs every op of the decoder, mixtures of experts included. On a
// device that reads system memory, weights in a mapped file are read in place unless
// import_mapped_weights is false (then, and elsewhere, copied).
std::unique_ptr<Backend> make_vulkan_backend(size_t device_index = 0,
                                             const std::string& loader = "libvulkan.so.1",
                                             bool import_mapped_weights = true);

}  // namespace bottega::backend
