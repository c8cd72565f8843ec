#include "backend/vulkan/errors.h"

#include "core/error.h"

namespace bottega::vulkan {

std::string_view result_name(VkResult result) {
  switch (result) {
    case VK_SUCCESS:
      return "VK_SUCCESS";
    case VK_NOT_READY:
      return "VK_NOT_READY";
    case VK_TIMEOUT:
      return "VK_TIMEOUT";
    case VK_INCOMPLETE:
      return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
      return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
      return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED:
      return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT:
      return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
      return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
      return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
      return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FRAGMENTED_POOL:
      return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY:
      return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default:
      return "an unknown Vulkan error";
  }
}

void check(VkResult result, std::string_view what) {
  if (result >= 0) return;
  switch (result) {
    case VK_ERROR_DEVICE_LOST:
      throw Error(str("the GPU stopped responding (VK_ERROR_DEVICE_LOST) while ", what,
                      ": the driver reset it; run again, and if it repeats update the GPU driver "
                      "or run on the CPU"));
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      throw Error(str(
          "the GPU ran out of memory (VK_ERROR_OUT_OF_DEVICE_MEMORY) while ", what,
          ": use a smaller model, context or batch, put fewer layers on the GPU (-ngl), or run on "
          "the CPU"));
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      throw Error(str("out of host memory (VK_ERROR_OUT_OF_HOST_MEMORY) while ", what,
                      ": close other programs or use a smaller model"));
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      throw Error(str("the Vulkan driver is too old (VK_ERROR_INCOMPATIBLE_DRIVER) while ", what,
                      ": bottega needs Vulkan 1.1; update the GPU driver or run on the CPU"));
    default:
      throw Error(str("Vulkan failed with ", result_name(result), " (", static_cast<int>(result),
                      ") while ", what, ": update the GPU driver or run on the CPU"));
  }
}

}  // namespace bottega::vulkan
