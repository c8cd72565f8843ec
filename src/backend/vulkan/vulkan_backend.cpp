#include "backend/vulkan/vulkan_backend.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <vector>

#include "backend/vulkan/commands.h"
#include "backend/vulkan/context.h"
#include "backend/vulkan/kernels.h"
#include "core/error.h"
#include "core/format.h"

namespace bottega::backend {
namespace {

class VulkanBuffer final : public Buffer {
 public:
  VulkanBuffer(const vulkan::Context& context, int64_t n)
      : size_(n), buffer_(context.acquire(static_cast<uint64_t>(std::max<int64_t>(n, 1)) * 4)) {}
  int64_t size() const override { return size_; }
  vulkan::Buffer& device() const { return *buffer_; }

 private:
  int64_t size_;
  vulkan::PooledBuffer buffer_;
};

// Weights in a device buffer: a copy, or the file's own pages imported (starting `offset` bytes
// into the buffer).
struct WeightMemory {
  std::shared_ptr<vulkan::Buffer> buffer;
  uint64_t offset = 0;
};

class VulkanMatrix final : public Matrix {
 public:
  VulkanMatrix(WeightMemory memory, const WeightMatrix& stored, int64_t n_expert)
      : memory_(std::move(memory)), stored_(stored), n_expert_(n_expert) {}
  TensorType type() const override { return stored_.type; }
  int64_t n_in() const override { return stored_.n_in; }
  int64_t n_out() const override { return stored_.n_out / n_expert_; }
  int64_t n_expert() const override { return n_expert_; }
  vulkan::WeightView view() const {
    return {memory_.buffer.get(), memory_.offset, stored_.type, stored_.n_in, stored_.n_out};
  }

 private:
  WeightMemory memory_;
  WeightMatrix stored_;
  int64_t n_expert_;
};

uint32_t narrow(int64_t value, const char* what) {
  BOTTEGA_CHECK(value >= 0 && value <= std::numeric_limits<uint32_t>::max(), what, " ", value);
  return static_cast<uint32_t>(value);
}

const vulkan::Buffer& device_buffer(const Tensor& t) {
  const auto* buffer = dynamic_cast<const VulkanBuffer*>(t.buffer);
  BOTTEGA_CHECK(buffer != nullptr, "a buffer of another backend given to Vulkan");
  return buffer->device();
}

vulkan::FloatView view(const Tensor& t) {
  if (t.empty()) return {};
  return {&device_buffer(t), narrow(t.offset, "offset"), narrow(t.rows, "rows"),
          narrow(t.width, "width"), narrow(t.stride, "stride")};
}

const VulkanMatrix& device_matrix(const Matrix& m) {
  const auto* matrix = dynamic_cast<const VulkanMatrix*>(&m);
  BOTTEGA_CHECK(matrix != nullptr, "a matrix of another backend given to Vulkan");
  return *matrix;
}

// A pass's integer inputs, copied in by the pass's own command list.
vulkan::PooledBuffer int_buffer(const vulkan::Context& context, vulkan::CommandList& commands,
                                const std::vector<int32_t>& values) {
  auto buffer = context.acquire(std::max<size_t>(values.size(), 1) * 4);
  context.upload(commands, *buffer, 0, std::as_bytes(std::span(values)));
  return buffer;
}

// One layer's cache rows in device memory.
class VulkanKvLayer final : public KvLayerMemory {
 public:
  VulkanKvLayer(const vulkan::Context& context, const KvCache& cache)
      : owner(&context),
        keys(context.allocate(
            vulkan::weight_buffer_bytes(cache.rows_per_layer() * cache.key_row_bytes()))),
        values(context.allocate(
            vulkan::weight_buffer_bytes(cache.rows_per_layer() * cache.value_row_bytes()))) {}
  const vulkan::Context* owner;
  std::unique_ptr<vulkan::Buffer> keys;
  std::unique_ptr<vulkan::Buffer> values;
};

class VulkanPass final : public Pass {
 public:
  VulkanPass(const vulkan::Context& context, vulkan::Kernels& kernels,
             std::span<const BatchToken> batch, std::span<const std::span<const int32_t>> tables,
             KvCache& cache)
      : context_(context),
        kernels_(kernels),
        batch_(batch),
        tables_(tables),
        cache_(cache),
        commands_(context.begin()) {
    std::vector<int32_t> tokens, positions;
    for (const BatchToken& t : batch) {
      tokens.push_back(t.token);
      positions.push_back(t.pos);
    }
    tokens_ = int_buffer(context, commands_, tokens);
    positions_ = int_buffer(context, commands_, positions);
  }

