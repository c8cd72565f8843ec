// Where each part of a decoder runs when a model is split between the CPU and a device, with
// llama.cpp's meaning of -ngl (--n-gpu-layers): the last N blocks run on the device, and N larger
// than the block count also puts the output head there. The token embedding goes with the first
// block, so a full offload runs entirely on the device.
#pragma once

#include <string>
#include <vector>

namespace bottega {

// A run of consecutive stages on one backend: optionally the embedding, blocks [first, end), and
// optionally the output norm and head. A forward pass runs the segments in order and hands the
// residual stream from one to the next.
struct Segment {
  bool on_device = false;
  bool embedding = false;
  int first = 0;
  int end = 0;
  bool head = false;
  bool has_blocks() const { return end > first; }
};

struct Placement {
  std::vector<Segment> segments;  // in the order a forward pass runs them
  int device_blocks = 0;          // blocks on the device
  bool head_on_device = false;

  bool block_on_device(int block) const;
  bool embedding_on_device() const { return segments.front().on_device; }
};

// The placement of a decoder of n_block blocks: everything on the CPU when there is no device,
// the last `offload` blocks on it otherwise, and everything when offload is negative or above
// n_block.
Placement place_layers(int n_block, bool have_device, int offload);

// "all 22 layers on vulkan0", "16 of 22 layers on vulkan0, the rest and the output on the CPU",
// for a line at load time.
std::string describe(const Placement& placement, int n_block, const std::string& device);

}  // namespace bottega
