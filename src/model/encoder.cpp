// The encoder's forward pass over a flat batch of several inputs: embeddings (token + type 0, +
// position for BERT) and a LayerNorm, then per block bidirectional attention within each input
// (RoPE on q and k for nomic-bert), the output projection added to the block input and
// LayerNormed, the FFN (GELU, or SwiGLU for nomic-bert) added to that and LayerNormed again.
#include "model/encoder.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "backend/cpu/interleave.h"
#include "core/error.h"
#include "kernels/cpu/ops.h"
#include "model/weights.h"

namespace bottega {

using kernels::WeightMatrix;
using S = TensorSlot;

namespace {

constexpr size_t kSlots = static_cast<size_t>(TensorSlot::kCount);

// One block's (or the model-wide) tensors by slot: matrices as bound, vectors as floats.
struct Slots {
  std::array<WeightMatrix, kSlots> matrix;
  std::array<std::vector<float>, kSlots> vector;
  const WeightMatrix& operator[](S slot) const { return matrix[static_cast<size_t>(slot)]; }
  const float* floats(S slot) const { return vector[static_cast<size_t>(slot)].data(); }
};

// out = (x - mean) / sqrt(var + eps) * weight + bias over one row of n values; out may alias x.
// Mean and variance are summed in double: one row's statistics, no batch dependence.
void layer_norm(const float* x, const float* weight, const float* bias, float* out, int64_t n,
                float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  double squares = 0.0;
  for (int64_t i = 0; i < n; ++i) squares += (x[i] - mean) * (x[i] - mean);
  const double scale = 1.0 / std::sqrt(squares / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>((x[i] - mean) * scale) * weight[i] + bias[i];
  }
}

// BERT's GELU is the exact one, x * Phi(x) with the error function (Hugging Face's "gelu").
// llama.cpp computes the tanh approximation instead, within ~1e-3 of it.
void gelu_erf(float* x, int64_t n) {
  constexpr float kInvSqrt2 = 0.70710678118654752f;
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
}

void add_bias_rows(float* rows, int64_t n_rows, const float* bias, int64_t width) {
  for (int64_t r = 0; r < n_rows; ++r) kernels::add(rows + r * width, bias, width);
}

// Where each token of the flat batch belongs: its input's first row and length, and its position.
struct TokenPlace {
  int64_t first = 0;
  int64_t count = 0;
  int32_t pos = 0;
};

std::vector<TokenPlace> places(std::span<const std::vector<int32_t>> inputs) {
  std::vector<TokenPlace> out;
  int64_t first = 0;
  for (const auto& input : inputs) {
    const auto count = static_cast<int64_t>(input.size());
    for (int64_t j = 0; j < count; ++j) out.push_back({first, count, static_cast<int32_t>(j)});
    first += count;
  }
  return out;
}

}  // namespace

struct Encoder::Weights {
  Slots model;
  std::vector<Slots> layers;
  HostMemory copies;  // the matrices in the kernels' layout
};

Encoder::Encoder(gguf::File file)
    : file_(std::move(file)),
      config_(read_encoder_config(file_)),
      weights_(std::make_unique<Weights>()) {
  Weights& w = *weights_;
  w.layers.resize(static_cast<size_t>(config_.info.n_layer));
  auto slots = [&](int layer) -> Slots& {
    return layer < 0 ? w.model : w.layers[static_cast<size_t>(layer)];
  };
  const std::vector<TensorDesc> tensors = encoder_tensors(config_);
  std::vector<WeightSpec> specs;
  for (const TensorDesc& t : tensors) {
    specs.push_back({t.name, t.shape, &slots(t.layer).matrix[static_cast<size_t>(t.slot)]});
  }
  bind_weights(file_, specs);
  std::vector<WeightMatrix*> matmul_inputs;
  for (const TensorDesc& t : tensors) {
    Slots& s = slots(t.layer);
    WeightMatrix& m = s.matrix[static_cast<size_t>(t.slot)];
    weight_bytes_ += m.row_stride() * static_cast<uint64_t>(m.n_out);
    if (t.kind() == TensorKind::kMatrix && t.layer >= 0) {
      matmul_inputs.push_back(&m);
    } else if (t.kind() != TensorKind::kMatrix) {
      std::vector<float>& v = s.vector[static_cast<size_t>(t.slot)];
      v.resize(static_cast<size_t>(m.n_in * m.n_out));
      for (int64_t r = 0; r < m.n_out; ++r) kernels::dequantize_row(m, r, v.data() + r * m.n_in);
    }
  }
  w.copies = backend::cpu::copy_for_cpu(&file_, matmul_inputs);
}

Encoder::~Encoder() = default;

Pooling Encoder::default_pooling() const {
  // A file that pools nothing gives per-token states; one vector per input is what embed returns,
  // so it gets the mean, the usual choice for such models.
  return config_.pooling == Pooling::kNone ? Pooling::kMean : config_.pooling;
}

void Encoder::check_inputs(std::span<const std::vector<int32_t>> inputs) const {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& input = inputs[i];
    if (input.empty()) throw Error(str("input ", i, " is empty: there is nothing to embed"));
    if (static_cast<int64_t>(input.size()) > max_tokens()) {
      throw Error(str("input ", i, " has ", input.size(), " tokens, more than the ", max_tokens(),
                      " this model reads; shorten or split it"));
    }
    for (int32_t id : input) {
      if (id < 0 || id >= config_.info.n_vocab) {
        throw Error(str("input ", i, " has token id ", id, ", outside the vocabulary of ",
                        config_.info.n_vocab, " tokens"));
      }
    }
  }
}

