// The one decoder every family runs through: embedding, then per layer a normed attention block
// and a normed gated feed-forward block, each added to the residual stream, then the head. What
// differs between families is read from DecoderConfig, never from the architecture's name.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/kv_rows.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "model/architecture.h"
#include "model/attention.h"
#include "model/model.h"
#include "model/weights.h"

namespace bottega {
namespace {

using kernels::WeightMatrix;
using S = TensorSlot;

constexpr size_t kSlots = static_cast<size_t>(TensorSlot::kCount);

// A block's (or the model-wide) tensors by slot: matrices as bound, vectors as floats, since norms,
// biases and frequency factors are small and read on every token.
struct Slots {
  std::array<WeightMatrix, kSlots> matrix;
  std::array<std::vector<float>, kSlots> vector;
  const WeightMatrix& operator[](S slot) const { return matrix[static_cast<size_t>(slot)]; }
  const float* floats(S slot) const { return vector[static_cast<size_t>(slot)].data(); }
};

std::vector<float> to_floats(const WeightMatrix& w) {
  std::vector<float> out(static_cast<size_t>(w.n_in * w.n_out));
  for (int64_t r = 0; r < w.n_out; ++r) kernels::dequantize_row(w, r, out.data() + r * w.n_in);
  return out;
}

// Activations of one batch, one row per token.
struct Activations {
  std::vector<float> x, xn, projected, q, attn, k, v, gate, up, qkv;
  std::vector<float> router;  // mixture of experts: the router's logits
  Activations(const DecoderConfig& c, int64_t n) {
    auto rows = [n](int64_t width) { return std::vector<float>(static_cast<size_t>(n * width)); };
    if (c.moe.n_expert > 0) {
      router = rows(c.moe.n_expert);
    }
    x = rows(c.info.n_embd);
    xn = rows(c.info.n_embd);
    projected = rows(c.info.n_embd);
    q = rows(c.q_dim());
    attn = rows(c.q_dim());
    k = rows(c.kv_dim());
    v = rows(c.kv_dim());
    if (c.moe.n_expert == 0) {
      gate = rows(c.info.n_ff);
      up = rows(c.fused_gate_up ? 2 * c.info.n_ff : c.info.n_ff);
    }
    if (c.fused_qkv) qkv = rows(c.q_dim() + 2 * c.kv_dim());
  }
};

// One expert's input, gate and up rows, sized to the tokens routed to it.
struct ExpertScratch {
  std::vector<float> in, gate, up;
};

class Decoder final : public Model {
 public:
  Decoder(gguf::File file, const LoadOptions& options)
      : file_(std::move(file)), config_(read_decoder_config(file_)) {
    layers_.resize(static_cast<size_t>(config_.info.n_layer));
    bind();
    if (config_.tied_head)
      model_.matrix[static_cast<size_t>(S::kOutput)] = model_[S::kTokenEmbedding];
    interleaved_ = interleave_for_cpu(file_, matmul_inputs());
    set_rope(options);
  }

  const ModelInfo& info() const override { return config_.info; }
  uint64_t weight_bytes() const override { return weight_bytes_; }
  uint64_t n_params() const override { return n_params_; }
  uint64_t active_weight_bytes() const override { return active_bytes_; }
  uint64_t active_params() const override { return active_params_; }

  void forward(std::span<const BatchToken> batch, std::span<const std::span<const int32_t>> tables,
               KvCache& cache, std::span<float> logits, ThreadPool& pool) override;

 private:
  Slots& slots(int layer) { return layer < 0 ? model_ : layers_[static_cast<size_t>(layer)]; }

  void bind() {
    const std::vector<TensorDesc> tensors = decoder_tensors(config_);
    std::vector<WeightSpec> specs;
    for (const TensorDesc& t : tensors) {
      specs.push_back({t.name, t.shape, &slots(t.layer).matrix[static_cast<size_t>(t.slot)]});
    }
    bind_weights(file_, specs);
    for (const TensorDesc& t : tensors) {
      Slots& s = slots(t.layer);
      const WeightMatrix& w = s.matrix[static_cast<size_t>(t.slot)];
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
      if (t.kind() != TensorKind::kMatrix) s.vector[static_cast<size_t>(t.slot)] = to_floats(w);
    }
  }

