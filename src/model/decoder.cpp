// The one decoder every family runs through: embedding, then per layer a normed attention block
// and a normed gated feed-forward block, each added to the residual stream, then the head. What
// differs between families is read from DecoderConfig, never from the architecture's name. Every
// op runs on a backend (backend/backend.h); the decoder never sees where.
#include <algorithm>
#include <array>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "model/architecture.h"
#include "model/model.h"
#include "model/placement.h"
#include "model/weights.h"

namespace bottega {
namespace {

using backend::Backend;
using backend::Tensor;
using S = TensorSlot;

constexpr size_t kSlots = static_cast<size_t>(TensorSlot::kCount);
constexpr size_t index(S slot) {
  return static_cast<size_t>(slot);
}

std::vector<float> to_floats(const WeightMatrix& w) {
  std::vector<float> out(static_cast<size_t>(w.n_in * w.n_out));
  const TypeTraits& traits = type_traits(w.type);
  for (int64_t r = 0; r < w.n_out; ++r) {
    traits.dequantize(w.row(r), out.data() + r * w.n_in, w.n_in);
  }
  return out;
}

// A block's (or the model-wide) tensors by slot: the file's views as bound, the backend's
// matrices, and vectors (norms, biases, frequency factors) as floats on the host and the backend.
struct Slots {
  std::array<WeightMatrix, kSlots> stored;
  std::array<std::unique_ptr<backend::Matrix>, kSlots> matrix;
  std::array<std::vector<float>, kSlots> floats;
  std::array<std::unique_ptr<backend::Buffer>, kSlots> vector;

  const backend::Matrix& operator[](S slot) const {
    BOTTEGA_CHECK(matrix[index(slot)] != nullptr, "matrix slot ", index(slot));
    return *matrix[index(slot)];
  }
  const backend::Matrix* optional(S slot) const { return matrix[index(slot)].get(); }
  // The vector as one row, or none when the file has no such tensor.
  Tensor row(S slot) const {
    const auto& buffer = vector[index(slot)];
    return buffer == nullptr ? Tensor{} : buffer->tensor(1, buffer->size());
  }
};

// Rows of activations: one per batch token (or per logits row), in a buffer of the backend.
struct Rows {
  std::unique_ptr<backend::Buffer> memory;
  Tensor view;
  Rows() = default;
  Rows(Backend& b, int64_t n, int64_t width) : memory(b.allocate(n * width)) {
    view = memory->tensor(n, width);
  }
  operator Tensor() const { return view; }  // NOLINT: rows are used where views are
};

// Activations of one batch on one backend, one row per token: the residual stream x, and the
// blocks' intermediates when the backend runs blocks.
struct Activations {
  Rows x, xn, projected, q, attn, k, v, gate, up, qkv;
  Activations(Backend& b, const DecoderConfig& c, int64_t n, bool blocks) : x(b, n, c.info.n_embd) {
    if (!blocks) return;
    xn = Rows(b, n, c.info.n_embd);
    projected = Rows(b, n, c.info.n_embd);
    q = Rows(b, n, c.q_dim());
    attn = Rows(b, n, c.q_dim());
    k = Rows(b, n, c.kv_dim());
    v = Rows(b, n, c.kv_dim());
    if (c.moe.n_expert == 0) {
      gate = Rows(b, n, c.info.n_ff);
      up = Rows(b, n, c.fused_gate_up ? 2 * c.info.n_ff : c.info.n_ff);
    }
    if (c.fused_qkv) qkv = Rows(b, n, c.q_dim() + 2 * c.kv_dim());
  }
};

class Decoder final : public Model {
 public:
  Decoder(gguf::File file, const LoadOptions& options)
      : file_(std::move(file)), config_(read_decoder_config(file_)) {
    layers_.resize(static_cast<size_t>(config_.info.n_layer));
    place(options);
    bind();
    load();
    if (backends_.back()->name() != "cpu") {
      const std::string weights = backends_.back()->describe_weights();
      if (!weights.empty()) placement_text_ += "; " + weights;
    }
    set_rope(options);
    glu_ = {config_.activation, config_.swiglu_alpha, config_.swiglu_limit};
  }