  // Runs what is still recorded; an error here has no caller to go to, and read() reports the
  // same failures on the path that returns results.
  ~VulkanPass() override {
    if (!recorded_) return;
    try {
      context_.submit(commands_);
    } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): see above
    }
  }

  void get_rows(const Matrix& table, Tensor out, float scale) override {
    const VulkanMatrix& m = device_matrix(table);
    BOTTEGA_CHECK(out.rows == static_cast<int64_t>(batch_.size()), "get_rows rows");
    for (const BatchToken& t : batch_) {
      BOTTEGA_CHECK(t.token >= 0 && t.token < m.n_out(), "token id ", t.token);
    }
    kernels_.get_rows(commands_, m.view(), *tokens_, 0, view(out), scale);
    recorded_ = true;
  }

  void rms_norm(Tensor x, Tensor weight, Tensor out, float eps) override {
    kernels_.rms_norm(commands_, view(x), view(weight), view(out), eps);
    recorded_ = true;
  }

  void matmul(const Matrix& w, Tensor x, Tensor y) override {
    BOTTEGA_CHECK(
        w.n_expert() == 1 && x.width == w.n_in() && y.width == w.n_out() && x.rows == y.rows,
        "matmul shapes");
    kernels_.matmul(commands_, device_matrix(w).view(), view(x), view(y));
    recorded_ = true;
  }

  void add(Tensor y, Tensor x) override {
    kernels_.add(commands_, view(y), view(x));
    recorded_ = true;
  }

  void glu(const GluParams& params, Tensor gate, Tensor up, Tensor out) override {
    kernels_.glu(commands_, glu_settings(params), view(gate), view(up), view(out));
    recorded_ = true;
  }

  void rope(Tensor x, int n_head, const RopeParams& params) override {
    BOTTEGA_CHECK(x.rows == static_cast<int64_t>(batch_.size()) && x.width % n_head == 0,
                  "rope shapes");
    vulkan::RopeSettings settings;
    settings.n_head = n_head;
    settings.head_dim = static_cast<int>(x.width / n_head);
    settings.n_rot = params.n_rot;
    settings.neox = params.style == RopeStyle::kNeox;
    settings.freq_base = params.freq_base;
    settings.freq_scale = params.freq_scale;
    settings.attn_factor = params.attn_factor;
    settings.yarn = params.yarn;
    settings.yarn_low = params.yarn_low;
    settings.yarn_high = params.yarn_high;
    if (!params.freq_factors.empty()) {
      vulkan::PooledBuffer factors = context_.acquire(params.freq_factors.size() * 4);
      context_.upload(commands_, *factors, 0, std::as_bytes(params.freq_factors));
      settings.freq_factors = {factors.get(), 0, 1, narrow(params.n_rot / 2, "pairs"),
                               narrow(params.n_rot / 2, "pairs")};
      held_.push_back(std::move(factors));
    }
    kernels_.rope(commands_, view(x), *positions_, 0, settings);
    recorded_ = true;
  }