  // The matrices that go through matmul (and the embedding table when it is also the head).
  // Expert tensors stay in the mapping: most of them are not read for a given token, and a copy
  // would make every one resident.
  std::vector<WeightMatrix*> matmul_inputs() {
    std::vector<WeightMatrix*> out = {&model_.matrix[static_cast<size_t>(S::kOutput)]};
    if (config_.tied_head) out.push_back(&model_.matrix[static_cast<size_t>(S::kTokenEmbedding)]);
    for (Slots& layer : layers_) {
      for (S slot :
           {S::kAttnQ, S::kAttnK, S::kAttnV, S::kAttnQkv, S::kAttnOutput, S::kFfnGate, S::kFfnUp,
            S::kFfnDown, S::kFfnGateShared, S::kFfnUpShared, S::kFfnDownShared}) {
        WeightMatrix& w = layer.matrix[static_cast<size_t>(slot)];
        if (w.data != nullptr) out.push_back(&w);
      }
    }
    return out;
  }

  void set_rope(const LoadOptions& options) {
    std::span<const float> factors;
    if (config_.rope_freqs) factors = model_.vector[static_cast<size_t>(S::kRopeFreqs)];
    if (config_.long_rope) {
      const int64_t n_ctx = options.n_ctx > 0 ? options.n_ctx : config_.info.n_ctx_train;
      const S chosen =
          n_ctx > config_.original_context ? S::kRopeFactorsLong : S::kRopeFactorsShort;
      factors = model_.vector[static_cast<size_t>(chosen)];
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

  // RMS-normalizes each of n_tokens rows of x into out (which may be x), split across threads.
  void normalize(const float* x, const float* weight, float* out, int64_t n_tokens,
                 ThreadPool& pool) const {
    const int64_t n_embd = config_.info.n_embd;
    pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        kernels::rms_norm(x + t * n_embd, weight, out + t * n_embd, n_embd, config_.norm_eps);
      }
    });
  }

  void project_qkv(const Slots& layer, Activations& a, int64_t n_tokens, ThreadPool& pool) const;
  // Biases, Q/K norms and RoPE of each token, then its keys and values into the cache.
  void prepare_attention(int l, std::span<const BatchToken> batch,
                         std::span<const std::span<const int32_t>> tables, KvCache& cache,
                         Activations& a, ThreadPool& pool) const;
  void feed_forward(const Slots& layer, Activations& a, int64_t n_tokens, ThreadPool& pool) const;
  void mixture_of_experts(const Slots& layer, Activations& a, int64_t n_tokens,
                          ThreadPool& pool) const;
  // One expert's FFN for the tokens routed to it (rows of xn), written to out (a row per token).
  void run_expert(const Slots& layer, int e, const std::vector<std::pair<int64_t, float>>& tokens,
                  const float* xn, ExpertScratch& scratch, float* out, ThreadPool& pool) const;
  // gate = act(gate, up) for n rows of width n_ff, with rows of gate and up `stride` apart.
  void add_shared_expert(const Slots& layer, Activations& a, int64_t n_tokens,
                         ThreadPool& pool) const;
  using ServedTokens = std::vector<std::pair<int64_t, float>>;  // (token, router weight)
  void experts_across_threads(const Slots& layer, const std::vector<int>& active,
                              const std::vector<ServedTokens>& served, const float* xn,
                              const std::vector<int64_t>& first_row, float* outputs,
                              ThreadPool& pool) const;
  void activate_row(const float* gate, const float* up, float* out, int64_t n) const;
  void activate(float* gate, const float* up, int64_t n_rows, int64_t n_ff, int64_t gate_stride,
                int64_t up_stride, float* out, ThreadPool& pool) const;

