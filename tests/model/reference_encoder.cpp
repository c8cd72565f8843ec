#include "model/reference_encoder.h"

#include <cmath>
#include <stdexcept>

#include "gguf/gguf.h"
#include "kernels/cpu/vec_dot.h"

namespace bottega::testing {
namespace {

using Vec = std::vector<double>;

const ReferenceEncoder::Tensor& tensor(const ReferenceEncoder& m, const std::string& name) {
  const auto it = m.tensors.find(name);
  if (it == m.tensors.end()) throw std::runtime_error("reference: no tensor " + name);
  return it->second;
}

int64_t key(const gguf::File& file, const std::string& arch, const std::string& name) {
  const auto value = file.get_int(arch + "." + name);
  if (!value) throw std::runtime_error("reference: no key " + arch + "." + name);
  return *value;
}

// x rounded to float and, for quantized weights, through the type matmul gives its input.
Vec round_input(const Vec& x, TensorType weight, bool round_activations) {
  std::vector<float> f(x.begin(), x.end());
  const TensorType type = round_activations ? kernels::activation_type(weight) : TensorType::F32;
  if (type != TensorType::F32) {
    const TypeTraits& traits = type_traits(type);
    std::vector<uint8_t> bytes(f.size() / static_cast<size_t>(traits.block_size) *
                               traits.block_bytes);
    traits.quantize(f.data(), bytes.data(), static_cast<int64_t>(f.size()));
    traits.dequantize(bytes.data(), f.data(), static_cast<int64_t>(f.size()));
  }
  return Vec(f.begin(), f.end());
}

// y = W x (+ b when the file has the bias), W stored GGML-style (rows of shape[0] values).
Vec affine(const ReferenceEncoder& m, const std::string& name, const Vec& in) {
  const auto& w = tensor(m, name + ".weight");
  const auto bias = m.tensors.find(name + ".bias");
  const Vec x = round_input(in, w.type, m.round_activations);
  const auto n_in = static_cast<size_t>(w.shape[0]);
  Vec y(w.values.size() / n_in);
  for (size_t r = 0; r < y.size(); ++r) {
    double s = bias != m.tensors.end() ? bias->second.values[r] : 0.0;
    for (size_t i = 0; i < n_in; ++i) s += static_cast<double>(w.values[r * n_in + i]) * x[i];
    y[r] = s;
  }
  return y;
}

Vec layer_norm(const ReferenceEncoder& m, const std::string& name, const Vec& x) {
  const auto& w = tensor(m, name + ".weight");
  const auto& b = tensor(m, name + ".bias");
  double mean = 0.0, var = 0.0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    y[i] = (x[i] - mean) / std::sqrt(var + m.eps) * w.values[i] + b.values[i];
  }
  return y;
}

double gelu(double x, bool erf) {
  if (erf) return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  const double c = std::sqrt(2.0 / 3.14159265358979323846);
  return 0.5 * x * (1.0 + std::tanh(c * (x + 0.044715 * x * x * x)));
}

double silu(double x) {
  return x / (1.0 + std::exp(-x));
}

// Rotates every head of x by position pos: pairs (i, i + d/2) (NeoX) or (2i, 2i + 1), pair i
// turning by pos * base^(-2i/d).
void rotate(const ReferenceEncoder& m, Vec& x, size_t pos) {
  const auto d = static_cast<size_t>(m.n_embd / m.n_head);
  for (size_t h = 0; h < static_cast<size_t>(m.n_head); ++h) {
    for (size_t i = 0; i < d / 2; ++i) {
      const double theta =
          static_cast<double>(pos) *
          std::pow(m.rope_base, -2.0 * static_cast<double>(i) / static_cast<double>(d));
      const size_t a = h * d + (m.quirks.neox ? i : 2 * i);
      const size_t b = h * d + (m.quirks.neox ? i + d / 2 : 2 * i + 1);
      const double x0 = x[a], x1 = x[b];
      x[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
      x[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
    }
  }
}

Vec slice(const Vec& v, size_t begin, size_t count) {
  return Vec(v.begin() + static_cast<std::ptrdiff_t>(begin),
             v.begin() + static_cast<std::ptrdiff_t>(begin + count));
}

Vec add(Vec a, const Vec& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

// Attention output of token t over the tokens [first, first + count).
Vec attention(const ReferenceEncoder& m, const std::vector<Vec>& q, const std::vector<Vec>& k,
              const std::vector<Vec>& v, size_t t, size_t first, size_t count) {
  const auto head_dim = static_cast<size_t>(m.n_embd / m.n_head);
  Vec out(static_cast<size_t>(m.n_embd), 0.0);
  for (size_t h = 0; h < static_cast<size_t>(m.n_head); ++h) {
    Vec scores(count);
    double best = -INFINITY;
    for (size_t j = 0; j < count; ++j) {
      double s = 0.0;
      for (size_t d = 0; d < head_dim; ++d)
        s += q[t][h * head_dim + d] * k[first + j][h * head_dim + d];
      scores[j] = s / std::sqrt(static_cast<double>(head_dim));
      best = std::max(best, scores[j]);
    }
    double total = 0.0;
    for (double& s : scores) total += (s = std::exp(s - best));
    for (size_t j = 0; j < count; ++j) {
      for (size_t d = 0; d < head_dim; ++d)
        out[h * head_dim + d] += scores[j] / total * v[first + j][h * head_dim + d];
    }
  }
  return out;
}

}  // namespace

ReferenceEncoder load_reference_encoder(const std::filesystem::path& path) {
  const gguf::File file = gguf::File::open(path);
  ReferenceEncoder m;
  m.arch = file.get_string("general.architecture").value_or("");
  if (m.arch != "bert" && m.arch != "nomic-bert")
    throw std::runtime_error("reference: not a bert or nomic-bert file");
  m.n_embd = key(file, m.arch, "embedding_length");
  m.n_layer = key(file, m.arch, "block_count");
  m.n_head = key(file, m.arch, "attention.head_count");
  m.n_ff = key(file, m.arch, "feed_forward_length");
  m.n_ctx = key(file, m.arch, "context_length");
  m.pooling = key(file, m.arch, "pooling_type");
  m.eps = file.get_float(m.arch + ".attention.layer_norm_epsilon").value();
  m.rope_base = file.get_float(m.arch + ".rope.freq_base").value_or(10000.0);
  for (const gguf::TensorInfo& info : file.tensors()) {
    ReferenceEncoder::Tensor& t = m.tensors[info.name];
    t.type = info.type;
    t.shape = info.shape;
    t.values.resize(static_cast<size_t>(info.n_elements()));
    type_traits(info.type).dequantize(file.tensor_data(info).data(), t.values.data(),
                                      info.n_elements());
  }
  m.n_vocab = tensor(m, "token_embd.weight").shape[1];
  return m;
}

std::vector<std::vector<double>> reference_embeddings(const ReferenceEncoder& m,
                                                      const std::vector<std::vector<int32_t>>& in,
                                                      bool mean_pooling, bool normalize) {
  const auto e = static_cast<size_t>(m.n_embd);
  std::vector<Vec> x;
  std::vector<size_t> pos, first, count;  // per token: its position and its input's rows
  size_t start = 0;
  for (const auto& input : in) {
    for (size_t j = 0; j < input.size(); ++j) {
      Vec row(e);
      for (size_t d = 0; d < e; ++d) {
        row[d] = tensor(m, "token_embd.weight").values[static_cast<size_t>(input[j]) * e + d];
        if (m.quirks.token_type) row[d] += tensor(m, "token_types.weight").values[d];
        if (m.quirks.positions && m.arch == "bert")
          row[d] += tensor(m, "position_embd.weight").values[j * e + d];
      }
      x.push_back(layer_norm(m, "token_embd_norm", row));
      pos.push_back(j);
      first.push_back(m.quirks.attention_within_input ? start : 0);
      count.push_back(input.size());
    }
    start += input.size();
  }
  if (!m.quirks.attention_within_input) std::fill(count.begin(), count.end(), x.size());
  for (int64_t l = 0; l < m.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    std::vector<Vec> q, k, v;
    for (size_t t = 0; t < x.size(); ++t) {
      if (m.arch == "bert") {
        q.push_back(affine(m, p + "attn_q", x[t]));
        k.push_back(affine(m, p + "attn_k", x[t]));
        v.push_back(affine(m, p + "attn_v", x[t]));
        continue;
      }
      const Vec qkv = affine(m, p + "attn_qkv", x[t]);
      q.push_back(slice(qkv, 0, e));
      k.push_back(slice(qkv, e, e));
      v.push_back(slice(qkv, 2 * e, e));
      if (m.quirks.positions) {
        rotate(m, q.back(), pos[t]);
        rotate(m, k.back(), pos[t]);
      }
    }
    for (size_t t = 0; t < x.size(); ++t) {
      const Vec a = attention(m, q, k, v, t, first[t], count[t]);
      Vec h = add(x[t], affine(m, p + "attn_output", a));
      if (m.quirks.post_norms) h = layer_norm(m, p + "attn_output_norm", h);
      Vec up = affine(m, p + "ffn_up", h);
      if (m.arch == "bert") {
        for (double& u : up) u = gelu(u, m.quirks.gelu_erf);
      } else {
        const Vec gate = affine(m, p + "ffn_gate", h);
        for (size_t i = 0; i < up.size(); ++i) up[i] *= silu(gate[i]);
      }
      Vec out = add(h, affine(m, p + "ffn_down", up));
      if (m.quirks.post_norms) out = layer_norm(m, p + "layer_output_norm", out);
      x[t] = out;
    }
  }
  std::vector<std::vector<double>> result;
  size_t t = 0;
  for (const auto& input : in) {
    Vec pooled(e, 0.0);
    const size_t n = mean_pooling ? input.size() : 1;
    for (size_t j = 0; j < n; ++j) {
      for (size_t d = 0; d < e; ++d) pooled[d] += x[t + j][d] / static_cast<double>(n);
    }
    t += input.size();
    double norm = 0.0;
    for (double p : pooled) norm += p * p;
    if (normalize) {
      for (double& p : pooled) p /= std::sqrt(norm);
    }
    result.push_back(pooled);
  }
  return result;
}

}  // namespace bottega::testing
