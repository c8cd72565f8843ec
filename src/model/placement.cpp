#include "model/placement.h"

#include "core/error.h"

namespace bottega {

bool Placement::block_on_device(int block) const {
  for (const Segment& s : segments) {
    if (block >= s.first && block < s.end) return s.on_device;
  }
  return false;
}

Placement place_layers(int n_block, bool have_device, int offload) {
  Placement placement;
  if (!have_device || offload == 0) {
    placement.segments.push_back({false, true, 0, n_block, true});
    return placement;
  }
  const bool everything = offload < 0 || offload > n_block;
  placement.device_blocks = everything ? n_block : offload;
  placement.head_on_device = everything;
  const int first_device_block = n_block - placement.device_blocks;
  if (first_device_block > 0) {
    placement.segments.push_back({false, true, 0, first_device_block, false});
  }
  placement.segments.push_back(
      {true, first_device_block == 0, first_device_block, n_block, placement.head_on_device});
  if (!placement.head_on_device)
    placement.segments.push_back({false, false, n_block, n_block, true});
  return placement;
}

std::string describe(const Placement& placement, int n_block, const std::string& device) {
  if (placement.device_blocks == 0 && !placement.head_on_device) return "all layers on the CPU";
  if (placement.head_on_device) return str("all ", n_block, " layers and the output on ", device);
  return str(placement.device_blocks, " of ", n_block, " layers on ", device,
             "; the rest and the output on the CPU");
}

}  // namespace bottega