  gguf::File file_;  // owns the mapping every WeightMatrix points into
  DecoderConfig config_;
  Slots model_;
  std::vector<Slots> layers_;
  std::vector<kernels::RopeParams> rope_;  // per layer
  uint64_t weight_bytes_ = 0;
  uint64_t n_params_ = 0;
  uint64_t active_bytes_ = 0;
  uint64_t active_params_ = 0;
  // Matrices converted to the CPU kernels' interleaved layout (they no longer point into file_).
  std::vector<std::unique_ptr<uint8_t[]>> interleaved_;
};

void Decoder::project_qkv(const Slots& layer, Activations& a, int64_t n_tokens,
                          ThreadPool& pool) const {
  if (!config_.fused_qkv) {
    kernels::matmul(layer[S::kAttnQ], a.xn.data(), n_tokens, a.q.data(), pool);
    kernels::matmul(layer[S::kAttnK], a.xn.data(), n_tokens, a.k.data(), pool);
    kernels::matmul(layer[S::kAttnV], a.xn.data(), n_tokens, a.v.data(), pool);
    return;
  }
  kernels::matmul(layer[S::kAttnQkv], a.xn.data(), n_tokens, a.qkv.data(), pool);
  const int64_t q_dim = config_.q_dim();
  const int64_t kv_dim = config_.kv_dim();
  pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* row = a.qkv.data() + t * (q_dim + 2 * kv_dim);
      std::copy_n(row, q_dim, a.q.data() + t * q_dim);
      std::copy_n(row + q_dim, kv_dim, a.k.data() + t * kv_dim);
      std::copy_n(row + q_dim + kv_dim, kv_dim, a.v.data() + t * kv_dim);
    }
  });
}

void Decoder::prepare_attention(int l, std::span<const BatchToken> batch,
                                std::span<const std::span<const int32_t>> tables, KvCache& cache,
                                Activations& a, ThreadPool& pool) const {
  const Slots& layer = layers_[static_cast<size_t>(l)];
  const ModelInfo& info = config_.info;
  const int64_t q_dim = config_.q_dim();
  const int64_t kv_dim = config_.kv_dim();
  const auto head_dim = static_cast<int>(info.head_dim);
  const kernels::RopeParams& rope = rope_[static_cast<size_t>(l)];
  // Each token writes its own cache rows, so tokens split across threads freely.
  pool.parallel_for(static_cast<int64_t>(batch.size()), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const BatchToken& token = batch[static_cast<size_t>(t)];
      float* q = a.q.data() + t * q_dim;
      float* k = a.k.data() + t * kv_dim;
      float* v = a.v.data() + t * kv_dim;
      if (config_.qkv_bias) {
        kernels::add(q, layer.floats(S::kAttnQBias), q_dim);
        kernels::add(k, layer.floats(S::kAttnKBias), kv_dim);
        kernels::add(v, layer.floats(S::kAttnVBias), kv_dim);
      }
      if (config_.qk_norm) {
        for (int64_t h = 0; h < info.n_head; ++h) {
          kernels::rms_norm(q + h * head_dim, layer.floats(S::kAttnQNorm), q + h * head_dim,
                            head_dim, config_.norm_eps);
        }
        for (int64_t h = 0; h < info.n_head_kv; ++h) {
          kernels::rms_norm(k + h * head_dim, layer.floats(S::kAttnKNorm), k + h * head_dim,
                            head_dim, config_.norm_eps);
        }
      }
      kernels::rope(q, static_cast<int>(info.n_head), head_dim, token.pos, rope);
      kernels::rope(k, static_cast<int>(info.n_head_kv), head_dim, token.pos, rope);
      const auto table = tables[static_cast<size_t>(token.seq)];
      kernels::encode_row(cache.key_type(), k, cache.key(l, table, token.pos), kv_dim);
      kernels::encode_row(cache.value_type(), v, cache.value(l, table, token.pos), kv_dim);
    }
  });
}