  const ModelInfo& info() const override { return config_.info; }
  uint64_t weight_bytes() const override { return weight_bytes_; }
  uint64_t n_params() const override { return n_params_; }
  uint64_t active_weight_bytes() const override { return active_bytes_; }
  uint64_t active_params() const override { return active_params_; }

  std::string placement() const override { return placement_text_; }

  void forward(std::span<const BatchToken> batch, std::span<const std::span<const int32_t>> tables,
               KvCache& cache, std::span<float> logits, ThreadPool& pool) override;

 private:
  Slots& slots(int layer) { return layer < 0 ? model_ : layers_[static_cast<size_t>(layer)]; }

  // The device runs what placement_ gives it; the CPU the rest (backends_[0] is the CPU's when
  // some part runs there, backends_.back() the device's).
  void place(const LoadOptions& options) {
    const int n_block = config_.info.n_layer;
    const bool have_device = options.backend != nullptr && options.backend->name() != "cpu";
    placement_ = place_layers(n_block, have_device, options.offload_layers);
    const bool cpu_needed = std::any_of(placement_.segments.begin(), placement_.segments.end(),
                                        [](const Segment& s) { return !s.on_device; });
    if (cpu_needed) {
      backends_.push_back(options.backend != nullptr && !have_device
                              ? options.backend
                              : backend::make_cpu_backend(options.cpu));
    }
    if (have_device && placement_.device_blocks + (placement_.head_on_device ? 1 : 0) > 0) {
      backends_.push_back(options.backend);
    }
    placement_text_ =
        describe(placement_, n_block, options.backend ? options.backend->name() : "cpu");
  }
  Backend& backend_of(const Segment& segment) const {
    return *(segment.on_device ? backends_.back() : backends_.front());
  }
  // The backend a tensor's ops run on: its block's, or the embedding's or the head's.
  size_t backend_index(const TensorDesc& t) const {
    bool device = false;
    if (t.layer >= 0) {
      device = placement_.block_on_device(t.layer);
    } else if (t.slot == S::kTokenEmbedding) {
      device = placement_.embedding_on_device();
    } else {
      device = placement_.head_on_device;
    }
    return device ? backends_.size() - 1 : 0;
  }
  void run_block(backend::Pass& pass, int l, const Activations& a) const;

  void bind() {
    tensors_ = decoder_tensors(config_);
    std::vector<WeightSpec> specs;
    for (const TensorDesc& t : tensors_) {
      specs.push_back({t.name, t.shape, &slots(t.layer).stored[index(t.slot)]});
    }
    bind_weights(file_, specs);
    for (const TensorDesc& t : tensors_) {
      const WeightMatrix& w = slots(t.layer).stored[index(t.slot)];
      const uint64_t bytes = w.row_stride() * static_cast<uint64_t>(w.n_out);
      const auto params = static_cast<uint64_t>(w.n_in * w.n_out);
      weight_bytes_ += bytes;
      n_params_ += params;
      // A token reads its experts' share of an expert tensor.
      const bool expert = t.shape.size() == 3 || t.slot == S::kFfnGateExpertsBias ||
                          t.slot == S::kFfnUpExpertsBias || t.slot == S::kFfnDownExpertsBias;
      const uint64_t used = expert ? static_cast<uint64_t>(config_.moe.n_used) : 1;
      const uint64_t of = expert ? static_cast<uint64_t>(config_.moe.n_expert) : 1;
      active_bytes_ += bytes / of * used;
      active_params_ += params / of * used;
    }
  }

