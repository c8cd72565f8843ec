#include "model/llama.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/kv_rows.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "model/attention.h"
#include "model/weights.h"

namespace bottega {
namespace {

using kernels::WeightMatrix;

struct LlamaLayer {
  WeightMatrix attn_norm;  // [n_embd]
  WeightMatrix wq;         // [n_embd, n_head * head_dim]
  WeightMatrix wk;         // [n_embd, n_head_kv * head_dim]
  WeightMatrix wv;         // [n_embd, n_head_kv * head_dim]
  WeightMatrix wo;         // [n_head * head_dim, n_embd]
  WeightMatrix ffn_norm;   // [n_embd]
  WeightMatrix ffn_gate;   // [n_embd, n_ff]
  WeightMatrix ffn_up;     // [n_embd, n_ff]
  WeightMatrix ffn_down;   // [n_ff, n_embd]
};

struct LlamaWeights {
  WeightMatrix token_embd;   // [n_embd, n_vocab]
  WeightMatrix output_norm;  // [n_embd]
  WeightMatrix output;       // [n_embd, n_vocab]; absent when tied to token_embd
  WeightMatrix rope_freqs;   // [n_rot / 2]; Llama 3.1+ per-pair frequency divisors, optional
  std::vector<LlamaLayer> layers;
};

struct LlamaConfig {
  ModelInfo info;
  float norm_eps = 1e-5f;
  kernels::RopeParams rope;
};

std::string arch_key(const std::string& suffix) {
  return "llama." + suffix;
}

LlamaConfig read_config(const gguf::File& file) {
  LlamaConfig config;
  ModelInfo& info = config.info;
  info.architecture = "llama";
  info.name =
      file.get_string("general.name").value_or(std::filesystem::path(file.name()).stem().string());
  info.n_embd = require_positive(file, arch_key("embedding_length"));
  info.n_layer = static_cast<int>(require_positive(file, arch_key("block_count")));
  info.n_ff = require_positive(file, arch_key("feed_forward_length"));
  info.n_head = require_positive(file, arch_key("attention.head_count"));
  info.n_head_kv = file.get_int(arch_key("attention.head_count_kv")).value_or(info.n_head);
  info.n_ctx_train = require_positive(file, arch_key("context_length"));
  if (info.n_head_kv <= 0 || info.n_head % info.n_head_kv != 0) {
    throw Error(str(file.name(), ": attention.head_count_kv = ", info.n_head_kv,
                    " must divide attention.head_count = ", info.n_head));
  }
  info.head_dim =
      file.get_int(arch_key("attention.key_length")).value_or(info.n_embd / info.n_head);
  if (info.head_dim <= 0 || info.head_dim % 2 != 0) {
    throw Error(str(file.name(), ": head dimension ", info.head_dim, " must be positive and even"));
  }
  const gguf::Array* tokens = file.get_array("tokenizer.ggml.tokens");
  info.n_vocab =
      file.get_int(arch_key("vocab_size"))
          .value_or(tokens != nullptr ? static_cast<int64_t>(tokens->elements.size()) : 0);
  if (info.n_vocab <= 0) {
    throw Error(str(file.name(),
                    ": vocabulary size unknown (no llama.vocab_size and no "
                    "tokenizer.ggml.tokens)"));
  }
  config.norm_eps = static_cast<float>(
      file.get_float(arch_key("attention.layer_norm_rms_epsilon")).value_or(1e-5));

  config.rope.style = kernels::RopeStyle::kInterleaved;
  config.rope.n_rot =
      static_cast<int>(file.get_int(arch_key("rope.dimension_count")).value_or(info.head_dim));
  if (config.rope.n_rot <= 0 || config.rope.n_rot > info.head_dim || config.rope.n_rot % 2 != 0) {
    throw Error(str(file.name(), ": rope.dimension_count = ", config.rope.n_rot,
                    " must be even and at most the head dimension ", info.head_dim));
  }
  config.rope.freq_base =
      static_cast<float>(file.get_float(arch_key("rope.freq_base")).value_or(10000.0));
  const std::string scaling = file.get_string(arch_key("rope.scaling.type")).value_or("none");
  const double factor = file.get_float(arch_key("rope.scaling.factor")).value_or(0.0);
  if (scaling == "linear" && factor > 0.0) {
    config.rope.freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none" && scaling != "linear" && scaling != "llama3") {
    // Llama 3.1 files carry "llama3" scaling as rope_freqs.weight, which is applied below.
    throw Error(str(file.name(), ": rope scaling type '", scaling, "' is not supported yet"));
  }
  return config;
}

std::vector<WeightSpec> weight_specs(const ModelInfo& info, int n_rot, LlamaWeights& w) {
  const int64_t q_dim = info.n_head * info.head_dim;
  const int64_t kv_dim = info.n_kv_dim();
  std::vector<WeightSpec> specs = {
      {"token_embd.weight", {info.n_embd, info.n_vocab}, &w.token_embd},
      {"output_norm.weight", {info.n_embd}, &w.output_norm},
      {"output.weight", {info.n_embd, info.n_vocab}, &w.output, false},
      {"rope_freqs.weight", {n_rot / 2}, &w.rope_freqs, false},
  };
  w.layers.resize(static_cast<size_t>(info.n_layer));
  for (int i = 0; i < info.n_layer; ++i) {
    LlamaLayer& layer = w.layers[static_cast<size_t>(i)];
    const std::string prefix = "blk." + std::to_string(i) + ".";
    specs.push_back({prefix + "attn_norm.weight", {info.n_embd}, &layer.attn_norm});
    specs.push_back({prefix + "attn_q.weight", {info.n_embd, q_dim}, &layer.wq});
    specs.push_back({prefix + "attn_k.weight", {info.n_embd, kv_dim}, &layer.wk});
    specs.push_back({prefix + "attn_v.weight", {info.n_embd, kv_dim}, &layer.wv});
    specs.push_back({prefix + "attn_output.weight", {q_dim, info.n_embd}, &layer.wo});
    specs.push_back({prefix + "ffn_norm.weight", {info.n_embd}, &layer.ffn_norm});
    specs.push_back({prefix + "ffn_gate.weight", {info.n_embd, info.n_ff}, &layer.ffn_gate});
    specs.push_back({prefix + "ffn_up.weight", {info.n_embd, info.n_ff}, &layer.ffn_up});
    specs.push_back({prefix + "ffn_down.weight", {info.n_ff, info.n_embd}, &layer.ffn_down});
  }
  return specs;
}

// Norm weights and frequency factors are small vectors read on every token: keep them as floats.
std::vector<float> to_floats(const WeightMatrix& w) {
  std::vector<float> out(static_cast<size_t>(w.n_in * w.n_out));
  for (int64_t r = 0; r < w.n_out; ++r) kernels::dequantize_row(w, r, out.data() + r * w.n_in);
  return out;
}

class LlamaModel final : public Model {
 public:
  explicit LlamaModel(gguf::File file) : file_(std::move(file)), config_(read_config(file_)) {
    const auto specs = weight_specs(config_.info, config_.rope.n_rot, weights_);
    bind_weights(file_, specs);
    for (const auto& spec : specs) {
      if (spec.target->data == nullptr) continue;
      weight_bytes_ += spec.target->row_stride() * static_cast<uint64_t>(spec.target->n_out);
      n_params_ += static_cast<uint64_t>(spec.target->n_in * spec.target->n_out);
    }
    const bool tied_head = weights_.output.data == nullptr;
    if (tied_head) weights_.output = weights_.token_embd;
    interleaved_ = interleave_for_cpu(file_, matrices(tied_head));
    output_norm_ = to_floats(weights_.output_norm);
    for (const auto& layer : weights_.layers) {
      attn_norms_.push_back(to_floats(layer.attn_norm));
      ffn_norms_.push_back(to_floats(layer.ffn_norm));
    }
    if (weights_.rope_freqs.data != nullptr) {
      rope_freqs_ = to_floats(weights_.rope_freqs);
      config_.rope.freq_factors = rope_freqs_;
    }
  }

