#include "backend/device.h"

#include <charconv>
#include <string>

#include "core/error.h"
#ifdef BOTTEGA_HAS_VULKAN
#include "backend/vulkan/vulkan_backend.h"
#endif

namespace bottega::backend {

bool has_vulkan() {
#ifdef BOTTEGA_HAS_VULKAN
  return true;
#else
  return false;
#endif
}

std::shared_ptr<Backend> open_device(std::string_view name) {
  if (name == "cpu") return make_cpu_backend();
  constexpr std::string_view kVulkan = "vulkan";
  if (name.substr(0, kVulkan.size()) == kVulkan) {
    const std::string_view digits = name.substr(kVulkan.size());
    size_t index = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (!digits.empty() && error == std::errc() && end == digits.data() + digits.size()) {
#ifdef BOTTEGA_HAS_VULKAN
      return make_vulkan_backend(index);
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