  void store_kv(int layer, Tensor k, Tensor v) override {
    BOTTEGA_CHECK(k.rows == static_cast<int64_t>(batch_.size()) && v.rows == k.rows,
                  "store_kv rows");
    const VulkanKvLayer& memory = layer_memory(layer);
    kernels_.kv_store(commands_, view(k), key_rows(memory), *kv_rows_, 0);
    kernels_.kv_store(commands_, view(v), value_rows(memory), *kv_rows_, 0);
    recorded_ = true;
  }

  void attention(int layer, const AttentionParams& params, Tensor q, Tensor out) override {
    BOTTEGA_CHECK(q.rows == static_cast<int64_t>(batch_.size()), "attention rows");
    const VulkanKvLayer& memory = layer_memory(layer);
    vulkan::AttentionSettings settings;
    settings.n_head = narrow(params.n_head, "heads");
    settings.n_head_kv = narrow(params.n_head_kv, "KV heads");
    settings.head_dim = narrow(params.head_dim, "head size");
    settings.scale = params.scale;
    settings.window = narrow(params.window, "window");
    settings.softcap = params.softcap;
    settings.sinks = view(params.sinks);
    settings.block_size = narrow(cache_.block_size(), "block size");
    kernels_.attention(commands_, settings, view(q), key_rows(memory), value_rows(memory),
                       *kv_meta_, 0, view(out));
    recorded_ = true;
  }
  // Router, routing, each pair's gate and up rows through its expert, the activation, the down
  // rows, then the weighted sum with the shared expert's rows: all on the device, the
  // intermediates in buffers the command list keeps until it has run.
  void mixture_of_experts(const MoeWeights& w, const MoeConfig& moe, const GluParams& activation,
                          Tensor x, Tensor out) override {
    BOTTEGA_CHECK(w.router != nullptr && w.gate_experts != nullptr && w.up_experts != nullptr &&
                      w.down_experts != nullptr && x.rows == out.rows,
                  "mixture of experts weights");
    const auto n_tokens = narrow(x.rows, "tokens");
    const auto n_used = narrow(moe.n_used, "experts per token");
    const auto n_expert = narrow(moe.n_expert, "experts");
    const uint32_t n_pairs = n_tokens * n_used;
    const auto n_ff = narrow(moe.n_ff, "expert width");
    const auto n_embd = narrow(x.width, "width");
    const vulkan::FloatView input = view(x);

    const vulkan::FloatView logits = scratch(n_tokens, n_expert);
    kernels_.matmul(commands_, device_matrix(*w.router).view(), input, logits);
    if (!w.router_bias.empty()) kernels_.add(commands_, logits, view(w.router_bias));
    vulkan::PooledBuffer ids = context_.acquire(static_cast<uint64_t>(n_pairs) * sizeof(int32_t));
    const vulkan::FloatView weights = scratch(n_tokens, n_used);
    const bool over_all = moe.gating == Gating::kSoftmaxThenTopK && !moe.normalize;
    kernels_.moe_route(commands_, logits, n_used, over_all, *ids, weights);

    const vulkan::FloatView gate = scratch(n_pairs, n_ff);
    const vulkan::FloatView up = scratch(n_pairs, n_ff);
    const vulkan::FloatView down = scratch(n_pairs, n_embd);
    kernels_.matmul_id(commands_, device_matrix(*w.gate_experts).view(), n_expert, *ids, n_used,
                       input, false, view(w.gate_bias), gate);
    kernels_.matmul_id(commands_, device_matrix(*w.up_experts).view(), n_expert, *ids, n_used,
                       input, false, view(w.up_bias), up);
    kernels_.glu(commands_, glu_settings(activation), gate, up, gate);
    kernels_.matmul_id(commands_, device_matrix(*w.down_experts).view(), n_expert, *ids, n_used,
                       gate, true, view(w.down_bias), down);

    vulkan::FloatView shared;
    if (moe.n_ff_shared > 0) {
      const auto n_ff_shared = narrow(moe.n_ff_shared, "shared expert width");
      const vulkan::FloatView shared_gate = scratch(n_tokens, n_ff_shared);
      const vulkan::FloatView shared_up = scratch(n_tokens, n_ff_shared);
      shared = scratch(n_tokens, n_embd);
      kernels_.matmul(commands_, device_matrix(*w.gate_shared).view(), input, shared_gate);
      kernels_.matmul(commands_, device_matrix(*w.up_shared).view(), input, shared_up);
      kernels_.glu(commands_, glu_settings(activation), shared_gate, shared_up, shared_gate);
      kernels_.matmul(commands_, device_matrix(*w.down_shared).view(), shared_gate, shared);
    }
    kernels_.moe_combine(commands_, down, weights, shared, view(w.shared_gate), input, view(out));
    held_.push_back(std::move(ids));
    recorded_ = true;
  }