void Decoder::activate_row(const float* gate, const float* up, float* out, int64_t n) const {
  switch (config_.activation) {
    case Activation::kSilu:
      kernels::swiglu(gate, up, out, n);
      break;
    case Activation::kGeluTanh:
      kernels::geglu(gate, up, out, n);
      break;
    case Activation::kSwigluClamped:
      kernels::swiglu_clamped(gate, up, out, n, config_.swiglu_alpha, config_.swiglu_limit);
      break;
  }
}

void Decoder::activate(float* gate, const float* up, int64_t n_rows, int64_t n_ff,
                       int64_t gate_stride, int64_t up_stride, float* out, ThreadPool& pool) const {
  pool.parallel_for(n_rows, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      activate_row(gate + t * gate_stride, up + t * up_stride, out + t * n_ff, n_ff);
    }
  });
}

void Decoder::feed_forward(const Slots& layer, Activations& a, int64_t n_tokens,
                           ThreadPool& pool) const {
  if (config_.moe.n_expert > 0) {
    mixture_of_experts(layer, a, n_tokens, pool);
    return;
  }
  const int64_t n_ff = config_.info.n_ff;
  if (config_.fused_gate_up) {
    // Each token's row of `up` holds its gate values, then its up values.
    kernels::matmul(layer[S::kFfnUp], a.xn.data(), n_tokens, a.up.data(), pool);
    activate(a.up.data(), a.up.data() + n_ff, n_tokens, n_ff, 2 * n_ff, 2 * n_ff, a.gate.data(),
             pool);
  } else {
    kernels::matmul(layer[S::kFfnGate], a.xn.data(), n_tokens, a.gate.data(), pool);
    kernels::matmul(layer[S::kFfnUp], a.xn.data(), n_tokens, a.up.data(), pool);
    activate(a.gate.data(), a.up.data(), n_tokens, n_ff, n_ff, n_ff, a.gate.data(), pool);
  }
  kernels::matmul(layer[S::kFfnDown], a.gate.data(), n_tokens, a.projected.data(), pool);
}

// The experts a token's router logits choose and their weights, in expert order. Ties between
// equal logits go to the lower expert index, in every path.
void route(const float* logits, const MoeConfig& moe, std::vector<int>& chosen,
           std::vector<float>& weights) {
  std::vector<int> order(static_cast<size_t>(moe.n_expert));
  for (int e = 0; e < moe.n_expert; ++e) order[static_cast<size_t>(e)] = e;
  std::partial_sort(order.begin(), order.begin() + moe.n_used, order.end(), [&](int x, int y) {
    return logits[x] > logits[y] || (logits[x] == logits[y] && x < y);
  });
  chosen.assign(order.begin(), order.begin() + moe.n_used);
  std::sort(chosen.begin(), chosen.end());
  // Both gatings are a softmax with the best logit subtracted; they differ in the denominator.
  const float best = logits[order.front()];
  double total = 0.0;
  if (moe.gating == Gating::kSoftmaxThenTopK && !moe.normalize) {
    for (int e = 0; e < moe.n_expert; ++e) total += std::exp(static_cast<double>(logits[e] - best));
  } else {
    for (int e : chosen) total += std::exp(static_cast<double>(logits[e] - best));
  }
  weights.clear();
  for (int e : chosen) {
    weights.push_back(static_cast<float>(std::exp(static_cast<double>(logits[e] - best)) / total));
  }
}

// Rows of one expert's slice of a 3-D *_exps tensor: expert e's n_rows rows follow expert e-1's.
WeightMatrix expert_matrix(const WeightMatrix& experts, int e, int64_t n_rows) {
  WeightMatrix w = experts;
  w.n_out = n_rows;
  w.data = experts.data + static_cast<size_t>(e) * static_cast<size_t>(n_rows) * w.row_stride();
  return w;
}

void add_bias_rows(float* rows, int64_t n_rows, const float* bias, int64_t width) {
  for (int64_t r = 0; r < n_rows; ++r) kernels::add(rows + r * width, bias, width);
}

