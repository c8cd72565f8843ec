// The compute kernels of a forward pass, recorded into a CommandList: matmul over weights in
// GGUF's row layout, embedding rows, RMSNorm, add, gated activations, soft-cap, RoPE. All
// activations are f32. Every op is followed by a barrier, so ops see the results of the ops
// recorded before them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "backend/vulkan/commands.h"
#include "backend/vulkan/context.h"
#include "backend/vulkan/pipeline.h"
#include "tensor/types.h"

namespace bottega::vulkan {

// f32 values in a buffer: `rows` rows of `width` values, row r starting at offset + r * stride
// (all in floats).
struct FloatView {
  const Buffer* buffer = nullptr;
  uint32_t offset = 0;
  uint32_t rows = 0;
  uint32_t width = 0;
  uint32_t stride = 0;
};

// A weight matrix of n_out rows of n_in values, stored as GGUF stores it (rows of blocks) at a
// byte offset in a buffer whose size is a multiple of 4 bytes past the matrix's end.
struct WeightView {
  const Buffer* buffer = nullptr;
  uint64_t offset = 0;  // bytes
  TensorType type = TensorType::F32;
  int64_t n_in = 0;
  int64_t n_out = 0;
};

enum class GluKind : uint32_t { kSilu = 0, kGeluTanh = 1, kSwigluClamped = 2 };

struct GluSettings {
  GluKind kind = GluKind::kSilu;
  float alpha = 1.702f;  // kSwigluClamped only
  float limit = 7.0f;    // kSwigluClamped only
};

// kernels/cpu/ops.h's RopeParams, with the per-pair frequency factors in a buffer.
struct RopeSettings {
  int n_head = 0;
  int head_dim = 0;
  int n_rot = 0;  // rotated dimensions per head, <= head_dim, even
  bool neox = false;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;
  float attn_factor = 1.0f;
  bool yarn = false;
  float yarn_low = 0.0f;
  float yarn_high = 0.0f;
  FloatView freq_factors;  // one row of n_rot / 2 values, or no buffer
};

// One layer's cached keys (or values): n_rows rows of row_bytes, encoded in a KV cache type
// (F32, F16, Q8_0, Q4_0; backend/kv_cache.h), in a buffer of whole words.
struct KvRowsView {
  const Buffer* buffer = nullptr;
  TensorType type = TensorType::F16;
  uint32_t width = 0;  // values per row
  uint32_t row_bytes = 0;
  uint32_t n_rows = 0;
};

// backend.h's AttentionParams, with the sinks in a buffer and the cache's block size.
struct AttentionSettings {
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t head_dim = 0;  // at most 512
  float scale = 1.0f;
  uint32_t window = 0;
  float softcap = 0.0f;
  FloatView sinks;  // one row of n_head, or no buffer
  uint32_t block_size = 0;
};

// Bytes a buffer needs to hold `bytes` of weights for the kernels (whole 32-bit words).
inline uint64_t weight_buffer_bytes(uint64_t bytes) {
  return (bytes + 3) / 4 * 4;
}

struct KernelOptions {
  // Quantized weights multiply 8-bit activations with packed int8 dot products where the device
  // has them (DeviceInfo::integer_dot_product), as the CPU backend does; false keeps float
  // activations everywhere (tests compare the two).
  bool integer_dot = true;
};

class Kernels {
 public:
  // Pipelines are created on first use: a driver compiles each in tens of milliseconds.
  explicit Kernels(const Context& context, const KernelOptions& options = {});
  ~Kernels();
  Kernels(const Kernels&) = delete;
  Kernels& operator=(const Kernels&) = delete;

  // The weight types matmul and get_rows read.
  static bool supports(TensorType type);