  void softcap(Tensor x, float cap) override {
    kernels_.softcap(commands_, view(x), cap);
    recorded_ = true;
  }

  void copy(Tensor src, Tensor dst) override {
    BOTTEGA_CHECK(src.rows == dst.rows && src.width == dst.width, "copy shapes");
    for (int64_t r = 0; r < src.rows; ++r) copy_row(src, r, dst, r);
    commands_.barrier();
    recorded_ = true;
  }

  void logit_rows(Tensor src, Tensor dst) override {
    BOTTEGA_CHECK(src.width == dst.width && src.rows == static_cast<int64_t>(batch_.size()),
                  "logit_rows shapes");
    int64_t out_row = 0;
    for (size_t t = 0; t < batch_.size(); ++t) {
      if (!batch_[t].logits) continue;
      BOTTEGA_CHECK(out_row < dst.rows, "logit_rows: ", dst.rows, " rows for more tokens");
      copy_row(src, static_cast<int64_t>(t), dst, out_row++);
    }
    commands_.barrier();
    recorded_ = true;
  }

  void read(Tensor src, std::span<float> dst) override {
    BOTTEGA_CHECK(src.contiguous() && static_cast<int64_t>(dst.size()) == src.size(), "read of ",
                  src.size(), " values into ", dst.size());
    context_.submit(commands_);
    recorded_ = false;
    context_.download(device_buffer(src), static_cast<uint64_t>(src.offset) * 4,
                      std::as_writable_bytes(dst));
  }

 private:
  static vulkan::GluSettings glu_settings(const GluParams& params) {
    return {static_cast<vulkan::GluKind>(params.activation), params.alpha, params.limit};
  }

  // A buffer of rows x width floats that lives as long as the pass (which runs what it recorded
  // before its buffers go back to the pool).
  vulkan::FloatView scratch(uint32_t rows, uint32_t width) {
    vulkan::PooledBuffer buffer =
        context_.acquire(static_cast<uint64_t>(rows) * width * sizeof(float));
    const vulkan::FloatView v{buffer.get(), 0, rows, width, width};
    held_.push_back(std::move(buffer));
    return v;
  }

  void copy_row(const Tensor& src, int64_t src_row, const Tensor& dst, int64_t dst_row) {
    commands_.copy(device_buffer(src), static_cast<uint64_t>(src.offset + src_row * src.stride) * 4,
                   device_buffer(dst), static_cast<uint64_t>(dst.offset + dst_row * dst.stride) * 4,
                   static_cast<uint64_t>(src.width) * 4);
  }