void Decoder::mixture_of_experts(const Slots& layer, Activations& a, int64_t n_tokens,
                                 ThreadPool& pool) const {
  const MoeConfig& moe = config_.moe;
  const int64_t n_embd = config_.info.n_embd;
  kernels::matmul(layer[S::kFfnRouter], a.xn.data(), n_tokens, a.router.data(), pool);
  // The tokens each expert serves, so that its rows are read once for the whole batch.
  std::vector<std::vector<std::pair<int64_t, float>>> served(static_cast<size_t>(moe.n_expert));
  std::vector<int> chosen;
  std::vector<float> weights;
  for (int64_t t = 0; t < n_tokens; ++t) {
    float* logits = a.router.data() + t * moe.n_expert;
    if (moe.router_bias) kernels::add(logits, layer.floats(S::kFfnRouterBias), moe.n_expert);
    route(logits, moe, chosen, weights);
    for (size_t i = 0; i < chosen.size(); ++i) {
      served[static_cast<size_t>(chosen[i])].emplace_back(t, weights[i]);
    }
  }
  // Experts run side by side, each on one thread without barriers, when there are enough of them
  // to keep every thread busy (decode with top-4 on a few cores, and prompts); otherwise one after
  // another, each on every thread. Outputs are added in expert order either way, so the result is
  // the same bits.
  std::vector<int> active;
  std::vector<int64_t> first_row(static_cast<size_t>(moe.n_expert), 0);
  int64_t n_rows = 0;
  for (int e = 0; e < moe.n_expert; ++e) {
    first_row[static_cast<size_t>(e)] = n_rows;
    const auto m = static_cast<int64_t>(served[static_cast<size_t>(e)].size());
    if (m > 0) active.push_back(e);
    n_rows += m;
  }
  std::vector<float> outputs(static_cast<size_t>(n_rows * n_embd));
  auto run = [&](int e, ExpertScratch& scratch, ThreadPool& threads) {
    run_expert(layer, e, served[static_cast<size_t>(e)], a.xn.data(), scratch,
               outputs.data() + first_row[static_cast<size_t>(e)] * n_embd, threads);
  };
  if (static_cast<int>(active.size()) >= 2 * pool.size()) {
    // The busiest experts first, so that no long one starts last.
    std::stable_sort(active.begin(), active.end(), [&](int x, int y) {
      return served[static_cast<size_t>(x)].size() > served[static_cast<size_t>(y)].size();
    });
    std::atomic<size_t> next{0};
    pool.run([&](int, int) {
      ThreadPool alone(1);
      ExpertScratch scratch;
      for (size_t i = next.fetch_add(1); i < active.size(); i = next.fetch_add(1)) {
        run(active[i], scratch, alone);
      }
    });
  } else if (pool.size() > 1) {
    experts_across_threads(layer, active, served, a.xn.data(), first_row, outputs.data(), pool);
  } else {
    ExpertScratch scratch;
    for (int e : active) run(e, scratch, pool);
  }
  std::fill_n(a.projected.begin(), n_tokens * n_embd, 0.0f);
  for (int e = 0; e < moe.n_expert; ++e) {
    const auto& tokens = served[static_cast<size_t>(e)];
    const float* rows = outputs.data() + first_row[static_cast<size_t>(e)] * n_embd;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const auto& [t, weight] = tokens[i];
      float* out = a.projected.data() + t * n_embd;
      const float* row = rows + static_cast<int64_t>(i) * n_embd;
      for (int64_t d = 0; d < n_embd; ++d) out[d] += weight * row[d];
    }
  }
  if (moe.n_ff_shared > 0) add_shared_expert(layer, a, n_tokens, pool);
}