  // Hands matrices to the backend that runs them and vectors to both sides.
  void load() {
    using Role = Backend::Role;
    struct Batch {
      std::vector<Backend::StoredMatrix> stored;
      std::vector<std::pair<int, S>> where;
    };
    std::vector<Batch> batches(backends_.size());
    auto add = [&](const TensorDesc& t, Role role, int64_t n_expert) {
      Batch& batch = batches[backend_index(t)];
      batch.stored.push_back({slots(t.layer).stored[index(t.slot)], role, n_expert});
      batch.where.emplace_back(t.layer, t.slot);
    };
    if (config_.tied_head)
      model_.stored[index(S::kOutput)] = model_.stored[index(S::kTokenEmbedding)];
    for (const TensorDesc& t : tensors_) {
      const TensorKind kind = t.kind();
      if (t.slot == S::kTokenEmbedding) {
        add(t, Role::kEmbedding, 1);
      } else if (t.slot == S::kFfnRouter) {
        add(t, Role::kRouter, 1);
      } else if (kind == TensorKind::kMatrix && t.shape.size() == 3) {
        add(t, Role::kExperts, t.shape[2]);
      } else if (kind == TensorKind::kMatrix) {
        add(t, Role::kProjection, 1);
      } else {
        Slots& s = slots(t.layer);
        s.floats[index(t.slot)] = to_floats(s.stored[index(t.slot)]);
        s.vector[index(t.slot)] = backends_[backend_index(t)]->upload(s.floats[index(t.slot)]);
      }
    }
    if (config_.tied_head) add({"", {}, S::kOutput, -1}, Role::kProjection, 1);
    for (size_t b = 0; b < backends_.size(); ++b) {
      std::vector<std::unique_ptr<backend::Matrix>> loaded =
          backends_[b]->load_matrices(&file_, batches[b].stored);
      for (size_t i = 0; i < loaded.size(); ++i) {
        const auto [layer, slot] = batches[b].where[i];
        slots(layer).matrix[index(slot)] = std::move(loaded[i]);
      }
    }
    for (Slots& layer : layers_) {
      if (config_.moe.n_expert == 0) continue;
      backend::MoeWeights moe;
      moe.router = layer.optional(S::kFfnRouter);
      moe.router_bias = layer.row(S::kFfnRouterBias);
      moe.gate_experts = layer.optional(S::kFfnGateExperts);
      moe.up_experts = layer.optional(S::kFfnUpExperts);
      moe.down_experts = layer.optional(S::kFfnDownExperts);
      moe.gate_bias = expert_rows(layer, S::kFfnGateExpertsBias);
      moe.up_bias = expert_rows(layer, S::kFfnUpExpertsBias);
      moe.down_bias = expert_rows(layer, S::kFfnDownExpertsBias);
      moe.gate_shared = layer.optional(S::kFfnGateShared);
      moe.up_shared = layer.optional(S::kFfnUpShared);
      moe.down_shared = layer.optional(S::kFfnDownShared);
      moe.shared_gate = layer.row(S::kFfnSharedGate);
      moe_.push_back(moe);
    }
  }

  // An expert bias tensor as one row per expert.
  Tensor expert_rows(const Slots& layer, S slot) const {
    const Tensor row = layer.row(slot);
    return row.empty() ? row : row.reshaped(row.width / config_.moe.n_expert);
  }

  void set_rope(const LoadOptions& options) {
    std::span<const float> factors;
    if (config_.rope_freqs) factors = model_.floats[index(S::kRopeFreqs)];
    if (config_.long_rope) {
      const int64_t n_ctx = options.n_ctx > 0 ? options.n_ctx : config_.info.n_ctx_train;
      const S chosen =
          n_ctx > config_.original_context ? S::kRopeFactorsLong : S::kRopeFactorsShort;
      factors = model_.floats[index(chosen)];
    }
    for (const LayerConfig& layer : config_.layers) {
      kernels::RopeParams rope;
      rope.style = config_.rope_style;
      rope.n_rot = config_.n_rot;
      rope.freq_base = layer.rope_base;
      rope.freq_scale = layer.rope_scale;
      rope.freq_factors = factors;
      rope.attn_factor = config_.rope_attn_factor;
      if (config_.yarn && layer.rope_scale != 1.0f) {
        rope.yarn = true;
        kernels::yarn_ramp(config_.n_rot, layer.rope_base, config_.original_context,
                           config_.yarn_beta_fast, config_.yarn_beta_slow, rope.yarn_low,
                           rope.yarn_high);
      }
      rope_.push_back(rope);
    }
  }