  const ModelInfo& info() const override { return config_.info; }
  uint64_t weight_bytes() const override { return weight_bytes_; }
  uint64_t n_params() const override { return n_params_; }

  void forward(std::span<const BatchToken> batch, std::span<const std::span<const int32_t>> tables,
               KvCache& cache, std::span<float> logits, ThreadPool& pool) override;

 private:
  // RMS-normalizes each of n_tokens rows of x into out, the tokens split across threads.
  void normalize(const float* x, const float* weight, float* out, int64_t n_tokens,
                 ThreadPool& pool) const {
    const int64_t n_embd = config_.info.n_embd;
    pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        kernels::rms_norm(x + t * n_embd, weight, out + t * n_embd, n_embd, config_.norm_eps);
      }
    });
  }

  gguf::File file_;  // owns the mapping every WeightMatrix points into
  LlamaConfig config_;
  LlamaWeights weights_;
  std::vector<float> output_norm_;
  std::vector<std::vector<float>> attn_norms_;
  std::vector<std::vector<float>> ffn_norms_;
  std::vector<float> rope_freqs_;
  uint64_t weight_bytes_ = 0;
  uint64_t n_params_ = 0;
  // Matrices converted to the CPU kernels' interleaved layout (they no longer point into file_).
  std::vector<std::unique_ptr<uint8_t[]>> interleaved_;

  // The matrices that go through matmul (and the embedding table when it is also the head).
  std::vector<kernels::WeightMatrix*> matrices(bool tied_head) {
    std::vector<kernels::WeightMatrix*> out = {&weights_.output};
    if (tied_head) out.push_back(&weights_.token_embd);
    for (LlamaLayer& layer : weights_.layers) {
      for (auto* m : {&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.ffn_gate, &layer.ffn_up,
                      &layer.ffn_down}) {
        out.push_back(m);
      }
    }
    return out;
  }
};