namespace {

// Every head of token t attends over the rows of its own input: softmax(q . k * scale) v.
void attend(const TokenPlace& place, const float* q, const float* k, const float* v, float* out,
            const ModelInfo& info, std::vector<float>& scores) {
  const int64_t n_embd = info.n_embd;
  const int64_t head_dim = info.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  scores.resize(static_cast<size_t>(place.count));
  for (int64_t h = 0; h < info.n_head; ++h) {
    const float* qh = q + h * head_dim;
    float best = -INFINITY;
    for (int64_t j = 0; j < place.count; ++j) {
      const float* kj = k + (place.first + j) * n_embd + h * head_dim;
      scores[static_cast<size_t>(j)] = kernels::dot(qh, kj, head_dim) * scale;
      best = std::max(best, scores[static_cast<size_t>(j)]);
    }
    float total = 0.0f;
    for (float& s : scores) total += (s = std::exp(s - best));
    float* oh = out + h * head_dim;
    std::fill_n(oh, head_dim, 0.0f);
    for (int64_t j = 0; j < place.count; ++j) {
      const float p = scores[static_cast<size_t>(j)] / total;
      const float* vj = v + (place.first + j) * n_embd + h * head_dim;
      for (int64_t d = 0; d < head_dim; ++d) oh[d] += p * vj[d];
    }
  }
}

}  // namespace

namespace {

// One forward pass over a flat batch: the activations, one row per token, and the steps.
class Forward {
 public:
  Forward(const EncoderConfig& c, std::span<const std::vector<int32_t>> inputs, ThreadPool& pool)
      : c_(c), place_(places(inputs)), n_(static_cast<int64_t>(place_.size())), pool_(pool) {
    const int64_t e = c.info.n_embd;
    for (auto* rows : {&x_, &q_, &k_, &v_, &attn_, &projected_}) rows->resize(size(e));
    up_.resize(size(c.info.n_ff));
    if (c.gated_ffn) gate_.resize(size(c.info.n_ff));
    if (c.fused_qkv) qkv_.resize(size(3 * e));
    if (!c.position_embeddings) {
      rope_.style = kernels::RopeStyle::kNeox;
      rope_.n_rot = static_cast<int>(c.info.head_dim);
      rope_.freq_base = c.rope_base;
    }
  }