// The shared expert serves every token: a dense gated FFN whose output joins the routed experts'
// sum, scaled by sigmoid(gate . x) when the family gates it.
void Decoder::add_shared_expert(const Slots& layer, Activations& a, int64_t n_tokens,
                                ThreadPool& pool) const {
  const int64_t n_embd = config_.info.n_embd;
  const int64_t n_ff = config_.moe.n_ff_shared;
  std::vector<float> gate(static_cast<size_t>(n_tokens * n_ff));
  std::vector<float> up(gate.size());
  std::vector<float> out(static_cast<size_t>(n_tokens * n_embd));
  kernels::matmul(layer[S::kFfnGateShared], a.xn.data(), n_tokens, gate.data(), pool);
  kernels::matmul(layer[S::kFfnUpShared], a.xn.data(), n_tokens, up.data(), pool);
  activate(gate.data(), up.data(), n_tokens, n_ff, n_ff, n_ff, gate.data(), pool);
  kernels::matmul(layer[S::kFfnDownShared], gate.data(), n_tokens, out.data(), pool);
  const float* gate_weights = config_.moe.shared_gate ? layer.floats(S::kFfnSharedGate) : nullptr;
  for (int64_t t = 0; t < n_tokens; ++t) {
    float scale = 1.0f;
    if (gate_weights != nullptr) {
      const float* x = a.xn.data() + t * n_embd;
      float logit = 0.0f;
      for (int64_t i = 0; i < n_embd; ++i) logit += gate_weights[i] * x[i];
      scale = 1.0f / (1.0f + std::exp(-logit));
    }
    float* row = a.projected.data() + t * n_embd;
    const float* shared = out.data() + t * n_embd;
    for (int64_t d = 0; d < n_embd; ++d) row[d] += scale * shared[d];
  }
}

// Rows [begin, end) of a stored matrix.
WeightMatrix row_range(const WeightMatrix& w, int64_t begin, int64_t end) {
  WeightMatrix rows = w;
  rows.n_out = end - begin;
  rows.data = w.data + static_cast<size_t>(begin) * w.row_stride();
  return rows;
}

// Few experts for many threads (decode on a many-core machine): every thread takes shares of every
// expert's rows, claimed one at a time. Gate and up rows, their biases and the activation are one
// step, the down rows a second, so a layer waits twice instead of four times per expert. Shares
// are whole multiples of 16 rows, so each row is computed by the same kernels with the same
// arithmetic as when an expert runs alone: the bits do not change.
void Decoder::experts_across_threads(const Slots& layer, const std::vector<int>& active,
                                     const std::vector<ServedTokens>& served, const float* xn,
                                     const std::vector<int64_t>& first_row, float* outputs,
                                     ThreadPool& pool) const {
  const MoeConfig& moe = config_.moe;
  const int64_t n_embd = config_.info.n_embd;
  const int64_t n_ff = moe.n_ff;
  const auto n_active = static_cast<int64_t>(active.size());
  std::vector<std::vector<float>> inputs(active.size()), hidden(active.size());
  for (size_t i = 0; i < active.size(); ++i) {
    const ServedTokens& tokens = served[static_cast<size_t>(active[i])];
    inputs[i].resize(tokens.size() * static_cast<size_t>(n_embd));
    hidden[i].resize(tokens.size() * static_cast<size_t>(n_ff));
    for (size_t j = 0; j < tokens.size(); ++j) {
      std::copy_n(xn + tokens[j].first * n_embd, n_embd, inputs[i].data() + j * n_embd);
    }
  }
  // About two shares per thread for the experts together, each a multiple of 16 rows.
  auto share_rows = [&](int64_t rows) {
    const int64_t shares = std::max<int64_t>(1, 2 * pool.size() / n_active);
    return std::max<int64_t>(16, (rows / shares + 15) / 16 * 16);
  };
  // Runs step(i, begin, end, one_thread, scratch) for shares of `rows` rows of every active expert.
  auto across = [&](int64_t rows, const auto& step) {
    const int64_t share = share_rows(rows);
    const int64_t per_expert = (rows + share - 1) / share;
    std::atomic<int64_t> next{0};
    pool.run([&](int, int) {
      ThreadPool one_thread(1);
      std::vector<float> scratch;
      for (int64_t task = next.fetch_add(1); task < n_active * per_expert;
           task = next.fetch_add(1)) {
        const int64_t begin = task % per_expert * share;
        step(static_cast<size_t>(task / per_expert), begin, std::min(rows, begin + share),
             one_thread, scratch);
      }
    });
  };
  across(n_ff, [&](size_t i, int64_t begin, int64_t end, ThreadPool& one_thread,
                   std::vector<float>& scratch) {
    const int e = active[i];
    const auto m = static_cast<int64_t>(served[static_cast<size_t>(e)].size());
    const int64_t width = end - begin;
    scratch.resize(static_cast<size_t>(2 * m * width));
    float* gate = scratch.data();
    float* up = gate + m * width;
    kernels::matmul(row_range(expert_matrix(layer[S::kFfnGateExperts], e, n_ff), begin, end),
                    inputs[i].data(), m, gate, one_thread);
    kernels::matmul(row_range(expert_matrix(layer[S::kFfnUpExperts], e, n_ff), begin, end),
                    inputs[i].data(), m, up, one_thread);
    for (int64_t t = 0; t < m; ++t) {
      if (moe.expert_biases) {
        kernels::add(gate + t * width, layer.floats(S::kFfnGateExpertsBias) + e * n_ff + begin,
                     width);
        kernels::add(up + t * width, layer.floats(S::kFfnUpExpertsBias) + e * n_ff + begin, width);
      }
      activate_row(gate + t * width, up + t * width, hidden[i].data() + t * n_ff + begin, width);
    }
  });
  across(n_embd, [&](size_t i, int64_t begin, int64_t end, ThreadPool& one_thread,
                     std::vector<float>& scratch) {
    const int e = active[i];
    const auto m = static_cast<int64_t>(served[static_cast<size_t>(e)].size());
    const int64_t width = end - begin;
    scratch.resize(static_cast<size_t>(m * width));
    kernels::matmul(row_range(expert_matrix(layer[S::kFfnDownExperts], e, n_embd), begin, end),
                    hidden[i].data(), m, scratch.data(), one_thread);
    float* out = outputs + first_row[static_cast<size_t>(e)] * n_embd;
    for (int64_t t = 0; t < m; ++t) {
      float* row = out + t * n_embd + begin;
      std::copy_n(scratch.data() + t * width, width, row);
      if (moe.expert_biases) {
        kernels::add(row, layer.floats(S::kFfnDownExpertsBias) + e * n_embd + begin, width);
      }
    }
  });
}