void LlamaModel::forward(std::span<const BatchToken> batch,
                         std::span<const std::span<const int32_t>> tables, KvCache& cache,
                         std::span<float> logits, ThreadPool& pool) {
  const ModelInfo& info = config_.info;
  const auto n_tokens = static_cast<int64_t>(batch.size());
  const int64_t n_embd = info.n_embd;
  const int64_t q_dim = info.n_head * info.head_dim;
  const int64_t kv_dim = info.n_kv_dim();
  const auto n_logits =
      std::count_if(batch.begin(), batch.end(), [](const BatchToken& t) { return t.logits; });
  BOTTEGA_CHECK(static_cast<int64_t>(logits.size()) == n_logits * info.n_vocab, "logits buffer of ",
                logits.size());

  // Activations, one row per batch token.
  std::vector<float> x(static_cast<size_t>(n_tokens * n_embd));  // residual stream
  std::vector<float> xn(x.size());                               // normalised input
  std::vector<float> q(static_cast<size_t>(n_tokens * q_dim));
  std::vector<float> k(static_cast<size_t>(n_tokens * kv_dim));
  std::vector<float> v(k.size());
  std::vector<float> attn(q.size());
  std::vector<float> gate(static_cast<size_t>(n_tokens * info.n_ff));
  std::vector<float> up(gate.size());
  std::vector<float> projected(x.size());

  for (int64_t t = 0; t < n_tokens; ++t) {
    const int32_t token = batch[static_cast<size_t>(t)].token;
    BOTTEGA_CHECK(token >= 0 && token < info.n_vocab, "token id ", token);
    kernels::dequantize_row(weights_.token_embd, token, x.data() + t * n_embd);
  }

  for (int l = 0; l < info.n_layer; ++l) {
    const LlamaLayer& layer = weights_.layers[static_cast<size_t>(l)];
    normalize(x.data(), attn_norms_[static_cast<size_t>(l)].data(), xn.data(), n_tokens, pool);
    kernels::matmul(layer.wq, xn.data(), n_tokens, q.data(), pool);
    kernels::matmul(layer.wk, xn.data(), n_tokens, k.data(), pool);
    kernels::matmul(layer.wv, xn.data(), n_tokens, v.data(), pool);
    // Each token writes its own cache rows, so tokens split across threads freely.
    pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const BatchToken& token = batch[static_cast<size_t>(t)];
        const auto table = tables[static_cast<size_t>(token.seq)];
        kernels::rope(q.data() + t * q_dim, static_cast<int>(info.n_head),
                      static_cast<int>(info.head_dim), token.pos, config_.rope);
        kernels::rope(k.data() + t * kv_dim, static_cast<int>(info.n_head_kv),
                      static_cast<int>(info.head_dim), token.pos, config_.rope);
        kernels::encode_row(cache.key_type(), k.data() + t * kv_dim, cache.key(l, table, token.pos),
                            kv_dim);
        kernels::encode_row(cache.value_type(), v.data() + t * kv_dim,
                            cache.value(l, table, token.pos), kv_dim);
      }
    });
    paged_attention(batch, tables, cache, l, {info.n_head, info.n_head_kv, info.head_dim}, q.data(),
                    attn.data(), pool);
    kernels::matmul(layer.wo, attn.data(), n_tokens, projected.data(), pool);
    kernels::add(x.data(), projected.data(), n_tokens * n_embd);

    normalize(x.data(), ffn_norms_[static_cast<size_t>(l)].data(), xn.data(), n_tokens, pool);
    kernels::matmul(layer.ffn_gate, xn.data(), n_tokens, gate.data(), pool);
    kernels::matmul(layer.ffn_up, xn.data(), n_tokens, up.data(), pool);
    pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
      const int64_t n_ff = info.n_ff;
      kernels::swiglu(gate.data() + begin * n_ff, up.data() + begin * n_ff,
                      gate.data() + begin * n_ff, (end - begin) * n_ff);
    });
    kernels::matmul(layer.ffn_down, gate.data(), n_tokens, projected.data(), pool);
    kernels::add(x.data(), projected.data(), n_tokens * n_embd);
  }

  // Only the tokens that want logits go through the (large) output head.
  std::vector<float> last;
  last.reserve(static_cast<size_t>(n_logits * n_embd));
  for (int64_t t = 0; t < n_tokens; ++t) {
    if (!batch[static_cast<size_t>(t)].logits) continue;
    const size_t offset = last.size();
    last.resize(offset + static_cast<size_t>(n_embd));
    kernels::rms_norm(x.data() + t * n_embd, output_norm_.data(), last.data() + offset, n_embd,
                      config_.norm_eps);
  }
  if (n_logits > 0) kernels::matmul(weights_.output, last.data(), n_logits, logits.data(), pool);
}

}  // namespace

std::unique_ptr<Model> load_llama(gguf::File file) {
  return std::make_unique<LlamaModel>(std::move(file));
}

}  // namespace bottega