  // Token + type-0 row (+ position row), LayerNormed.
  void embed(const Slots& model, std::span<const std::vector<int32_t>> inputs) {
    const int64_t e = c_.info.n_embd;
    std::vector<float> type0(static_cast<size_t>(e)), position(static_cast<size_t>(e));
    kernels::dequantize_row(model[S::kTokenTypes], 0, type0.data());  // "sentence A", as llama.cpp
    int64_t t = 0;
    for (const auto& input : inputs) {
      for (size_t j = 0; j < input.size(); ++j, ++t) {
        float* row = x_.data() + t * e;
        kernels::dequantize_row(model[S::kTokenEmbedding], input[j], row);
        kernels::add(row, type0.data(), e);
        if (c_.position_embeddings) {
          kernels::dequantize_row(model[S::kPositionEmbedding], static_cast<int64_t>(j),
                                  position.data());
          kernels::add(row, position.data(), e);
        }
        layer_norm(row, model.floats(S::kTokenEmbdNorm), model.floats(S::kTokenEmbdNormBias), row,
                   e, c_.norm_eps);
      }
    }
  }

  // x = LayerNorm(x + attention(x) W_o + b_o)
  void attention(const Slots& layer) {
    const int64_t e = c_.info.n_embd;
    project_qkv(layer);
    if (!c_.position_embeddings) {
      // Every row of q and k turns by its token's position; attention needs them all turned.
      const auto heads = static_cast<int>(c_.info.n_head);
      const auto head_dim = static_cast<int>(c_.info.head_dim);
      each_token([&](int64_t i, std::vector<float>&) {
        const int32_t pos = place_[static_cast<size_t>(i)].pos;
        kernels::rope(q_.data() + i * e, heads, head_dim, pos, rope_);
        kernels::rope(k_.data() + i * e, heads, head_dim, pos, rope_);
      });
    }
    each_token([&](int64_t i, std::vector<float>& scores) {
      attend(place_[static_cast<size_t>(i)], q_.data() + i * e, k_.data(), v_.data(),
             attn_.data() + i * e, c_.info, scores);
    });
    kernels::matmul(layer[S::kAttnOutput], attn_.data(), n_, projected_.data(), pool_);
    residual_norm(layer, S::kAttnOutputBias, S::kAttnOutputNorm, S::kAttnOutputNormBias);
  }

  // x = LayerNorm(x + FFN(x)): GELU(x W_up + b_up) W_down + b_down, or SwiGLU without biases.
  void feed_forward(const Slots& layer) {
    const int64_t ff = c_.info.n_ff;
    kernels::matmul(layer[S::kFfnUp], x_.data(), n_, up_.data(), pool_);
    if (c_.gated_ffn) kernels::matmul(layer[S::kFfnGate], x_.data(), n_, gate_.data(), pool_);
    // The activated rows: in place in up_ for GELU, into gate_ for SwiGLU.
    std::vector<float>& hidden = c_.gated_ffn ? gate_ : up_;
    each_token([&](int64_t i, std::vector<float>&) {
      float* row = hidden.data() + i * ff;
      if (c_.gated_ffn) {
        kernels::swiglu(row, up_.data() + i * ff, row, ff);
      } else {
        if (c_.biases) kernels::add(row, layer.floats(S::kFfnUpBias), ff);
        gelu_erf(row, ff);
      }
    });
    kernels::matmul(layer[S::kFfnDown], hidden.data(), n_, projected_.data(), pool_);
    residual_norm(layer, S::kFfnDownBias, S::kLayerOutputNorm, S::kLayerOutputNormBias);
  }

  std::vector<float> take_states() { return std::move(x_); }

 private:
  size_t size(int64_t width) const { return static_cast<size_t>(n_ * width); }

  // Row-wise steps split over threads; each token's row is computed the same way in any batch.
  template <typename Step>
  void each_token(const Step& step) {
    pool_.parallel_for(n_, [&](int64_t begin, int64_t end) {
      std::vector<float> scratch;
      for (int64_t i = begin; i < end; ++i) step(i, scratch);
    });
  }