  // The tokens' cache rows (for store_kv), and per token its position and where its sequence's
  // table starts, then the tables (for attention), made by the first op that reads the cache.
  // Every table entry a token's positions use is checked here, so the shaders read only rows of
  // the cache.
  void prepare_cache_indices() {
    if (kv_rows_ != nullptr) return;
    std::vector<int32_t> rows;
    std::vector<int32_t> meta(2 * batch_.size());
    std::vector<int32_t> table_start(tables_.size(), -1);
    std::vector<int32_t> last_position(tables_.size(), -1);
    for (size_t t = 0; t < batch_.size(); ++t) {
      const BatchToken& token = batch_[t];
      BOTTEGA_CHECK(token.seq >= 0 && static_cast<size_t>(token.seq) < tables_.size(), "sequence ",
                    token.seq, " of ", tables_.size());
      const std::span<const int32_t> table = tables_[static_cast<size_t>(token.seq)];
      rows.push_back(static_cast<int32_t>(cache_.row_in_layer(table, token.pos)));
      int32_t& last = last_position[static_cast<size_t>(token.seq)];
      last = std::max(last, token.pos);
      int32_t& start = table_start[static_cast<size_t>(token.seq)];
      if (start < 0) {
        start = static_cast<int32_t>(meta.size());
        meta.insert(meta.end(), table.begin(), table.end());
      }
      meta[2 * t] = token.pos;
      meta[2 * t + 1] = start;
    }
    // Once per sequence, up to its furthest token: row_in_layer throws for an entry outside the
    // cache or a table too short.
    for (size_t seq = 0; seq < tables_.size(); ++seq) {
      for (int32_t p = 0; p <= last_position[seq]; p += cache_.block_size()) {
        cache_.row_in_layer(tables_[seq], p);
      }
    }
    kv_rows_ = int_buffer(context_, commands_, rows);
    kv_meta_ = int_buffer(context_, commands_, meta);
  }

  const VulkanKvLayer& layer_memory(int layer) {
    prepare_cache_indices();
    KvLayerMemory& memory = cache_.layer_memory(
        layer, [&] { return std::make_unique<VulkanKvLayer>(context_, cache_); });
    const auto* device = dynamic_cast<const VulkanKvLayer*>(&memory);
    BOTTEGA_CHECK(device != nullptr && device->owner == &context_, "layer ", layer,
                  "'s KV cache is in another backend's memory");
    return *device;
  }

  vulkan::KvRowsView key_rows(const VulkanKvLayer& memory) const {
    return {memory.keys.get(), cache_.key_type(), narrow(cache_.n_kv_dim(), "KV width"),
            narrow(static_cast<int64_t>(cache_.key_row_bytes()), "KV row bytes"),
            narrow(static_cast<int64_t>(cache_.rows_per_layer()), "KV rows")};
  }
  vulkan::KvRowsView value_rows(const VulkanKvLayer& memory) const {
    return {memory.values.get(), cache_.value_type(), narrow(cache_.n_kv_dim(), "KV width"),
            narrow(static_cast<int64_t>(cache_.value_row_bytes()), "KV row bytes"),
            narrow(static_cast<int64_t>(cache_.rows_per_layer()), "KV rows")};
  }

  const vulkan::Context& context_;
  vulkan::Kernels& kernels_;
  std::span<const BatchToken> batch_;
  std::span<const std::span<const int32_t>> tables_;
  KvCache& cache_;
  vulkan::CommandList commands_;
  vulkan::PooledBuffer tokens_, positions_, kv_rows_, kv_meta_;
  std::vector<vulkan::PooledBuffer> held_;  // the pass's intermediates
  bool recorded_ = false;
};

class VulkanBackend final : public Backend {
 public:
  explicit VulkanBackend(const VulkanBackendOptions& options)
      : context_(vulkan::ContextOptions{options.loader, options.device_index}),
        kernels_(context_, vulkan::KernelOptions{options.integer_dot}),
        import_mapped_weights_(options.import_mapped_weights) {}

  std::string name() const override { return context_.name(); }
  std::string device_name() const override { return context_.info().name; }

  bool supports(TensorType type) const override { return vulkan::Kernels::supports(type); }

  std::string describe_weights() const override {
    if (imported_bytes_ == 0 && copied_bytes_ == 0) return "";
    if (copied_bytes_ == 0) {
      return str(human_bytes(imported_bytes_), " of weights read from the mapped file (no copy)");
    }
    return str(human_bytes(copied_bytes_), " of weights copied to ", name(),
               imported_bytes_ > 0 ? str(", ", human_bytes(imported_bytes_), " read in place")
                                   : std::string());
  }

