#include "backend/vulkan/context.h"

#include <cstring>
#include <vector>

#include "backend/vulkan/commands.h"
#include "backend/vulkan/errors.h"
#include "core/error.h"

namespace bottega::vulkan {
namespace {

std::string device_list(const std::vector<DeviceInfo>& devices) {
  std::string list;
  for (size_t i = 0; i < devices.size(); ++i) {
    if (!list.empty()) list += "; ";
    list += describe(devices[i], i);
  }
  return list;
}

// The first queue family with compute; families with compute but no graphics come first, as on
// discrete GPUs they are the asynchronous compute engines.
uint32_t compute_queue_family(const InstanceFunctions& f, VkPhysicalDevice device,
                              const std::string& name) {
  uint32_t count = 0;
  f.get_physical_device_queue_family_properties(device, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  f.get_physical_device_queue_family_properties(device, &count, families.data());
  for (bool dedicated : {true, false}) {
    for (uint32_t i = 0; i < count; ++i) {
      const VkQueueFlags flags = families[i].queueFlags;
      if ((flags & VK_QUEUE_COMPUTE_BIT) == 0) continue;
      if (dedicated && (flags & VK_QUEUE_GRAPHICS_BIT) != 0) continue;
      return i;
    }
  }
  throw Error(str(name, " has no compute queue: choose another device or run on the CPU"));
}

}  // namespace

namespace {

// Checks that bytes fit the buffer at offset and, when the host can write the buffer directly
// (mapped and coherent) or there is nothing to write, does so: true when nothing is left to copy.
bool written_through_mapping(Buffer& buffer, uint64_t offset, std::span<const std::byte> bytes) {
  BOTTEGA_CHECK(offset + bytes.size() <= buffer.bytes(), "upload of ", bytes.size(), " bytes at ",
                offset, " into a buffer of ", buffer.bytes());
  if (bytes.empty()) return true;
  if (buffer.mapped() == nullptr || !buffer.host_coherent()) return false;
  std::memcpy(buffer.mapped() + offset, bytes.data(), bytes.size());
  return true;
}

}  // namespace

Buffer::Buffer(const Context& context, uint64_t bytes, MemoryKind kind)
    : context_(context), bytes_(bytes) {
  BOTTEGA_CHECK(bytes > 0, "empty buffer");
  ++context.allocations_;
  const DeviceFunctions& f = context.functions();
  const VkDevice device = context.device();
  VkBufferCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  info.size = bytes;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  const std::string what = str("allocating a GPU buffer of ", bytes >> 20, " MiB");
  check(f.create_buffer(device, &info, nullptr, &buffer_), what);

  VkMemoryRequirements requirements{};
  f.get_buffer_memory_requirements(device, buffer_, &requirements);
  const VkMemoryPropertyFlags host =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  VkMemoryAllocateInfo allocate{};
  allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  allocate.allocationSize = requirements.size;
  VkResult result = VK_SUCCESS;
  try {
    // Device buffers prefer memory the host can map too (unified memory, resizable BAR): then
    // uploads need no staging copy.
    allocate.memoryTypeIndex = kind == MemoryKind::kDevice
                                   ? context.memory_type(requirements.memoryTypeBits,
                                                         VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, host)
                                   : context.memory_type(requirements.memoryTypeBits, host,
                                                         VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    result = f.allocate_memory(device, &allocate, nullptr, &memory_);
    if (result >= 0) result = f.bind_buffer_memory(device, buffer_, memory_, 0);
    const VkMemoryPropertyFlags flags = context.memory_flags(allocate.memoryTypeIndex);
    const bool map = kind == MemoryKind::kStaging || context.maps_device_buffers();
    if (result >= 0 && map && (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0) {
      void* pointer = nullptr;
      result = f.map_memory(device, memory_, 0, VK_WHOLE_SIZE, 0, &pointer);
      mapped_ = static_cast<std::byte*>(pointer);
      host_coherent_ = (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    }
    check(result, what);
  } catch (...) {
    if (memory_ != VK_NULL_HANDLE) f.free_memory(device, memory_, nullptr);
    f.destroy_buffer(device, buffer_, nullptr);
    throw;
  }
}

Buffer::Buffer(const Context& context, HostRange host) : context_(context), bytes_(host.bytes) {
  BOTTEGA_CHECK(host.bytes > 0 && context.can_import_host(), "host import");
  ++context.allocations_;
  const DeviceFunctions& f = context.functions();
  const VkDevice device = context.device();
  constexpr auto kHandle = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
  VkExternalMemoryBufferCreateInfo external{};
  external.sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO;
  external.handleTypes = kHandle;
  VkBufferCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  info.pNext = &external;
  info.size = host.bytes;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  const std::string what = str("importing ", host.bytes >> 20, " MiB of host memory");
  check(f.create_buffer(device, &info, nullptr, &buffer_), what);
  try {
    VkMemoryHostPointerPropertiesEXT pointer{};
    pointer.sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT;
    // The driver only reads the memory, but the entry point takes a non-const pointer.
    void* start =
        const_cast<std::byte*>(host.start);  // NOLINT(cppcoreguidelines-pro-type-const-cast)
    check(f.get_memory_host_pointer_properties(device, kHandle, start, &pointer), what);
    VkMemoryRequirements requirements{};
    f.get_buffer_memory_requirements(device, buffer_, &requirements);
    const uint32_t allowed = pointer.memoryTypeBits & requirements.memoryTypeBits;
    if (allowed == 0 || requirements.size > host.bytes) {
      throw Error(str(what, ": the driver offers no memory type for it"));
    }
    VkImportMemoryHostPointerInfoEXT import{};
    import.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT;
    import.handleType = kHandle;
    import.pHostPointer = start;
    VkMemoryAllocateInfo allocate{};
    allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    allocate.pNext = &import;
    allocate.allocationSize = host.bytes;
    allocate.memoryTypeIndex = context.memory_type(allowed, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    check(f.allocate_memory(device, &allocate, nullptr, &memory_), what);
    check(f.bind_buffer_memory(device, buffer_, memory_, 0), what);
  } catch (...) {
    if (memory_ != VK_NULL_HANDLE) f.free_memory(device, memory_, nullptr);
    f.destroy_buffer(device, buffer_, nullptr);
    throw;
  }
}

Buffer::~Buffer() {
  const DeviceFunctions& f = context_.functions();
  if (mapped_ != nullptr) f.unmap_memory(context_.device(), memory_);
  f.destroy_buffer(context_.device(), buffer_, nullptr);
  f.free_memory(context_.device(), memory_, nullptr);
}

Context::Context(const ContextOptions& options)
    : instance_(std::make_unique<Instance>(options.loader_library)),
      index_(options.device_index),
      map_device_buffers_(options.map_device_buffers) {
  const std::vector<DeviceInfo>& devices = instance_->devices();
  if (devices.empty()) {
    throw Error(
        "Vulkan found no GPU: install the GPU's Vulkan driver (Debian: "
        "mesa-vulkan-drivers, or the vendor's) or run on the CPU");
  }
  if (index_ >= devices.size()) {
    throw Error(str("there is no Vulkan device vulkan", index_,
                    "; the devices are: ", device_list(devices)));
  }
  if (info().api_version < VK_API_VERSION_1_1) {
    throw Error(str(name(), " (", info().name,
                    ") supports only Vulkan 1.0; bottega needs 1.1: update its driver"));
  }
  physical_device_ = instance_->physical_devices()[index_];
  const InstanceFunctions& fi = instance_->functions();
  fi.get_physical_device_memory_properties(physical_device_, &memory_);
  queue_family_ = compute_queue_family(fi, physical_device_, name());

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{};
  queue_info.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  queue_info.queueFamilyIndex = queue_family_;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  VkDeviceCreateInfo device_info{};
  device_info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  device_info.queueCreateInfoCount = 1;
  device_info.pQueueCreateInfos = &queue_info;
  const bool import = info().reads_host_memory_in_place();
  std::vector<const char*> extensions;
  if (import) extensions.push_back(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
  // The instance asks for Vulkan 1.1, so int8 dot products come through their extension even on
  // a 1.3 device; shaders may use them only with the feature turned on here.
  VkPhysicalDeviceShaderIntegerDotProductFeatures dot{};
  dot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
  if (info().integer_dot_product) {
    extensions.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    dot.shaderIntegerDotProduct = VK_TRUE;
    device_info.pNext = &dot;
  }
  device_info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  device_info.ppEnabledExtensionNames = extensions.data();
  check(fi.create_device(physical_device_, &device_info, nullptr, &device_),
        str("opening ", name(), " (", info().name, ")"));
  try {
    functions_ = load_device_functions(fi, device_);
    if (import && functions_.get_memory_host_pointer_properties != nullptr) {
      import_alignment_ = info().host_import_alignment;
    }
    functions_.get_device_queue(device_, queue_family_, 0, &queue_);
    VkCommandPoolCreateInfo pool_info{};
    pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pool_info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pool_info.queueFamilyIndex = queue_family_;
    check(functions_.create_command_pool(device_, &pool_info, nullptr, &command_pool_),
          "creating a command pool");
    VkFenceCreateInfo fence_info{};
    fence_info.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    check(functions_.create_fence(device_, &fence_info, nullptr, &fence_), "creating a fence");
  } catch (...) {
    if (functions_.destroy_command_pool != nullptr && command_pool_ != VK_NULL_HANDLE) {
      functions_.destroy_command_pool(device_, command_pool_, nullptr);
    }
    const auto destroy_device =
        reinterpret_cast<PFN_vkDestroyDevice>(fi.get_device_proc_addr(device_, "vkDestroyDevice"));
    if (destroy_device != nullptr) destroy_device(device_, nullptr);
    throw;
  }
}

Context::~Context() {
  // Work still queued (an exception between submit and wait) must finish before teardown.
  functions_.device_wait_idle(device_);
  idle_.clear();
  functions_.destroy_fence(device_, fence_, nullptr);
  functions_.destroy_command_pool(device_, command_pool_, nullptr);
  functions_.destroy_device(device_, nullptr);
}

uint32_t Context::memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                              VkMemoryPropertyFlags preferred) const {
  int fallback = -1;
  for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i) {
    const VkMemoryPropertyFlags flags = memory_.memoryTypes[i].propertyFlags;
    if ((type_bits & (1u << i)) == 0 || (flags & required) != required) continue;
    if ((flags & preferred) == preferred) return i;
    if (fallback < 0) fallback = static_cast<int>(i);
  }
  if (fallback < 0) {
    throw Error(str(name(), " (", info().name,
                    ") offers no suitable memory type for buffers: update its driver"));
  }
  return static_cast<uint32_t>(fallback);
}

VkMemoryPropertyFlags Context::memory_flags(uint32_t type_index) const {
  return memory_.memoryTypes[type_index].propertyFlags;
}

VkCommandBuffer Context::allocate_command_buffer() const {
  VkCommandBufferAllocateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  info.commandPool = command_pool_;
  info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  info.commandBufferCount = 1;
  VkCommandBuffer command_buffer = VK_NULL_HANDLE;
  check(functions_.allocate_command_buffers(device_, &info, &command_buffer),
        "allocating a command buffer");
  return command_buffer;
}

void Context::free_command_buffer(VkCommandBuffer command_buffer) const {
  functions_.free_command_buffers(device_, command_pool_, 1, &command_buffer);
}

std::unique_ptr<Buffer> Context::allocate(uint64_t bytes, MemoryKind kind) const {
  return std::make_unique<Buffer>(*this, bytes, kind);
}

std::unique_ptr<Buffer> Context::import_host(std::span<const std::byte> bytes,
                                             uint64_t& offset) const {
  if (!can_import_host() || bytes.empty()) return nullptr;
  const auto address = reinterpret_cast<uintptr_t>(bytes.data());
  // Every page of the rounded range holds some of `bytes`, so all of it is mapped (the alignment
  // divides the page size).
  const uintptr_t first = address / import_alignment_ * import_alignment_;
  const uintptr_t end =
      (address + bytes.size() + import_alignment_ - 1) / import_alignment_ * import_alignment_;
  offset = address - first;
  try {
    return std::make_unique<Buffer>(
        *this, HostRange{reinterpret_cast<const std::byte*>(first), end - first});
  } catch (const Error&) {
    return nullptr;  // the caller copies instead
  }
}

PooledBuffer Context::acquire(uint64_t bytes) const {
  {
    const std::lock_guard<std::mutex> lock(pool_mutex_);
    const auto found = idle_.find(bytes);
    if (found != idle_.end()) {
      std::unique_ptr<Buffer> buffer = std::move(found->second);
      idle_.erase(found);
      idle_bytes_ -= bytes;
      return PooledBuffer(buffer.release(), Recycle{this});
    }
  }
  return PooledBuffer(allocate(bytes).release(), Recycle{this});
}

void Context::recycle(Buffer* buffer) const {
  std::unique_ptr<Buffer> owned(buffer);
  const std::lock_guard<std::mutex> lock(pool_mutex_);
  if (idle_bytes_ + owned->bytes() > kPoolIdleBytes) return;  // freed here
  idle_bytes_ += owned->bytes();
  idle_.emplace(owned->bytes(), std::move(owned));
}

void Recycle::operator()(Buffer* buffer) const {
  if (buffer != nullptr) context->recycle(buffer);
}

CommandList Context::begin() const {
  return CommandList(*this);
}

void Context::submit(CommandList& commands) const {
  commands.end();
  VkCommandBuffer command_buffer = commands.handle();
  VkSubmitInfo submit{};
  submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &command_buffer;
  check(functions_.queue_submit(queue_, 1, &submit, fence_), "submitting GPU work");
  const VkResult waited = functions_.wait_for_fences(device_, 1, &fence_, VK_TRUE, UINT64_MAX);
  check(functions_.reset_fences(device_, 1, &fence_), "resetting a fence");
  check(waited, "waiting for GPU work");
  commands.restart();
}

void Context::upload(Buffer& buffer, uint64_t offset, std::span<const std::byte> bytes) const {
  if (written_through_mapping(buffer, offset, bytes)) return;
  CommandList commands = begin();
  upload(commands, buffer, offset, bytes);
  submit(commands);
}

void Context::upload(CommandList& commands, Buffer& buffer, uint64_t offset,
                     std::span<const std::byte> bytes) const {
  if (written_through_mapping(buffer, offset, bytes)) return;
  std::unique_ptr<Buffer> staging = allocate(bytes.size(), MemoryKind::kStaging);
  std::memcpy(staging->mapped(), bytes.data(), bytes.size());
  commands.copy(*staging, 0, buffer, offset, bytes.size());
  commands.barrier();
  commands.hold(std::move(staging));
}

void Context::download(const Buffer& buffer, uint64_t offset, std::span<std::byte> bytes) const {
  BOTTEGA_CHECK(offset + bytes.size() <= buffer.bytes(), "download of ", bytes.size(), " bytes at ",
                offset, " from a buffer of ", buffer.bytes());
  if (bytes.empty()) return;
  if (buffer.mapped() != nullptr && buffer.host_coherent()) {
    std::memcpy(bytes.data(), buffer.mapped() + offset, bytes.size());
    return;
  }
  std::unique_ptr<Buffer> staging = allocate(bytes.size(), MemoryKind::kStaging);
  CommandList commands = begin();
  commands.copy(buffer, offset, *staging, 0, bytes.size());
  submit(commands);
  std::memcpy(bytes.data(), staging->mapped(), bytes.size());
}

}  // namespace bottega::vulkan
