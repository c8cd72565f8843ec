// The planner behind `bottega fit`: from a GGUF file's header and tensor table alone (no tensor
// data is read), the memory a run needs item by item, whether it fits, the largest context that
// does, the speed to expect from the machine's measured roofline, and, when it does not fit, the
// nearest configurations that do.
//
// Memory is predicted as the peak resident set of `bottega run` / `serve` with the same context,
// parallel sequences and KV cache types (tests/fit compares it with the measured peak).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/kv_cache.h"
#include "gguf/gguf.h"
#include "tensor/types.h"

namespace bottega::fit {

// The hyper-parameters that size a decoder-only transformer, read from `ARCH.*` keys.
struct ModelShape {
  std::string architecture;
  std::string name;
  int n_layer = 0;
  int64_t n_embd = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  // Floats of activations per batch token (model/decoder_config.h), from the family's config.
  int64_t activation_floats = 0;
  int n_expert = 0;  // mixture of experts: a token reads n_expert_used of n_expert experts
  int n_expert_used = 0;
  int64_t n_kv_dim() const { return n_head_kv * head_dim; }
};

// The shape of a family bottega runs comes from its architecture file, so fit sizes exactly what
// the decoder allocates; other architectures are read from the usual ARCH.* keys, as an estimate.
// Throws gguf::FormatError naming the key when a needed one is missing or not positive.
ModelShape read_model_shape(const gguf::File& file);

struct WeightsOfType {
  TensorType type = TensorType::F32;
  int n_tensors = 0;
  uint64_t n_params = 0;
  uint64_t bytes = 0;  // stored
};

// What a run keeps resident, by item.
struct MemoryBreakdown {
  uint64_t weights = 0;   // tensor data a run touches (see resident_weight_bytes)
  uint64_t metadata = 0;  // the GGUF header (read through the map) and the tokenizer's tables
  uint64_t kv_cache = 0;  // the KV pool: context x parallel, rounded up to whole blocks
  uint64_t compute = 0;   // activations of one batch (at most 512 tokens) and logits
  uint64_t overhead = 0;  // the process itself: code, libraries, thread stacks, allocator
  // The Vulkan loader and driver with the shaders compiled, when a device runs layers: measured
  // with Mesa's lavapipe (its LLVM compiler); a GPU's driver differs.
  uint64_t gpu_runtime = 0;
  // Loading copies matrices into the kernels' interleaved layout, the stored pages of the one
  // being copied still resident: the peak during load, where it exceeds what the embedding rows,
  // KV cache and activations add later.
  uint64_t load_transient = 0;
  uint64_t total() const {
    return weights + metadata + kv_cache + compute + overhead + gpu_runtime + load_transient;
  }
};

// The machine, as `bottega hw` reports it.
struct Machine {
  uint64_t available_bytes = 0;
  double read_bytes_per_second = 0.0;
  double f32_flops_per_second = 0.0;
  double int8_ops_per_second = 0.0;  // the quantized types' prompt ceiling
  // The decode kernel's streaming rate (hw/decode_stream.h), which decode is predicted from; the
  // read bandwidth stands in when it is 0.
  double decode_bytes_per_second = 0.0;
  // Whether the matrix kernels run the AVX-512 ISA (kernels/cpu/vec_dot.h). The peaks are probed
  // with AVX2 instructions, and prompts on AVX-512 run faster against them by a gain per type.
  bool avx512_kernels = false;
  // Whether BF16 matrices multiply with BF16 dot products (AVX512_BF16; kernels/cpu/matmul.h),
  // and whether the run rounds F16 weights to BF16 to use them (--f16-as-bf16).
  bool bf16_dot_products = false;
  bool f16_as_bf16 = false;
};

// A GPU that runs the last layers of the model (--device vulkanN, -ngl N).
struct DeviceTarget {
  std::string device;                 // "vulkan0"
  std::string name;                   // what the driver calls it
  bool shares_system_memory = false;  // integrated GPUs, Apple, lavapipe: buffers use system RAM
  bool reads_file_in_place = false;   // imports the mapped weights instead of copying them
  uint64_t memory_bytes = 0;          // its device-local heaps (its own memory when discrete)
  int offload_layers = -1;            // -ngl: the last N layers; above n_layer, the head too
};

// What the device holds, by item. On a device that shares system memory these come out of the
// same RAM as the host's items.
struct DeviceMemory {
  int layers = 0;        // blocks on the device
  bool head = false;     // the output norm and head too
  uint64_t weights = 0;  // copied into device buffers (0 when read in place from the file)
  uint64_t kv_cache = 0;
  uint64_t compute = 0;  // activations of one batch and logits
  uint64_t total() const { return weights + kv_cache + compute; }
};

struct Config {
  int64_t n_ctx = 0;  // per parallel sequence
  int parallel = 1;
  KvCacheTypes cache_types;
  DeviceTarget const* device = nullptr;  // none: everything on the CPU
};

struct SpeedEstimate {
  double pp512_tps = 0.0;
  double tg128_tps = 0.0;
};

// A configuration that fits when the requested one does not.
struct Alternative {
  std::string change;  // "KV cache q8_0/q8_0", "context 8192", "parallel 2", "Q4_0 weights"
  Config config;
  uint64_t total_bytes = 0;
  uint64_t weight_bytes = 0;  // stored size of the weights (differs for another quantization)
};

struct Plan {
  ModelShape shape;
  std::vector<WeightsOfType> weights_by_type;  // stored sizes, largest first
  uint64_t stored_weight_bytes = 0;
  Config config;
  uint64_t kv_bytes_per_token = 0;  // K + V over all layers
  MemoryBreakdown memory;           // the host's: the process's resident memory
  DeviceMemory device;              // zero without a device
  // System memory the plan uses: the host's items, plus the device's when it shares that memory.
  uint64_t system_bytes = 0;
  Machine machine;
  bool fits = false;        // in system memory and, for a discrete GPU, in its own memory
  int64_t max_context = 0;  // largest context per sequence that fits (<= n_ctx_train), 0 if none
  SpeedEstimate speed;      // zero when layers run on a GPU: its roofline is not measured yet
  std::vector<Alternative> alternatives;  // empty when it fits
};

// n_ctx <= 0 means the largest context that fits (the model's trained context at most).
// Throws Error when parallel < 1 or a cache type cannot store this model's rows.
Plan make_plan(const gguf::File& file, Config config, const Machine& machine);

// Peak resident bytes of a run in `config` (the pieces of Plan::memory), for callers that only
// want the number.
MemoryBreakdown estimate_memory(const gguf::File& file, const Config& config);

}  // namespace bottega::fit
