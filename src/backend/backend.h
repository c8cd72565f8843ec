// The boundary between the decoder and the hardware that runs it.
//
// A backend (the CPU today; Vulkan, later CUDA) owns memory and compute: it keeps weight matrices
// in the layout its kernels want, allocates activation buffers, and runs the ops a transformer
// forward pass is made of. The decoder, the engine and the scheduler see only this header: they
// hold views (Tensor) and handles (Matrix, Buffer), never pointers into a device's memory, and a
// forward pass is a sequence of calls on one Pass. A backend may run each op at once (CPU) or
// record it and run the pass later (a GPU command buffer); only Pass::read waits for results.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/batch.h"
#include "backend/kv_cache.h"
#include "backend/op_params.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "tensor/weight_matrix.h"

namespace bottega::backend {

class Buffer;

// A view of float activations in a backend's memory: `rows` rows of `width` values, each row
// `stride` floats after the one before. Views are plain values; their Buffer owns the memory and
// must outlive them. A default Tensor is "none" (an absent bias, no sinks).
struct Tensor {
  const Buffer* buffer = nullptr;
  int64_t offset = 0;  // floats from the buffer's start to the first value
  int64_t rows = 0;
  int64_t width = 0;
  int64_t stride = 0;

  bool empty() const { return buffer == nullptr; }
  bool contiguous() const { return stride == width; }
  int64_t size() const { return rows * width; }
  // Rows [begin, begin + count).
  Tensor row_range(int64_t begin, int64_t count) const;
  // Columns [begin, begin + count) of every row (one part of a fused QKV row, say).
  Tensor columns(int64_t begin, int64_t count) const;
  // The same contiguous floats read as rows of another width (per-head views of Q and K).
  Tensor reshaped(int64_t new_width) const;
};

// Memory of one backend, allocated for floats.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual int64_t size() const = 0;  // floats
  // The whole buffer as `rows` contiguous rows of size() / rows values.
  Tensor tensor(int64_t rows, int64_t width) const;
};

// A weight matrix in the layout the backend's kernels want: n_out rows of n_in values, or for the
// experts of a mixture, n_expert such matrices one after another (GGUF's 3-D *_exps tensors).
class Matrix {
 public:
  virtual ~Matrix() = default;
  virtual TensorType type() const = 0;
  virtual int64_t n_in() const = 0;
  virtual int64_t n_out() const = 0;  // rows of one expert's matrix
  virtual int64_t n_expert() const = 0;
};

// The tensors of one mixture-of-experts FFN: a router, the stacked experts (n_expert matrices of
// n_ff rows for gate and up, of n_embd rows for down), optional biases (one row per expert), and
// an optional shared expert with its optional sigmoid gate.
struct MoeWeights {
  const Matrix* router = nullptr;
  Tensor router_bias;
  const Matrix* gate_experts = nullptr;
  const Matrix* up_experts = nullptr;
  const Matrix* down_experts = nullptr;
  Tensor gate_bias, up_bias, down_bias;
  const Matrix* gate_shared = nullptr;
  const Matrix* up_shared = nullptr;
  const Matrix* down_shared = nullptr;
  Tensor shared_gate;  // one row of n_embd
};

// Causal attention of one layer: grouped-query heads, the scale of the query-key products, an
// optional window (> 0: a token sees the last `window` positions, itself included), an optional
// soft-cap of the scores and optional sinks (one logit per query head that joins the softmax's
// denominator without a value: gpt-oss).
struct AttentionParams {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;  // divides n_head
  int64_t head_dim = 0;
  float scale = 0.0f;
  int32_t window = 0;
  float softcap = 0.0f;
  Tensor sinks;  // one row of n_head, or none
};

// One product of Pass::matmul_shared_input.
struct MatmulProduct {
  const Matrix* w;
  Tensor y;
};

// One forward pass over one batch. Ops take views of buffers from the same backend and run in the
// order they are called; a Tensor "x" of a batch-wide op has one row per batch token.
class Pass {
 public:
  virtual ~Pass() = default;

