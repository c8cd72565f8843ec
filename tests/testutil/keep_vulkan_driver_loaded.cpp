// Linked into every test binary of the sanitizer build only (cmake/BottegaModule.cmake).
//
// Lavapipe keeps some allocations in its globals for the life of the library. The Vulkan loader
// closes the driver when the last instance is destroyed, and LeakSanitizer then finds those blocks
// unreachable, in a module that no longer has a name, so no suppression can match them. Holding
// one reference to the driver for the whole process keeps them reachable; the leak check stays on
// for everything else. Without the library (another driver, no Vulkan) this does nothing.
#include <dlfcn.h>

namespace {

struct KeepVulkanDriverLoaded {
  KeepVulkanDriverLoaded() { handle = dlopen("libvulkan_lvp.so", RTLD_LAZY | RTLD_NODELETE); }
  void* handle = nullptr;
};

const KeepVulkanDriverLoaded keep_vulkan_driver_loaded;

}  // namespace