  void project_qkv(const Slots& layer) {
    const int64_t e = c_.info.n_embd;
    if (c_.fused_qkv) {
      kernels::matmul(layer[S::kAttnQkv], x_.data(), n_, qkv_.data(), pool_);
      for (int64_t i = 0; i < n_; ++i) {
        const float* row = qkv_.data() + i * 3 * e;
        std::copy_n(row, e, q_.data() + i * e);
        std::copy_n(row + e, e, k_.data() + i * e);
        std::copy_n(row + 2 * e, e, v_.data() + i * e);
      }
    } else {
      kernels::matmul(layer[S::kAttnQ], x_.data(), n_, q_.data(), pool_);
      kernels::matmul(layer[S::kAttnK], x_.data(), n_, k_.data(), pool_);
      kernels::matmul(layer[S::kAttnV], x_.data(), n_, v_.data(), pool_);
    }
    if (c_.biases) {
      add_bias_rows(q_.data(), n_, layer.floats(S::kAttnQBias), e);
      add_bias_rows(k_.data(), n_, layer.floats(S::kAttnKBias), e);
      add_bias_rows(v_.data(), n_, layer.floats(S::kAttnVBias), e);
    }
  }

  // x = LayerNorm(x + projected (+ bias)): BERT's post-norm.
  void residual_norm(const Slots& layer, S bias, S norm, S norm_bias) {
    const int64_t e = c_.info.n_embd;
    each_token([&](int64_t i, std::vector<float>&) {
      float* row = x_.data() + i * e;
      kernels::add(row, projected_.data() + i * e, e);
      if (c_.biases) kernels::add(row, layer.floats(bias), e);
      layer_norm(row, layer.floats(norm), layer.floats(norm_bias), row, e, c_.norm_eps);
    });
  }

  const EncoderConfig& c_;
  std::vector<TokenPlace> place_;
  int64_t n_;
  ThreadPool& pool_;
  kernels::RopeParams rope_;
  std::vector<float> x_, q_, k_, v_, attn_, projected_, up_, gate_, qkv_;
};

}  // namespace

std::vector<float> Encoder::hidden_states(std::span<const std::vector<int32_t>> inputs,
                                          ThreadPool& pool) const {
  check_inputs(inputs);
  Forward forward(config_, inputs, pool);
  forward.embed(weights_->model, inputs);
  for (const Slots& layer : weights_->layers) {
    forward.attention(layer);
    forward.feed_forward(layer);
  }
  return forward.take_states();
}

std::vector<std::vector<float>> Encoder::embed(std::span<const std::vector<int32_t>> inputs,
                                               const EmbedOptions& options,
                                               ThreadPool& pool) const {
  const std::vector<float> states = hidden_states(inputs, pool);
  const int64_t e = config_.info.n_embd;
  Pooling pooling = options.pooling.value_or(default_pooling());
  if (pooling == Pooling::kNone) pooling = Pooling::kMean;  // one vector per input, always
  std::vector<std::vector<float>> out;
  int64_t first = 0;
  for (const auto& input : inputs) {
    const auto count = static_cast<int64_t>(input.size());
    std::vector<double> sum(static_cast<size_t>(e), 0.0);
    const int64_t begin = pooling == Pooling::kLast ? first + count - 1 : first;
    const int64_t end = pooling == Pooling::kMean ? first + count : begin + 1;
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t d = 0; d < e; ++d)
        sum[static_cast<size_t>(d)] += states[static_cast<size_t>(t * e + d)];
    }
    double norm = 0.0;
    for (double& s : sum) {
      s /= static_cast<double>(end - begin);
      norm += s * s;
    }
    // A zero vector stays zero rather than becoming NaN.
    const double divisor = options.normalize && norm > 0.0 ? std::sqrt(norm) : 1.0;
    std::vector<float>& embedding = out.emplace_back(static_cast<size_t>(e));
    for (int64_t d = 0; d < e; ++d) {
      embedding[static_cast<size_t>(d)] = static_cast<float>(sum[static_cast<size_t>(d)] / divisor);
    }
    first += count;
  }
  return out;
}

}  // namespace bottega