void Decoder::run_expert(const Slots& layer, int e,
                         const std::vector<std::pair<int64_t, float>>& tokens, const float* xn,
                         ExpertScratch& s, float* out, ThreadPool& pool) const {
  const MoeConfig& moe = config_.moe;
  const int64_t n_embd = config_.info.n_embd;
  const int64_t n_ff = moe.n_ff;
  const auto m = static_cast<int64_t>(tokens.size());
  s.in.resize(static_cast<size_t>(m * n_embd));
  s.gate.resize(static_cast<size_t>(m * n_ff));
  s.up.resize(static_cast<size_t>(m * n_ff));
  for (int64_t i = 0; i < m; ++i) {
    std::copy_n(xn + tokens[static_cast<size_t>(i)].first * n_embd, n_embd,
                s.in.data() + i * n_embd);
  }
  kernels::matmul(expert_matrix(layer[S::kFfnGateExperts], e, n_ff), s.in.data(), m, s.gate.data(),
                  pool);
  kernels::matmul(expert_matrix(layer[S::kFfnUpExperts], e, n_ff), s.in.data(), m, s.up.data(),
                  pool);
  if (moe.expert_biases) {
    add_bias_rows(s.gate.data(), m, layer.floats(S::kFfnGateExpertsBias) + e * n_ff, n_ff);
    add_bias_rows(s.up.data(), m, layer.floats(S::kFfnUpExpertsBias) + e * n_ff, n_ff);
  }
  activate(s.gate.data(), s.up.data(), m, n_ff, n_ff, n_ff, s.gate.data(), pool);
  kernels::matmul(expert_matrix(layer[S::kFfnDownExperts], e, n_embd), s.gate.data(), m, out, pool);
  if (moe.expert_biases) {
    add_bias_rows(out, m, layer.floats(S::kFfnDownExpertsBias) + e * n_embd, n_embd);
  }
}