  void project_qkv(backend::Pass& pass, const Slots& layer, const Activations& a) const;
  // Biases, Q/K norms and RoPE of each token, then its keys and values into the cache.
  void prepare_attention(backend::Pass& pass, int l, const Activations& a) const;
  void feed_forward(backend::Pass& pass, int l, const Activations& a) const;

  gguf::File file_;  // owns the mapping the stored views point into
  DecoderConfig config_;
  Placement placement_;
  std::string placement_text_;
  std::vector<std::shared_ptr<Backend>> backends_;
  std::vector<TensorDesc> tensors_;
  Slots model_;
  std::vector<Slots> layers_;
  std::vector<backend::MoeWeights> moe_;   // per layer, for mixtures
  std::vector<kernels::RopeParams> rope_;  // per layer
  GluParams glu_;
  uint64_t weight_bytes_ = 0;
  uint64_t n_params_ = 0;
  uint64_t active_bytes_ = 0;
  uint64_t active_params_ = 0;
};

void Decoder::project_qkv(backend::Pass& pass, const Slots& layer, const Activations& a) const {
  if (!config_.fused_qkv) {
    const backend::MatmulProduct products[] = {
        {&layer[S::kAttnQ], a.q}, {&layer[S::kAttnK], a.k}, {&layer[S::kAttnV], a.v}};
    pass.matmul_shared_input(a.xn, products);
    return;
  }
  pass.matmul(layer[S::kAttnQkv], a.xn, a.qkv);
  const int64_t q_dim = config_.q_dim();
  const int64_t kv_dim = config_.kv_dim();
  pass.copy(a.qkv.view.columns(0, q_dim), a.q);
  pass.copy(a.qkv.view.columns(q_dim, kv_dim), a.k);
  pass.copy(a.qkv.view.columns(q_dim + kv_dim, kv_dim), a.v);
}

void Decoder::prepare_attention(backend::Pass& pass, int l, const Activations& a) const {
  const Slots& layer = layers_[static_cast<size_t>(l)];
  const ModelInfo& info = config_.info;
  if (config_.qkv_bias) {
    pass.add(a.q, layer.row(S::kAttnQBias));
    pass.add(a.k, layer.row(S::kAttnKBias));
    pass.add(a.v, layer.row(S::kAttnVBias));
  }
  if (config_.qk_norm) {
    const Tensor q_heads = a.q.view.reshaped(info.head_dim);
    const Tensor k_heads = a.k.view.reshaped(info.head_dim);
    pass.rms_norm(q_heads, layer.row(S::kAttnQNorm), q_heads, config_.norm_eps);
    pass.rms_norm(k_heads, layer.row(S::kAttnKNorm), k_heads, config_.norm_eps);
  }
  const kernels::RopeParams& rope = rope_[static_cast<size_t>(l)];
  pass.rope(a.q, static_cast<int>(info.n_head), rope);
  pass.rope(a.k, static_cast<int>(info.n_head_kv), rope);
  pass.store_kv(l, a.k, a.v);
}

void Decoder::feed_forward(backend::Pass& pass, int l, const Activations& a) const {
  const Slots& layer = layers_[static_cast<size_t>(l)];
  if (config_.moe.n_expert > 0) {
    pass.mixture_of_experts(moe_[static_cast<size_t>(l)], config_.moe, glu_, a.xn, a.projected);
    return;
  }
  const int64_t n_ff = config_.info.n_ff;
  if (config_.fused_gate_up) {
    // Each token's row of `up` holds its gate values, then its up values.
    pass.matmul(layer[S::kFfnUp], a.xn, a.up);
    pass.glu(glu_, a.up.view.columns(0, n_ff), a.up.view.columns(n_ff, n_ff), a.gate);
  } else {
    const backend::MatmulProduct products[] = {{&layer[S::kFfnGate], a.gate},
                                               {&layer[S::kFfnUp], a.up}};
    pass.matmul_shared_input(a.xn, products);
    pass.glu(glu_, a.gate, a.up, a.gate);
  }
  pass.matmul(layer[S::kFfnDown], a.gate, a.projected);
}

void Decoder::run_block(backend::Pass& pass, int l, const Activations& a) const {
  const ModelInfo& info = config_.info;
  const Slots& layer = layers_[static_cast<size_t>(l)];
  pass.rms_norm(a.x, layer.row(S::kAttnNorm), a.xn, config_.norm_eps);
  project_qkv(pass, layer, a);
  prepare_attention(pass, l, a);
  backend::AttentionParams attention{info.n_head,
                                     info.n_head_kv,
                                     info.head_dim,
                                     config_.query_scale(),
                                     config_.layers[static_cast<size_t>(l)].window,
                                     config_.attn_softcap,
                                     layer.row(S::kAttnSinks)};
  pass.attention(l, attention, a.q, a.attn);
  pass.matmul(layer[S::kAttnOutput], a.attn, a.projected);
  if (config_.output_bias) pass.add(a.projected, layer.row(S::kAttnOutputBias));
  if (config_.post_norms) {
    pass.rms_norm(a.projected, layer.row(S::kPostAttnNorm), a.projected, config_.norm_eps);
  }
  pass.add(a.x, a.projected);

  pass.rms_norm(a.x, layer.row(S::kFfnNorm), a.xn, config_.norm_eps);
  feed_forward(pass, l, a);
  if (config_.post_norms) {
    pass.rms_norm(a.projected, layer.row(S::kPostFfnNorm), a.projected, config_.norm_eps);
  }
  pass.add(a.x, a.projected);
}

void Decoder::forward(std::span<const BatchToken> batch,
                      std::span<const std::span<const int32_t>> tables, KvCache& cache,
                      std::span<float> logits, ThreadPool& pool) {
  const ModelInfo& info = config_.info;
  const auto n_tokens = static_cast<int64_t>(batch.size());
  const auto n_logits =
      std::count_if(batch.begin(), batch.end(), [](const BatchToken& t) { return t.logits; });
  BOTTEGA_CHECK(static_cast<int64_t>(logits.size()) == n_logits * info.n_vocab, "logits buffer of ",
                logits.size());
  if (n_tokens == 0) return;
  // The residual stream on its way from one backend's segment to the next one's.
  std::vector<float> carried;
  for (const Segment& segment : placement_.segments) {
    Backend& b = backend_of(segment);
    // Buffers first: a pass may run its ops as late as its end, and they must still exist then.
    const Activations a(b, config_, n_tokens, segment.has_blocks());
    Rows last, out;
    if (segment.head && n_logits > 0) {
      last = Rows(b, n_logits, info.n_embd);
      out = Rows(b, n_logits, info.n_vocab);
    }
    std::unique_ptr<backend::Buffer> incoming;
    if (!segment.embedding) incoming = b.upload(carried);
    std::unique_ptr<backend::Pass> pass = b.begin(batch, tables, cache, pool);
    if (segment.embedding) {
      pass->get_rows(model_[S::kTokenEmbedding], a.x, config_.embedding_scale);
    } else {
      pass->copy(incoming->tensor(n_tokens, info.n_embd), a.x);
    }
    for (int l = segment.first; l < segment.end; ++l) run_block(*pass, l, a);
    if (!segment.head) {
      carried.resize(static_cast<size_t>(n_tokens * info.n_embd));
      pass->read(a.x, carried);
      continue;
    }
    if (n_logits == 0) return;
    // Only the tokens that want logits go through the (large) output head.
    pass->logit_rows(a.x, last);
    pass->rms_norm(last, model_.row(S::kOutputNorm), last, config_.norm_eps);
    pass->matmul(model_[S::kOutput], last, out);
    if (config_.final_softcap > 0.0f) pass->softcap(out, config_.final_softcap);
    pass->read(out, logits);
  }
}

}  // namespace

std::vector<std::string> supported_architectures() {
  std::vector<std::string> names;
  for (const Architecture& a : architectures()) names.emplace_back(a.name);
  return names;
}

std::unique_ptr<Model> load_model(gguf::File file, const LoadOptions& options) {
  return std::make_unique<Decoder>(std::move(file), options);
}

}  // namespace bottega