  // out[t] = scale * row batch[t].token of the table (an embedding matrix).
  virtual void get_rows(const Matrix& table, Tensor out, float scale) = 0;
  // Each row of x RMS-normalised and multiplied by weight (one row of x.width); out may be x.
  virtual void rms_norm(Tensor x, Tensor weight, Tensor out, float eps) = 0;
  // y = x w^T for a 2-D matrix: x is [rows, n_in], y is [rows, n_out].
  virtual void matmul(const Matrix& w, Tensor x, Tensor y) = 0;
  // matmul(*p.w, x, p.y) for each p (a layer's Q, K and V; its FFN gate and up). A backend that
  // can share the work on x between the products (its quantization, one dispatch) overrides it.
  virtual void matmul_shared_input(Tensor x, std::span<const MatmulProduct> products) {
    for (const MatmulProduct& p : products) matmul(*p.w, x, p.y);
  }
  // y += x, where x has y's shape or is one row added to every row of y.
  virtual void add(Tensor y, Tensor x) = 0;
  // out = act(gate) * up, row by row (op_params.h); out may be gate.
  virtual void glu(const GluParams& params, Tensor gate, Tensor up, Tensor out) = 0;
  // Rotates each token's n_head heads (x's rows are tokens) by the token's position.
  virtual void rope(Tensor x, int n_head, const RopeParams& params) = 0;
  // Writes each token's keys and values into the layer's cache rows at its (sequence, position).
  virtual void store_kv(int layer, Tensor k, Tensor v) = 0;
  // Causal attention of each token's query heads over its sequence's cached keys and values.
  virtual void attention(int layer, const AttentionParams& params, Tensor q, Tensor out) = 0;
  // x = cap * tanh(x / cap)
  virtual void softcap(Tensor x, float cap) = 0;
  // dst = src, same shape (either may be a strided view).
  virtual void copy(Tensor src, Tensor dst) = 0;
  // dst's rows are src's rows of the batch tokens that asked for logits, in batch order.
  virtual void logit_rows(Tensor src, Tensor dst) = 0;
  // The mixture-of-experts FFN of x (normalised rows) into out: routing, experts, weighted sum,
  // shared expert. A token's result does not depend on the other tokens of the batch.
  virtual void mixture_of_experts(const MoeWeights& weights, const MoeConfig& moe,
                                  const GluParams& activation, Tensor x, Tensor out) = 0;
  // Waits for every op before it and copies src (contiguous) to host memory.
  virtual void read(Tensor src, std::span<float> dst) = 0;
};
// Destroying a Pass finishes its ops (a recording backend runs them then) and waits for them.

class Backend {
 public:
  virtual ~Backend() = default;
  // "cpu", "vulkan0", ...: what --device names and `bench` prints.
  virtual std::string name() const = 0;
  // What the hardware calls itself ("AMD Radeon 8060S Graphics"); the name for the CPU.
  virtual std::string device_name() const { return name(); }
  // Bytes per second the device reads its own memory at, measured now (a second or so); 0 for
  // the CPU, whose bandwidth `bottega hw` measures.
  virtual double measure_read_bandwidth() { return 0.0; }
  // Where the weights of the last load_matrices call are, for a line at load time ("1.2 GiB of
  // weights copied to vulkan0"); empty when there is nothing to say.
  virtual std::string describe_weights() const { return ""; }
  // Whether matmul and get_rows read weights of this type.
  virtual bool supports(TensorType type) const = 0;

  // What a matrix is for, which decides the layout a backend keeps it in.
  enum class Role {
    kProjection,  // read whole by matmul for every token
    kEmbedding,   // read a row per token by get_rows
    kRouter,      // a mixture's router: small, kept as stored
    kExperts,     // stacked experts, of which a token reads n_used
  };
  struct StoredMatrix {
    WeightMatrix view;  // in the file's mapping; experts: n_expert * rows-per-expert rows
    Role role = Role::kProjection;
    int64_t n_expert = 1;
  };
  // The backend's copies of stored matrices, in the order given. `file` is the mapping the views
  // point into, or null when they point into the caller's memory (which must outlive them). Entries
  // that view the same data (a head tied to the embedding) share one copy. A backend may keep a
  // matrix in the mapping (the CPU keeps experts, of which a token reads few, and embeddings) or
  // release the file's pages once it has its own copy.
  virtual std::vector<std::unique_ptr<Matrix>> load_matrices(
      const gguf::File* file, std::span<const StoredMatrix> matrices) = 0;

  // A buffer of n floats; its values are unspecified until written.
  virtual std::unique_ptr<Buffer> allocate(int64_t n) = 0;
  // A buffer holding values (norm weights, biases).
  virtual std::unique_ptr<Buffer> upload(std::span<const float> values) = 0;

  // Starts a forward pass over batch: tokens with their positions and sequences, the block
  // tables of those sequences, the KV cache they read and write, and the host's threads.
  virtual std::unique_ptr<Pass> begin(std::span<const BatchToken> batch,
                                      std::span<const std::span<const int32_t>> tables,
                                      KvCache& cache, ThreadPool& threads) = 0;
};

// How the CPU backend keeps the weights. f16_as_bf16: F16 projections are rounded to BF16 at load
// (8 significant bits instead of 11) where the CPU has BF16 dot products (AVX512_BF16), whose
// prompts run about twice as fast; elsewhere they stay F16. Off by default: it changes results.
struct CpuOptions {
  bool f16_as_bf16 = false;
};

// The backend every model runs on when none is chosen.
std::unique_ptr<Backend> make_cpu_backend(const CpuOptions& options = {});

}  // namespace bottega::backend