void Decoder::forward(std::span<const BatchToken> batch,
                      std::span<const std::span<const int32_t>> tables, KvCache& cache,
                      std::span<float> logits, ThreadPool& pool) {
  const ModelInfo& info = config_.info;
  const auto n_tokens = static_cast<int64_t>(batch.size());
  const int64_t n_embd = info.n_embd;
  const auto n_logits =
      std::count_if(batch.begin(), batch.end(), [](const BatchToken& t) { return t.logits; });
  BOTTEGA_CHECK(static_cast<int64_t>(logits.size()) == n_logits * info.n_vocab, "logits buffer of ",
                logits.size());
  Activations a(config_, n_tokens);

  for (int64_t t = 0; t < n_tokens; ++t) {
    const int32_t token = batch[static_cast<size_t>(t)].token;
    BOTTEGA_CHECK(token >= 0 && token < info.n_vocab, "token id ", token);
    float* row = a.x.data() + t * n_embd;
    kernels::dequantize_row(model_[S::kTokenEmbedding], token, row);
    if (config_.embedding_scale != 1.0f) {
      for (int64_t i = 0; i < n_embd; ++i) row[i] *= config_.embedding_scale;
    }
  }

  for (int l = 0; l < info.n_layer; ++l) {
    const Slots& layer = layers_[static_cast<size_t>(l)];
    normalize(a.x.data(), layer.floats(S::kAttnNorm), a.xn.data(), n_tokens, pool);
    project_qkv(layer, a, n_tokens, pool);
    prepare_attention(l, batch, tables, cache, a, pool);
    const AttentionShape shape{info.n_head,
                               info.n_head_kv,
                               info.head_dim,
                               config_.query_scale(),
                               config_.layers[static_cast<size_t>(l)].window,
                               config_.attn_softcap,
                               config_.attn_sinks ? layer.floats(S::kAttnSinks) : nullptr};
    paged_attention(batch, tables, cache, l, shape, a.q.data(), a.attn.data(), pool);
    kernels::matmul(layer[S::kAttnOutput], a.attn.data(), n_tokens, a.projected.data(), pool);
    if (config_.output_bias) {
      add_bias_rows(a.projected.data(), n_tokens, layer.floats(S::kAttnOutputBias), n_embd);
    }
    if (config_.post_norms) {
      normalize(a.projected.data(), layer.floats(S::kPostAttnNorm), a.projected.data(), n_tokens,
                pool);
    }
    kernels::add(a.x.data(), a.projected.data(), n_tokens * n_embd);

    normalize(a.x.data(), layer.floats(S::kFfnNorm), a.xn.data(), n_tokens, pool);
    feed_forward(layer, a, n_tokens, pool);
    if (config_.post_norms) {
      normalize(a.projected.data(), layer.floats(S::kPostFfnNorm), a.projected.data(), n_tokens,
                pool);
    }
    kernels::add(a.x.data(), a.projected.data(), n_tokens * n_embd);
  }

  // Only the tokens that want logits go through the (large) output head.
  std::vector<float> last;
  last.reserve(static_cast<size_t>(n_logits * n_embd));
  for (int64_t t = 0; t < n_tokens; ++t) {
    if (!batch[static_cast<size_t>(t)].logits) continue;
    const size_t offset = last.size();
    last.resize(offset + static_cast<size_t>(n_embd));
    kernels::rms_norm(a.x.data() + t * n_embd, model_.floats(S::kOutputNorm), last.data() + offset,
                      n_embd, config_.norm_eps);
  }
  if (n_logits == 0) return;
  kernels::matmul(model_[S::kOutput], last.data(), n_logits, logits.data(), pool);
  if (config_.final_softcap > 0.0f) {
    kernels::softcap(logits.data(), static_cast<int64_t>(logits.size()), config_.final_softcap);
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
