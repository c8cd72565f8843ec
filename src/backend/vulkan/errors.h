// Turning Vulkan result codes into bottega::Error with a message a user can act on.
#pragma once

#include <vulkan/vulkan.h>

#include <string_view>

namespace bottega::vulkan {

// "VK_ERROR_DEVICE_LOST", ... for messages and logs.
std::string_view result_name(VkResult result);

// Throws bottega::Error when result is an error; `what` names the step ("allocating 64 MiB").
void check(VkResult result, std::string_view what);

}  // namespace bottega::vulkan