  // y[t][r] = sum_i w[r][i] * x[t][i]; x is [tokens, n_in], y is [tokens, n_out]. Quantized
  // weights on a device with int8 dot products (integer_dot below) take x rounded to the 8-bit
  // blocks the CPU backend uses for that type, Q8_0, Q8_1 or Q8_K; whichever path, a token's row
  // is the same bits alone as in any batch.
  void matmul(CommandList& commands, const WeightView& w, FloatView x, FloatView y);
  // Whether matmul over weights of this type runs on 8-bit activations.
  bool integer_dot(TensorType type) const;
  // out[t] = scale * row ids[ids_offset + t] of table (int32 ids; one per row of out). An id
  // outside the table gives a row of zeros (the caller validates ids; this only keeps the GPU
  // from reading past the buffer).
  void get_rows(CommandList& commands, const WeightView& table, const Buffer& ids,
                uint32_t ids_offset, FloatView out, float scale);
  // Each row of x normalised by its root mean square, times weight (one row); out may be x.
  void rms_norm(CommandList& commands, FloatView x, FloatView weight, FloatView out, float eps);
  // y += x, where x has y's shape or is one row added to every row of y.
  void add(CommandList& commands, FloatView y, FloatView x);
  // out = act(gate) * up; out may be gate.
  void glu(CommandList& commands, const GluSettings& settings, FloatView gate, FloatView up,
           FloatView out);
  // x = cap * tanh(x / cap)
  void softcap(CommandList& commands, FloatView x, float cap);
  // Encodes row t of src into cache row rows[rows_offset + t] (int32 row indices).
  void kv_store(CommandList& commands, FloatView src, const KvRowsView& cache, const Buffer& rows,
                uint32_t rows_offset);
  // Causal attention of each token (row of q) over its sequence's cached rows. meta holds, at
  // meta_offset + 2t, token t's position and the index in meta where its sequence's block table
  // starts; the table covers positions 0..position and names rows below keys.n_rows / block_size.
  void attention(CommandList& commands, const AttentionSettings& settings, FloatView q,
                 const KvRowsView& keys, const KvRowsView& values, const Buffer& meta,
                 uint32_t meta_offset, FloatView out);
  // Rotates each row's (token's) n_head heads by positions[positions_offset + row] (int32).
  void rope(CommandList& commands, FloatView x, const Buffer& positions, uint32_t positions_offset,
            const RopeSettings& settings);

  // A mixture of experts' routing: for each row of router logits (one per token, n_expert wide),
  // its n_used best experts in expert order into ids (int32, n_used per token) and their weights
  // into weights (a row of n_used per token): a softmax over every expert when over_all, over
  // the chosen ones when not. At most 256 experts and 16 per token.
  void moe_route(CommandList& commands, FloatView logits, uint32_t n_used, bool over_all,
                 const Buffer& ids, FloatView weights);
  // For each (token, slot) pair p (n_used per token): y[p] = expert ids[p] of `experts` times x's
  // row p (x_per_pair) or p / n_used, plus row ids[p] of bias when given. `experts` stacks
  // n_expert matrices of y.width rows.
  void matmul_id(CommandList& commands, const WeightView& experts, uint32_t n_expert,
                 const Buffer& ids, uint32_t n_used, FloatView x, bool x_per_pair, FloatView bias,
                 FloatView y);
  // Reads every byte of source (whole 16-byte vectors) once, for the bandwidth probe; sums gets a
  // word per 1 MiB read.
  void read_all(CommandList& commands, const Buffer& source, const Buffer& sums);
  // out[t] = sum_s weights[t][s] * experts[t * n_used + s] (+ shared[t], scaled by
  // sigmoid(gate . x[t]) when gate is given); shared and gate may be absent.
  void moe_combine(CommandList& commands, FloatView experts, FloatView weights, FloatView shared,
                   FloatView gate, FloatView x, FloatView out);

 private:
  const Pipeline& pipeline(std::string_view name, uint32_t buffer_count,
                           uint32_t push_constant_bytes);

  void matmul_integer_dot(CommandList& commands, const WeightView& w, FloatView x, FloatView y);

  const Context& context_;
  bool integer_dot_ = false;
  std::map<std::string, std::unique_ptr<Pipeline>, std::less<>> pipelines_;
  // Bound where a shader's optional buffer is absent (RoPE without frequency factors).
  std::unique_ptr<Buffer> placeholder_;
};

}  // namespace bottega::vulkan
