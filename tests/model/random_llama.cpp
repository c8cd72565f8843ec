#include "model/random_llama.h"

#include <cmath>
#include <random>

#include "gguf/gguf.h"
#include "kernels/cpu/vec_dot.h"

namespace bottega::testing {

namespace {

using Matrix = std::vector<float>;

std::vector<uint8_t> encode(const Matrix& values, TensorType type) {
  const TypeTraits& traits = type_traits(type);
  std::vector<uint8_t> bytes(
      static_cast<size_t>(values.size() / static_cast<size_t>(traits.block_size)) *
      traits.block_bytes);
  traits.quantize(values.data(), bytes.data(), static_cast<int64_t>(values.size()));
  return bytes;
}

Matrix decode(const std::vector<uint8_t>& bytes, TensorType type, size_t n) {
  Matrix out(n);
  type_traits(type).dequantize(bytes.data(), out.data(), static_cast<int64_t>(n));
  return out;
}

}  // namespace

RandomLlama write_random_llama(const std::filesystem::path& path, const LlamaShape& s,
                               TensorType type, uint32_t seed) {
  std::mt19937 rng(seed);
  RandomLlama model{s, {}, kernels::activation_type(type)};
  gguf::Writer writer;
  writer.set("general.architecture", gguf::Value::string("llama"));
  writer.set("general.name", gguf::Value::string("random-llama"));
  writer.set("llama.vocab_size", gguf::Value::u32(static_cast<uint32_t>(s.n_vocab)));
  writer.set("llama.context_length", gguf::Value::u32(static_cast<uint32_t>(s.n_ctx)));
  writer.set("llama.embedding_length", gguf::Value::u32(static_cast<uint32_t>(s.n_embd)));
  writer.set("llama.feed_forward_length", gguf::Value::u32(static_cast<uint32_t>(s.n_ff)));
  writer.set("llama.block_count", gguf::Value::u32(static_cast<uint32_t>(s.n_layer)));
  writer.set("llama.attention.head_count", gguf::Value::u32(static_cast<uint32_t>(s.n_head)));
  writer.set("llama.attention.head_count_kv", gguf::Value::u32(static_cast<uint32_t>(s.n_head_kv)));
  writer.set("llama.attention.layer_norm_rms_epsilon", gguf::Value::f32(1e-5f));
  writer.set("llama.rope.freq_base", gguf::Value::f32(s.rope_base));
  if (s.rope_linear_factor > 0.0f) {
    writer.set("llama.rope.scaling.type", gguf::Value::string("linear"));
    writer.set("llama.rope.scaling.factor", gguf::Value::f32(s.rope_linear_factor));
  }

  // Matrices: uniform values scaled by 1/sqrt(fan-in) keep activations near unit size through the
  // layers, as trained models do.
  auto add_matrix = [&](const std::string& name, int64_t n_in, int64_t n_out, TensorType stored) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    Matrix values(static_cast<size_t>(n_in * n_out));
    const float scale = 1.7f / std::sqrt(static_cast<float>(n_in));
    for (float& v : values) v = dist(rng) * scale;
    std::vector<uint8_t> bytes = encode(values, stored);
    model.tensors[name] = decode(bytes, stored, values.size());
    writer.add_tensor(name, stored, {n_in, n_out}, std::move(bytes));
  };
  auto add_vector = [&](const std::string& name, int64_t n, float low, float high) {
    std::uniform_real_distribution<float> dist(low, high);
    Matrix values(static_cast<size_t>(n));
    for (float& v : values) v = dist(rng);
    model.tensors[name] = values;
    writer.add_tensor(name, TensorType::F32, {n}, encode(values, TensorType::F32));
  };

  const int64_t head_dim = s.n_embd / s.n_head;
  const int64_t kv_dim = head_dim * s.n_head_kv;
  add_matrix("token_embd.weight", s.n_embd, s.n_vocab, type);
  add_vector("output_norm.weight", s.n_embd, 0.5f, 1.5f);
  if (!s.tied_output) add_matrix("output.weight", s.n_embd, s.n_vocab, type);
  if (s.rope_freqs) add_vector("rope_freqs.weight", head_dim / 2, 1.0f, 8.0f);
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add_vector(p + "attn_norm.weight", s.n_embd, 0.5f, 1.5f);
    add_matrix(p + "attn_q.weight", s.n_embd, s.n_embd, type);
    add_matrix(p + "attn_k.weight", s.n_embd, kv_dim, type);
    add_matrix(p + "attn_v.weight", s.n_embd, kv_dim, type);
    add_matrix(p + "attn_output.weight", s.n_embd, s.n_embd, type);
    add_vector(p + "ffn_norm.weight", s.n_embd, 0.5f, 1.5f);
    add_matrix(p + "ffn_gate.weight", s.n_embd, s.n_ff, type);
    add_matrix(p + "ffn_up.weight", s.n_embd, s.n_ff, type);
    add_matrix(p + "ffn_down.weight", s.n_ff, s.n_embd, type);
  }
  writer.write(path);
  return model;
}

