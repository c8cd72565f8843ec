#include "backend/vulkan/commands.h"

#include <utility>

#include "backend/vulkan/context.h"
#include "backend/vulkan/errors.h"
#include "backend/vulkan/pipeline.h"
#include "core/error.h"

namespace bottega::vulkan {
namespace {

// Sets per pool; a long forward pass takes several pools rather than one sized for the worst.
constexpr uint32_t kSetsPerPool = 256;
constexpr uint32_t kBuffersPerSet = 8;

void begin_recording(const DeviceFunctions& f, VkCommandBuffer command_buffer) {
  VkCommandBufferBeginInfo begin{};
  begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(f.begin_command_buffer(command_buffer, &begin), "recording GPU commands");
}

}  // namespace

CommandList::CommandList(const Context& context) : context_(&context) {
  command_buffer_ = context.allocate_command_buffer();
  begin_recording(context.functions(), command_buffer_);
}

CommandList::CommandList(CommandList&& other) noexcept
    : context_(other.context_),
      command_buffer_(std::exchange(other.command_buffer_, VK_NULL_HANDLE)),
      pools_(std::move(other.pools_)),
      current_pool_(other.current_pool_),
      held_(std::move(other.held_)),
      outgrown_scratch_(std::move(other.outgrown_scratch_)),
      scratch_(std::move(other.scratch_)) {}

CommandList::~CommandList() {
  if (command_buffer_ == VK_NULL_HANDLE) return;  // moved from
  const DeviceFunctions& f = context_->functions();
  for (VkDescriptorPool pool : pools_) f.destroy_descriptor_pool(context_->device(), pool, nullptr);
  context_->free_command_buffer(command_buffer_);
}

VkDescriptorSet CommandList::allocate_set(VkDescriptorSetLayout layout) {
  const DeviceFunctions& f = context_->functions();
  while (true) {
    if (current_pool_ == pools_.size()) {
      VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kBuffersPerSet};
      VkDescriptorPoolCreateInfo info{};
      info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
      info.maxSets = kSetsPerPool;
      info.poolSizeCount = 1;
      info.pPoolSizes = &size;
      VkDescriptorPool pool = VK_NULL_HANDLE;
      check(f.create_descriptor_pool(context_->device(), &info, nullptr, &pool),
            "creating a descriptor pool");
      pools_.push_back(pool);
    }
    VkDescriptorSetAllocateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    info.descriptorPool = pools_[current_pool_];
    info.descriptorSetCount = 1;
    info.pSetLayouts = &layout;
    VkDescriptorSet set = VK_NULL_HANDLE;
    const VkResult result = f.allocate_descriptor_sets(context_->device(), &info, &set);
    if (result == VK_SUCCESS) return set;
    if (result != VK_ERROR_OUT_OF_POOL_MEMORY && result != VK_ERROR_FRAGMENTED_POOL) {
      check(result, "allocating a descriptor set");
    }
    ++current_pool_;  // this pool is full: the next one, new if need be
  }
}

void CommandList::dispatch(const Pipeline& pipeline, std::span<const Buffer* const> buffers,
                           std::span<const std::byte> push_constants, WorkgroupCount groups) {
  BOTTEGA_CHECK(buffers.size() == pipeline.buffer_count() && buffers.size() <= kBuffersPerSet &&
                    push_constants.size() == pipeline.push_constant_bytes(),
                "dispatch with ", buffers.size(), " buffers and ", push_constants.size(),
                " push constant bytes for a pipeline of ", pipeline.buffer_count(), " and ",
                pipeline.push_constant_bytes());
  const DeviceFunctions& f = context_->functions();
  const VkDescriptorSet set = allocate_set(pipeline.set_layout());
  VkDescriptorBufferInfo infos[kBuffersPerSet];
  VkWriteDescriptorSet writes[kBuffersPerSet];
  for (size_t i = 0; i < buffers.size(); ++i) {
    infos[i] = VkDescriptorBufferInfo{buffers[i]->handle(), 0, VK_WHOLE_SIZE};
    writes[i] = VkWriteDescriptorSet{};
    writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    writes[i].dstSet = set;
    writes[i].dstBinding = static_cast<uint32_t>(i);
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  f.update_descriptor_sets(context_->device(), static_cast<uint32_t>(buffers.size()), writes, 0,
                           nullptr);
  f.cmd_bind_pipeline(command_buffer_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.handle());
  f.cmd_bind_descriptor_sets(command_buffer_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout(), 0,
                             1, &set, 0, nullptr);
  if (!push_constants.empty()) {
    f.cmd_push_constants(command_buffer_, pipeline.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                         static_cast<uint32_t>(push_constants.size()), push_constants.data());
  }
  f.cmd_dispatch(command_buffer_, groups.x, groups.y, groups.z);
}

void CommandList::barrier() {
  VkMemoryBarrier barrier{};
  barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                          VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages =
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  context_->functions().cmd_pipeline_barrier(command_buffer_, stages, stages, 0, 1, &barrier, 0,
                                             nullptr, 0, nullptr);
}

void CommandList::copy(const Buffer& source, uint64_t source_offset, const Buffer& destination,
                       uint64_t destination_offset, uint64_t bytes) {
  BOTTEGA_CHECK(
      source_offset + bytes <= source.bytes() && destination_offset + bytes <= destination.bytes(),
      "copy of ", bytes, " bytes past a buffer's end");
  const VkBufferCopy region{source_offset, destination_offset, bytes};
  context_->functions().cmd_copy_buffer(command_buffer_, source.handle(), destination.handle(), 1,
                                        &region);
}

void CommandList::fill(const Buffer& buffer, uint32_t value) {
  context_->functions().cmd_fill_buffer(command_buffer_, buffer.handle(), 0, VK_WHOLE_SIZE, value);
}

void CommandList::hold(std::unique_ptr<Buffer> buffer) {
  held_.push_back(std::move(buffer));
}

const Buffer& CommandList::scratch(uint64_t bytes) {
  if (scratch_ == nullptr || scratch_->bytes() < bytes) {
    if (scratch_ != nullptr) outgrown_scratch_.push_back(std::move(scratch_));
    scratch_ = context_->acquire(bytes);
  }
  return *scratch_;
}

void CommandList::end() {
  // Whatever the list wrote is then visible to the host (downloads, mapped buffers) and to the
  // next list, since a fence alone orders execution but does not make writes visible.
  VkMemoryBarrier barrier{};
  barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT |
                          VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                          VK_ACCESS_TRANSFER_WRITE_BIT;
  context_->functions().cmd_pipeline_barrier(
      command_buffer_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
      VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
          VK_PIPELINE_STAGE_TRANSFER_BIT,
      0, 1, &barrier, 0, nullptr, 0, nullptr);
  check(context_->functions().end_command_buffer(command_buffer_), "recording GPU commands");
}

void CommandList::restart() {
  const DeviceFunctions& f = context_->functions();
  held_.clear();
  outgrown_scratch_.clear();
  scratch_.reset();
  for (VkDescriptorPool pool : pools_) f.reset_descriptor_pool(context_->device(), pool, 0);
  current_pool_ = 0;
  check(f.reset_command_buffer(command_buffer_, 0), "resetting a command buffer");
  begin_recording(f, command_buffer_);
}

}  // namespace bottega::vulkan