  std::vector<std::unique_ptr<Matrix>> load_matrices(
      const gguf::File* file, std::span<const StoredMatrix> matrices) override {
    std::map<const uint8_t*, WeightMemory> loaded;
    imported_bytes_ = copied_bytes_ = 0;
    std::vector<std::unique_ptr<Matrix>> out;
    for (const StoredMatrix& m : matrices) {
      if (!supports(m.view.type)) {
        throw Error(str("the Vulkan backend cannot compute with ", type_name(m.view.type),
                        " weights yet; run this model with --device cpu (the default)"));
      }
      WeightMemory& memory = loaded[m.view.data];
      if (memory.buffer == nullptr) memory = place_weights(file, m.view);
      out.push_back(std::make_unique<VulkanMatrix>(memory, m.view, m.n_expert));
    }
    return out;
  }

  // The file's pages where the device can read them in place (unified memory: a 60 GB model then
  // costs 60 GB, not 120), else a copy in device memory.
  WeightMemory place_weights(const gguf::File* file, const WeightMatrix& w) {
    const uint64_t bytes = w.row_stride() * static_cast<uint64_t>(w.n_out);
    const auto data = std::as_bytes(std::span(w.data, static_cast<size_t>(bytes)));
    WeightMemory memory;
    if (file != nullptr && import_mapped_weights_) {
      memory.buffer = context_.import_host(data, memory.offset);
      if (memory.buffer != nullptr) {
        imported_bytes_ += bytes;
        return memory;
      }
    }
    memory.buffer = context_.allocate(vulkan::weight_buffer_bytes(bytes));
    memory.offset = 0;
    context_.upload(*memory.buffer, 0, data);
    copied_bytes_ += bytes;
    // The device has its copy: the file's pages need not stay in this process's memory.
    if (file != nullptr) file->release(std::span(w.data, static_cast<size_t>(bytes)));
    return memory;
  }

  // The best of three timed runs, each streaming a 128 MiB buffer four times, after one untimed
  // run (pipeline creation, first touch of the pages).
  double measure_read_bandwidth() override {
    constexpr uint64_t kBytes = uint64_t{128} << 20;
    constexpr int kReads = 4;
    const auto source = context_.allocate(kBytes);
    const auto sums = context_.allocate(kBytes >> 20 << 2);
    vulkan::CommandList commands = context_.begin();
    commands.fill(*source, 0x5A5A5A5Au);
    commands.barrier();
    context_.submit(commands);
    double best = 0.0;
    for (int run = 0; run < 4; ++run) {
      for (int i = 0; i < kReads; ++i) kernels_.read_all(commands, *source, *sums);
      const auto start = std::chrono::steady_clock::now();
      context_.submit(commands);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (run > 0 && seconds > 0.0) best = std::max(best, kReads * kBytes / seconds);
    }
    return best;
  }

  std::unique_ptr<Buffer> allocate(int64_t n) override {
    return std::make_unique<VulkanBuffer>(context_, n);
  }

  std::unique_ptr<Buffer> upload(std::span<const float> values) override {
    auto buffer = std::make_unique<VulkanBuffer>(context_, static_cast<int64_t>(values.size()));
    if (!values.empty()) context_.upload(buffer->device(), 0, std::as_bytes(values));
    return buffer;
  }

  std::unique_ptr<Pass> begin(std::span<const BatchToken> batch,
                              std::span<const std::span<const int32_t>> tables, KvCache& cache,
                              ThreadPool&) override {
    return std::make_unique<VulkanPass>(context_, kernels_, batch, tables, cache);
  }

 private:
  vulkan::Context context_;
  vulkan::Kernels kernels_;
  bool import_mapped_weights_;
  uint64_t imported_bytes_ = 0;
  uint64_t copied_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_vulkan_backend(const VulkanBackendOptions& options) {
  return std::make_unique<VulkanBackend>(options);
}

}  // namespace bottega::backend