namespace {

using Vec = std::vector<double>;

// y = W x for W stored GGML-style: n_out rows of n_in values. x is first rounded to float and,
// for quantized weights, through the activation type the engine's matmul quantizes it to (as
// llama.cpp does), so the reference computes the same product exactly.
Vec matvec(TensorType activation, const Matrix& w, const Vec& in) {
  const size_t n_in = in.size();
  Matrix rounded(in.begin(), in.end());
  if (activation != TensorType::F32)
    rounded = decode(encode(rounded, activation), activation, n_in);
  const Vec x(rounded.begin(), rounded.end());
  Vec y(w.size() / n_in, 0.0);
  for (size_t r = 0; r < y.size(); ++r) {
    for (size_t i = 0; i < n_in; ++i) y[r] += static_cast<double>(w[r * n_in + i]) * x[i];
  }
  return y;
}

Vec rms_norm(const Vec& x, const Matrix& weight) {
  double sum = 0.0;
  for (double v : x) sum += v * v;
  const double scale = 1.0 / std::sqrt(sum / static_cast<double>(x.size()) + 1e-5);
  Vec out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * scale * weight[i];
  return out;
}

// Keys and values as the KV cache holds them: rounded to float, then through the cache type.
void round_through_cache(Vec& row, TensorType type) {
  if (type == TensorType::F32) return;
  const Matrix rounded = decode(encode(Matrix(row.begin(), row.end()), type), type, row.size());
  row.assign(rounded.begin(), rounded.end());
}

// Interleaved pairs (2i, 2i+1) rotated by pos * base^(-2i/d) / factor_i.
void rotate(Vec& x, size_t n_head, size_t head_dim, double pos, double base,
            const Matrix* factors) {
  for (size_t h = 0; h < n_head; ++h) {
    for (size_t i = 0; i < head_dim / 2; ++i) {
      double theta =
          pos * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
      if (factors != nullptr) theta /= (*factors)[i];
      double& a = x[h * head_dim + 2 * i];
      double& b = x[h * head_dim + 2 * i + 1];
      const double ra = a * std::cos(theta) - b * std::sin(theta);
      const double rb = a * std::sin(theta) + b * std::cos(theta);
      a = ra;
      b = rb;
    }
  }
}

}  // namespace

std::vector<double> reference_logits(const RandomLlama& model, const std::vector<int32_t>& tokens) {
  const LlamaShape& s = model.shape;
  const auto& t = model.tensors;
  const TensorType act = model.activation;
  const auto n_embd = static_cast<size_t>(s.n_embd);
  const auto head_dim = static_cast<size_t>(s.n_embd / s.n_head);
  const auto n_head = static_cast<size_t>(s.n_head);
  const size_t group = n_head / static_cast<size_t>(s.n_head_kv);
  const Matrix* factors = s.rope_freqs ? &t.at("rope_freqs.weight") : nullptr;
  const double position_scale = s.rope_linear_factor > 0.0f ? 1.0 / s.rope_linear_factor : 1.0;

  std::vector<Vec> x;
  for (int32_t token : tokens) {
    const Matrix& embd = t.at("token_embd.weight");
    x.emplace_back(embd.begin() + static_cast<long>(static_cast<size_t>(token) * n_embd),
                   embd.begin() + static_cast<long>((static_cast<size_t>(token) + 1) * n_embd));
  }
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    std::vector<Vec> q, k, v;
    for (size_t i = 0; i < x.size(); ++i) {
      const Vec xn = rms_norm(x[i], t.at(p + "attn_norm.weight"));
      q.push_back(matvec(act, t.at(p + "attn_q.weight"), xn));
      k.push_back(matvec(act, t.at(p + "attn_k.weight"), xn));
      v.push_back(matvec(act, t.at(p + "attn_v.weight"), xn));
      const double pos = static_cast<double>(i) * position_scale;
      rotate(q.back(), n_head, head_dim, pos, s.rope_base, factors);
      rotate(k.back(), static_cast<size_t>(s.n_head_kv), head_dim, pos, s.rope_base, factors);
      round_through_cache(k.back(), model.cache_key);
      round_through_cache(v.back(), model.cache_value);
    }
    for (size_t i = 0; i < x.size(); ++i) {
      Vec attn(n_embd, 0.0);
      for (size_t h = 0; h < n_head; ++h) {
        const size_t kv = (h / group) * head_dim;
        Vec scores(i + 1);
        double max_score = -1e300;
        for (size_t j = 0; j <= i; ++j) {
          double dot = 0.0;
          for (size_t d = 0; d < head_dim; ++d) dot += q[i][h * head_dim + d] * k[j][kv + d];
          scores[j] = dot / std::sqrt(static_cast<double>(head_dim));
          max_score = std::max(max_score, scores[j]);
        }
        double total = 0.0;
        for (double& sc : scores) total += (sc = std::exp(sc - max_score));
        for (size_t j = 0; j <= i; ++j) {
          for (size_t d = 0; d < head_dim; ++d)
            attn[h * head_dim + d] += scores[j] / total * v[j][kv + d];
        }
      }
      const Vec o = matvec(act, t.at(p + "attn_output.weight"), attn);
      for (size_t d = 0; d < n_embd; ++d) x[i][d] += o[d];
      const Vec xn = rms_norm(x[i], t.at(p + "ffn_norm.weight"));
      Vec gate = matvec(act, t.at(p + "ffn_gate.weight"), xn);
      const Vec up = matvec(act, t.at(p + "ffn_up.weight"), xn);
      for (size_t f = 0; f < gate.size(); ++f)
        gate[f] = gate[f] / (1.0 + std::exp(-gate[f])) * up[f];
      const Vec down = matvec(act, t.at(p + "ffn_down.weight"), gate);
      for (size_t d = 0; d < n_embd; ++d) x[i][d] += down[d];
    }
  }
  const Vec last = rms_norm(x.back(), t.at("output_norm.weight"));
  return matvec(act, t.at(s.tied_output ? "token_embd.weight" : "output.weight"), last);
}

}  // namespace bottega::testing
