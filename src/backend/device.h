// Picking a backend by the name a user gives it (--device), over every backend this build has.
#pragma once

#include <memory>
#include <string_view>

#include "backend/backend.h"

namespace bottega::backend {

// "cpu", or "vulkanN" for the Nth Vulkan device (as `bottega hw` lists them). Throws Error naming
// the accepted names when the name is neither or this build has no Vulkan backend, and the
// Vulkan layer's own message when the device cannot be opened.
std::shared_ptr<Backend> open_device(std::string_view name);

// Whether this build has the Vulkan backend (BOTTEGA_VULKAN at configure time).
bool has_vulkan();

}  // namespace bottega::backend
