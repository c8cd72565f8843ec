// BERT's forward pass over a flat batch of several inputs: embeddings (token + type 0 + position)
// and a LayerNorm, then per block bidirectional attention within each input, the output projection
// added to the block input and LayerNormed, the GELU FFN added to that and LayerNormed again.
#include "model/encoder.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

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
  std::vector<std::unique_ptr<uint8_t[]>> interleaved;  // matrices in the kernels' layout
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
  w.interleaved = interleave_for_cpu(file_, matmul_inputs);
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

std::vector<float> Encoder::hidden_states(std::span<const std::vector<int32_t>> inputs,
                                          ThreadPool& pool) const {
  check_inputs(inputs);
  const Weights& w = *weights_;
  const ModelInfo& info = config_.info;
  const int64_t e = info.n_embd;
  const int64_t ff = info.n_ff;
  const float eps = config_.norm_eps;
  const std::vector<TokenPlace> place = places(inputs);
  const auto n = static_cast<int64_t>(place.size());
  auto rows = [n](int64_t width) { return std::vector<float>(static_cast<size_t>(n * width)); };
  std::vector<float> x = rows(e), q = rows(e), k = rows(e), v = rows(e), attn = rows(e),
                     projected = rows(e), up = rows(ff);

  // Token type 0 ("sentence A") for every token, as llama.cpp does.
  std::vector<float> type0(static_cast<size_t>(e)), position(static_cast<size_t>(e));
  kernels::dequantize_row(w.model[S::kTokenTypes], 0, type0.data());
  int64_t t = 0;
  for (const auto& input : inputs) {
    for (size_t j = 0; j < input.size(); ++j, ++t) {
      float* row = x.data() + t * e;
      kernels::dequantize_row(w.model[S::kTokenEmbedding], input[j], row);
      kernels::dequantize_row(w.model[S::kPositionEmbedding], static_cast<int64_t>(j),
                              position.data());
      kernels::add(row, type0.data(), e);
      kernels::add(row, position.data(), e);
      layer_norm(row, w.model.floats(S::kTokenEmbdNorm), w.model.floats(S::kTokenEmbdNormBias), row,
                 e, eps);
    }
  }

  // Row-wise steps split over threads; each token's row is computed the same way in any batch.
  auto each_token = [&](const auto& step) {
    pool.parallel_for(n, [&](int64_t begin, int64_t end) {
      std::vector<float> scratch;
      for (int64_t i = begin; i < end; ++i) step(i, scratch);
    });
  };
  for (const Slots& layer : w.layers) {
    kernels::matmul(layer[S::kAttnQ], x.data(), n, q.data(), pool);
    kernels::matmul(layer[S::kAttnK], x.data(), n, k.data(), pool);
    kernels::matmul(layer[S::kAttnV], x.data(), n, v.data(), pool);
    add_bias_rows(q.data(), n, layer.floats(S::kAttnQBias), e);
    add_bias_rows(k.data(), n, layer.floats(S::kAttnKBias), e);
    add_bias_rows(v.data(), n, layer.floats(S::kAttnVBias), e);
    each_token([&](int64_t i, std::vector<float>& scores) {
      attend(place[static_cast<size_t>(i)], q.data() + i * e, k.data(), v.data(),
             attn.data() + i * e, info, scores);
    });
    kernels::matmul(layer[S::kAttnOutput], attn.data(), n, projected.data(), pool);
    each_token([&](int64_t i, std::vector<float>&) {
      float* row = x.data() + i * e;
      kernels::add(row, projected.data() + i * e, e);
      kernels::add(row, layer.floats(S::kAttnOutputBias), e);
      layer_norm(row, layer.floats(S::kAttnOutputNorm), layer.floats(S::kAttnOutputNormBias), row,
                 e, eps);
    });
    kernels::matmul(layer[S::kFfnUp], x.data(), n, up.data(), pool);
    each_token([&](int64_t i, std::vector<float>&) {
      float* row = up.data() + i * ff;
      kernels::add(row, layer.floats(S::kFfnUpBias), ff);
      gelu_erf(row, ff);
    });
    kernels::matmul(layer[S::kFfnDown], up.data(), n, projected.data(), pool);
    each_token([&](int64_t i, std::vector<float>&) {
      float* row = x.data() + i * e;
      kernels::add(row, projected.data() + i * e, e);
      kernels::add(row, layer.floats(S::kFfnDownBias), e);
      layer_norm(row, layer.floats(S::kLayerOutputNorm), layer.floats(S::kLayerOutputNormBias), row,
                 e, eps);
    });
  }
  return x;
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
