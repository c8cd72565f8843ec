// The interface every architecture implements: a pure forward pass over a flat batch of tokens.
//
// The model never knows about sessions, HTTP or scheduling: it is given tokens with their positions
// and sequences, the block tables of those sequences, and the KV cache to read and write.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/batch.h"
#include "backend/kv_cache.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"

namespace bottega {

// Shape facts the engine needs to size caches and buffers.
struct ModelInfo {
  std::string architecture;  // general.architecture
  std::string name;          // general.name, or the file name
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  int64_t n_ctx_train = 0;
  int n_expert = 0;  // mixture of experts: experts per layer, and how many a token uses
  int n_expert_used = 0;
  int64_t n_kv_dim() const { return n_head_kv * head_dim; }
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  // Bytes of weights the forward pass reads (the mapped tensors).
  virtual uint64_t weight_bytes() const = 0;
  virtual uint64_t n_params() const = 0;
  // What one token's forward pass reads: all of the above for a dense model; a mixture of experts
  // reads only the experts its router picks (n_expert_used of n_expert in each layer).
  virtual uint64_t active_weight_bytes() const { return weight_bytes(); }
  virtual uint64_t active_params() const { return n_params(); }
  // Which backend runs which layers, for a line at load time: "all layers on the CPU", ...
  virtual std::string placement() const { return "all layers on the CPU"; }

  // Runs the batch. Keys and values of every token are written to the cache at (seq, pos) before
  // attention, so a token attends to every position <= its own in its sequence, including earlier
  // tokens of the same batch. logits receives n_vocab floats for each token with .logits set, in
  // batch order.
  virtual void forward(std::span<const BatchToken> batch,
                       std::span<const std::span<const int32_t>> block_tables, KvCache& cache,
                       std::span<float> logits, ThreadPool& pool) = 0;
};

struct LoadOptions {
  LoadOptions() = default;
  explicit LoadOptions(int64_t context) : n_ctx(context) {}
  // The context a run is configured with (0: the model's trained context). Phi-3's LongRoPE picks
  // its frequencies by it, as llama.cpp does.
  int64_t n_ctx = 0;
  // Where the model runs; the CPU when null.
  std::shared_ptr<backend::Backend> backend;
  // llama.cpp's -ngl when `backend` is a device: its last N layers run there and the rest on the
  // CPU; N above the layer count also moves the output head. Negative: everything on the device.
  int offload_layers = -1;
  // How the CPU backend the loader makes keeps the weights (the layers a device does not run);
  // a CPU `backend` passed in keeps its own.
  backend::CpuOptions cpu;
};

// Opens the architecture named by general.architecture; throws Error naming an unsupported
// architecture, a missing or misshapen tensor, or a weight type bottega cannot compute with.
std::unique_ptr<Model> load_model(gguf::File file, const LoadOptions& options = {});

// Architectures load_model accepts, for messages and `show`.
std::vector<std::string> supported_architectures();

}  // namespace bottega
