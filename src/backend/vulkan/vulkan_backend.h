// A Backend (backend/backend.h) on a Vulkan device: weights and activations in device buffers,
// a pass recorded into one command list and submitted when its results are read.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace bottega::backend {

// Opens vulkanN. Throws Error when there is no loader, no driver or no such device (the message
// lists the devices there are). Runs get_rows, rms_norm, matmul (the types the shaders read),
// add, glu, rope, softcap, copy, logit_rows and read; store_kv, attention and the mixture of
// experts are not written yet and throw an Error that says so.
std::unique_ptr<Backend> make_vulkan_backend(size_t device_index = 0,
                                             const std::string& loader = "libvulkan.so.1");

}  // namespace bottega::backend
