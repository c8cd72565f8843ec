#include "model/reference_decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "gguf/gguf.h"
#include "kernels/cpu/vec_dot.h"

namespace bottega::testing {

namespace {

using Vec = std::vector<double>;

constexpr double kPi = 3.14159265358979323846;

// ---------------------------------------------------------------------------------------------
// Rounding, the only places the reference imitates the engine's number formats.

// n floats through a type's encoding and back (quantize, then dequantize).
std::vector<float> round_trip(const std::vector<float>& values, TensorType type,
                              const std::string& what) {
  const TypeTraits& traits = type_traits(type);
  if (traits.quantize == nullptr || traits.dequantize == nullptr)
    throw Error(str("reference: cannot round ", what, " through ", traits.name));
  const auto n = static_cast<int64_t>(values.size());
  if (n % traits.block_size != 0) {
    throw Error(str("reference: ", what, " has ", n, " values, not whole ", traits.name,
                    " blocks of ", traits.block_size));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(n / traits.block_size) * traits.block_bytes);
  traits.quantize(values.data(), bytes.data(), n);
  std::vector<float> out(values.size());
  traits.dequantize(bytes.data(), out.data(), n);
  return out;
}

// x rounded to float and then, unless type is F32, through `type`.
Vec round_through(const Vec& x, TensorType type, const std::string& what) {
  std::vector<float> rounded(x.size());
  for (size_t i = 0; i < x.size(); ++i) rounded[i] = static_cast<float>(x[i]);
  if (type != TensorType::F32) rounded = round_trip(rounded, type, what);
  return Vec(rounded.begin(), rounded.end());
}

// ---------------------------------------------------------------------------------------------
// The math, one small function per operation.

// sum row[i] x[i] over n values, in four interleaved partial sums (for speed; the order is fixed).
double dot(const float* row, const double* x, size_t n) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += static_cast<double>(row[i]) * x[i];
    s1 += static_cast<double>(row[i + 1]) * x[i + 1];
    s2 += static_cast<double>(row[i + 2]) * x[i + 2];
    s3 += static_cast<double>(row[i + 3]) * x[i + 3];
  }
  for (; i < n; ++i) s0 += static_cast<double>(row[i]) * x[i];
  return (s0 + s1) + (s2 + s3);
}

// y = rows [first_row, first_row + n_rows) of tensor `name` (rows of shape[0] values) times `in`.
// `in` is rounded as the engine's matmul rounds its input, by the tensor's stored type.
Vec matvec_rows(const ReferenceModel& m, const std::string& name, const Vec& in, size_t first_row,
                size_t n_rows) {
  const ReferenceTensor& w = m.tensor(name);
  const auto n_in = static_cast<size_t>(w.shape[0]);
  if (n_in != in.size())
    throw Error(str("reference: ", name, " does not take ", in.size(), " inputs"));
  if ((first_row + n_rows) * n_in > w.values.size())
    throw Error(str("reference: ", name, " has no rows ", first_row, " .. ", first_row + n_rows));
  const TensorType activation =
      m.round_activations ? kernels::activation_type(w.type) : TensorType::F32;
  const Vec x = round_through(in, activation, "the input of " + name);
  Vec y(n_rows);
  for (size_t r = 0; r < n_rows; ++r)
    y[r] = dot(w.values.data() + (first_row + r) * n_in, x.data(), n_in);
  return y;
}

// y = W x for W of shape [n_in, n_out].
Vec matvec(const ReferenceModel& m, const std::string& name, const Vec& in) {
  const ReferenceTensor& w = m.tensor(name);
  if (w.shape.size() != 2) throw Error(str("reference: ", name, " is not a matrix"));
  return matvec_rows(m, name, in, 0, static_cast<size_t>(w.shape[1]));
}

// y = W_e x for expert e of a 3-D expert tensor [n_in, n_out, n_expert].
Vec expert_matvec(const ReferenceModel& m, const std::string& name, const Vec& in, size_t e) {
  const ReferenceTensor& w = m.tensor(name);
  if (w.shape.size() != 3) throw Error(str("reference: ", name, " is not a 3-D expert tensor"));
  const auto n_out = static_cast<size_t>(w.shape[1]);
  return matvec_rows(m, name, in, e * n_out, n_out);
}

// v += values [offset, offset + v.size()) of tensor `name` (a bias, or expert e's part of one).
void add_bias(Vec& v, const ReferenceModel& m, const std::string& name, size_t offset = 0) {
  const ReferenceTensor& bias = m.tensor(name);
  if (offset + v.size() > bias.values.size())
    throw Error(str("reference: ", name, " has no values ", offset, " .. ", offset + v.size()));
  for (size_t i = 0; i < v.size(); ++i) v[i] += static_cast<double>(bias.values[offset + i]);
}

// v / sqrt(mean(v^2) + eps) * weight, over n values starting at `offset` (a head, or all of v).
void rms_norm_in_place(Vec& v, size_t offset, size_t n, const std::vector<float>& weight,
                       double eps) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += v[offset + i] * v[offset + i];
  const double scale = 1.0 / std::sqrt(sum / static_cast<double>(n) + eps);
  for (size_t i = 0; i < n; ++i) v[offset + i] *= scale * static_cast<double>(weight[i]);
}

Vec rms_norm(Vec v, const ReferenceModel& m, const std::string& weight_name) {
  const ReferenceTensor& weight = m.tensor(weight_name);
  if (weight.values.size() != v.size())
    throw Error(str("reference: ", weight_name, " does not have ", v.size(), " values"));
  rms_norm_in_place(v, 0, v.size(), weight.values, m.rms_eps);
  return v;
}

double silu(double g) {
  return g / (1.0 + std::exp(-g));
}

double gelu_tanh(double g) {
  return 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (g + 0.044715 * g * g * g)));
}

double softcap(double x, double c) {
  return c * std::tanh(x / c);
}

// The gated FFN's activation of one gate and up value.
double gated(const ReferenceQuirks& quirks, double gate, double up) {
  if (quirks.swiglu_clamp) {  // gpt-oss
    constexpr double kLimit = 7.0;
    constexpr double kAlpha = 1.702;
    const double g = std::min(gate, kLimit);
    const double u = std::clamp(up, -kLimit, kLimit);
    return g / (1.0 + std::exp(-kAlpha * g)) * (u + 1.0);
  }
  return (quirks.gelu ? gelu_tanh(gate) : silu(gate)) * up;
}

// exp(v - max) / sum, over all of v.
Vec softmax(Vec v) {
  const double max_value = *std::max_element(v.begin(), v.end());
  double total = 0.0;
  for (double& value : v) total += (value = std::exp(value - max_value));
  for (double& value : v) value /= total;
  return v;
}

// The mixture-of-experts FFN of layer prefix p for one normalized input xn.
Vec moe_ffn(const ReferenceModel& m, const std::string& p, const Vec& xn) {
  const ReferenceQuirks& quirks = m.quirks;
  const auto n_expert = static_cast<size_t>(m.n_expert);
  const auto n_used = static_cast<size_t>(m.n_expert_used);
  const auto n_ff_exp = static_cast<size_t>(m.n_ff_exp);
  const auto n_embd = static_cast<size_t>(m.n_embd);

  Vec logits = matvec(m, p + "ffn_gate_inp.weight", xn);
  if (quirks.router_bias) add_bias(logits, m, p + "ffn_gate_inp.bias");

  // The k largest logits; the stable sort keeps tied experts in index order (or reverse order).
  std::vector<size_t> chosen(n_expert);
  std::iota(chosen.begin(), chosen.end(), size_t{0});
  if (!quirks.ties_to_lower_expert) std::reverse(chosen.begin(), chosen.end());
  std::stable_sort(chosen.begin(), chosen.end(),
                   [&](size_t a, size_t b) { return logits[a] > logits[b]; });
  chosen.resize(n_used);

  Vec weights(n_used);
  if (quirks.topk_softmax) {
    for (size_t j = 0; j < n_used; ++j) weights[j] = logits[chosen[j]];
    weights = softmax(std::move(weights));
  } else {
    const Vec probabilities = softmax(logits);
    double total = 0.0;
    for (size_t j = 0; j < n_used; ++j) total += (weights[j] = probabilities[chosen[j]]);
    if (quirks.normalize_experts) {
      for (double& w : weights) w /= total;
    }
  }

  Vec out(n_embd, 0.0);
  for (size_t j = 0; j < n_used; ++j) {
    const size_t e = chosen[j];
    Vec gate = expert_matvec(m, p + "ffn_gate_exps.weight", xn, e);
    Vec up = expert_matvec(m, p + "ffn_up_exps.weight", xn, e);
    if (quirks.expert_biases) {
      add_bias(gate, m, p + "ffn_gate_exps.bias", e * n_ff_exp);
      add_bias(up, m, p + "ffn_up_exps.bias", e * n_ff_exp);
    }
    Vec h(n_ff_exp);
    for (size_t f = 0; f < n_ff_exp; ++f) h[f] = gated(quirks, gate[f], up[f]);
    Vec down = expert_matvec(m, p + "ffn_down_exps.weight", h, e);
    if (quirks.expert_biases) add_bias(down, m, p + "ffn_down_exps.bias", e * n_embd);
    for (size_t c = 0; c < n_embd; ++c) out[c] += weights[j] * down[c];
  }
  if (quirks.shared_expert) {
    const Vec gate = matvec(m, p + "ffn_gate_shexp.weight", xn);
    const Vec up = matvec(m, p + "ffn_up_shexp.weight", xn);
    Vec h(gate.size());
    for (size_t f = 0; f < h.size(); ++f) h[f] = gated(quirks, gate[f], up[f]);
    const Vec down = matvec(m, p + "ffn_down_shexp.weight", h);
    const std::vector<float>& gate_weights = m.tensor(p + "ffn_gate_inp_shexp.weight").values;
    double logit = 0.0;
    for (size_t i = 0; i < n_embd; ++i) logit += static_cast<double>(gate_weights[i]) * xn[i];
    const double scale = 1.0 / (1.0 + std::exp(-logit));
    for (size_t c = 0; c < n_embd; ++c) out[c] += scale * down[c];
  }
  return out;
}

// How one layer rotates q and k.
struct Rope {
  double base = 10000.0;
  double position_scale = 1.0;                   // multiplies the position (linear scaling)
  const std::vector<float>* divisors = nullptr;  // per pair, divide theta (n_rot/2 values)
  double mscale = 1.0;  // multiplies the rotated values (phi3 attn_factor, YaRN's 1 + 0.1 ln s)
  // YaRN: pair i turns by theta (1 - r_i) + theta / yarn_factor r_i, with the ramp
  // r_i = clamp((i - yarn_low) / max(0.001, yarn_high - yarn_low), 0, 1). 0: no YaRN.
  double yarn_factor = 0.0;
  double yarn_low = 0.0;
  double yarn_high = 0.0;
};

// YaRN over the model's rope_scaling_factor s and original context L, for RoPE base `base`: the
// ramp runs between the pairs that turn beta_fast and beta_slow times over L.
Rope with_yarn(Rope rope, const ReferenceModel& m) {
  const double n_rot = static_cast<double>(m.n_rot);
  const double n_ctx_orig = static_cast<double>(m.n_ctx_orig);
  const auto corr = [&](double beta) {
    return n_rot * std::log(n_ctx_orig / (beta * 2.0 * kPi)) / (2.0 * std::log(rope.base));
  };
  rope.position_scale = 1.0;
  rope.yarn_factor = m.rope_scaling_factor;
  rope.yarn_low = std::max(0.0, std::floor(corr(m.yarn_beta_fast)));
  rope.yarn_high = std::min(n_rot - 1.0, std::ceil(corr(m.yarn_beta_slow)));
  rope.mscale *= 1.0 + 0.1 * std::log(m.rope_scaling_factor);
  return rope;
}

// Rotates the first n_rot dims of each of n_heads heads of x, at position `pos`.
void apply_rope(Vec& x, size_t n_heads, const ReferenceModel& m, const Rope& rope, int64_t pos) {
  const auto head_dim = static_cast<size_t>(m.head_dim);
  const auto half = static_cast<size_t>(m.n_rot / 2);
  for (size_t h = 0; h < n_heads; ++h) {
    for (size_t i = 0; i < half; ++i) {
      double theta =
          static_cast<double>(pos) * rope.position_scale *
          std::pow(rope.base, -2.0 * static_cast<double>(i) / static_cast<double>(m.n_rot));
      if (rope.divisors != nullptr) theta /= static_cast<double>((*rope.divisors)[i]);
      if (rope.yarn_factor > 0.0) {
        const double ramp = std::clamp((static_cast<double>(i) - rope.yarn_low) /
                                           std::max(0.001, rope.yarn_high - rope.yarn_low),
                                       0.0, 1.0);
        theta = theta * (1.0 - ramp) + theta / rope.yarn_factor * ramp;
      }
      const size_t first = h * head_dim + (m.quirks.neox ? i : 2 * i);
      const size_t second = h * head_dim + (m.quirks.neox ? i + half : 2 * i + 1);
      const double a = x[first];
      const double b = x[second];
      x[first] = (a * std::cos(theta) - b * std::sin(theta)) * rope.mscale;
      x[second] = (a * std::sin(theta) + b * std::cos(theta)) * rope.mscale;
    }
  }
}

std::string layer_prefix(int64_t layer) {
  return "blk." + std::to_string(layer) + ".";
}

// ---------------------------------------------------------------------------------------------
// Loading.

class Keys {
 public:
  Keys(const gguf::File& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

  std::optional<int64_t> get_int(const std::string& suffix) const {
    return file_.get_int(arch_ + "." + suffix);
  }
  std::optional<double> get_float(const std::string& suffix) const {
    return file_.get_float(arch_ + "." + suffix);
  }
  std::optional<std::string> get_string(const std::string& suffix) const {
    return file_.get_string(arch_ + "." + suffix);
  }
  int64_t require_int(const std::string& suffix) const {
    const std::optional<int64_t> value = get_int(suffix);
    if (!value) throw Error(str("reference: ", file_.name(), " has no key ", arch_, ".", suffix));
    return *value;
  }
  double require_float(const std::string& suffix) const {
    const std::optional<double> value = get_float(suffix);
    if (!value) throw Error(str("reference: ", file_.name(), " has no key ", arch_, ".", suffix));
    return *value;
  }

 private:
  const gguf::File& file_;
  std::string arch_;
};

void expect_shape(const ReferenceModel& m, const std::string& name,
                  const std::vector<int64_t>& shape) {
  const ReferenceTensor& t = m.tensor(name);
  if (t.shape != shape) {
    std::string want, got;
    for (int64_t d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
    for (int64_t d : t.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
    throw Error(str("reference: ", name, " has shape [", got, "], expected [", want, "]"));
  }
}

// Checks the shape of every tensor the forward pass will read with the model's quirks.
void check_tensors(const ReferenceModel& m) {
  const int64_t q_dim = m.n_head * m.head_dim;
  const int64_t kv_dim = m.n_head_kv * m.head_dim;
  expect_shape(m, "token_embd.weight", {m.n_embd, m.n_vocab});
  expect_shape(m, "output_norm.weight", {m.n_embd});
  if (m.has("output.weight")) expect_shape(m, "output.weight", {m.n_embd, m.n_vocab});
  if (m.arch == "llama" && m.has("rope_freqs.weight"))
    expect_shape(m, "rope_freqs.weight", {m.n_rot / 2});
  if (m.quirks.long_rope) {
    expect_shape(m, "rope_factors_long.weight", {m.n_rot / 2});
    expect_shape(m, "rope_factors_short.weight", {m.n_rot / 2});
  }
  for (int64_t l = 0; l < m.n_layer; ++l) {
    const std::string p = layer_prefix(l);
    expect_shape(m, p + "attn_norm.weight", {m.n_embd});
    if (m.has(p + "attn_qkv.weight")) {
      expect_shape(m, p + "attn_qkv.weight", {m.n_embd, q_dim + 2 * kv_dim});
    } else {
      expect_shape(m, p + "attn_q.weight", {m.n_embd, q_dim});
      expect_shape(m, p + "attn_k.weight", {m.n_embd, kv_dim});
      expect_shape(m, p + "attn_v.weight", {m.n_embd, kv_dim});
    }
    if (m.quirks.qkv_bias) {
      expect_shape(m, p + "attn_q.bias", {q_dim});
      expect_shape(m, p + "attn_k.bias", {kv_dim});
      expect_shape(m, p + "attn_v.bias", {kv_dim});
    }
    if (m.quirks.qk_norm) {
      expect_shape(m, p + "attn_q_norm.weight", {m.head_dim});
      expect_shape(m, p + "attn_k_norm.weight", {m.head_dim});
    }
    expect_shape(m, p + "attn_output.weight", {q_dim, m.n_embd});
    if (m.quirks.output_bias) expect_shape(m, p + "attn_output.bias", {m.n_embd});
    if (m.quirks.attn_sinks) expect_shape(m, p + "attn_sinks.weight", {m.n_head});
    expect_shape(m, p + m.ffn_norm_weight, {m.n_embd});
    if (m.n_expert > 0) {
      expect_shape(m, p + "ffn_gate_inp.weight", {m.n_embd, m.n_expert});
      if (m.quirks.router_bias) expect_shape(m, p + "ffn_gate_inp.bias", {m.n_expert});
      expect_shape(m, p + "ffn_gate_exps.weight", {m.n_embd, m.n_ff_exp, m.n_expert});
      expect_shape(m, p + "ffn_up_exps.weight", {m.n_embd, m.n_ff_exp, m.n_expert});
      expect_shape(m, p + "ffn_down_exps.weight", {m.n_ff_exp, m.n_embd, m.n_expert});
      if (m.quirks.shared_expert) {
        expect_shape(m, p + "ffn_gate_inp_shexp.weight", {m.n_embd});
        expect_shape(m, p + "ffn_gate_shexp.weight", {m.n_embd, m.n_ff_shexp});
        expect_shape(m, p + "ffn_up_shexp.weight", {m.n_embd, m.n_ff_shexp});
        expect_shape(m, p + "ffn_down_shexp.weight", {m.n_ff_shexp, m.n_embd});
      }
      if (m.quirks.expert_biases) {
        expect_shape(m, p + "ffn_gate_exps.bias", {m.n_ff_exp, m.n_expert});
        expect_shape(m, p + "ffn_up_exps.bias", {m.n_ff_exp, m.n_expert});
        expect_shape(m, p + "ffn_down_exps.bias", {m.n_embd, m.n_expert});
      }
    } else {
      if (m.has(p + "ffn_gate.weight")) {
        expect_shape(m, p + "ffn_gate.weight", {m.n_embd, m.n_ff});
        expect_shape(m, p + "ffn_up.weight", {m.n_embd, m.n_ff});
      } else {
        expect_shape(m, p + "ffn_up.weight", {m.n_embd, 2 * m.n_ff});  // gate rows, then up rows
      }
      expect_shape(m, p + "ffn_down.weight", {m.n_ff, m.n_embd});
    }
    if (m.quirks.post_norms) {
      expect_shape(m, p + "post_attention_norm.weight", {m.n_embd});
      expect_shape(m, p + "post_ffw_norm.weight", {m.n_embd});
    }
  }
}

// The hyper-parameters a quirk needs, checked when the quirk is on (at load, and again before a
// forward pass in case a test switched one on).
void check_quirk_parameters(const ReferenceModel& m) {
  if (m.quirks.attn_softcap && !m.attn_logit_softcap)
    throw Error("reference: attention softcap without " + m.arch + ".attn_logit_softcapping");
  if (m.quirks.final_softcap && !m.final_logit_softcap)
    throw Error("reference: final softcap without " + m.arch + ".final_logit_softcapping");
  const bool any_windowed =
      std::find(m.windowed.begin(), m.windowed.end(), true) != m.windowed.end();
  if (m.quirks.window && any_windowed && (!m.sliding_window || *m.sliding_window <= 0))
    throw Error("reference: sliding window without " + m.arch + ".attention.sliding_window");
  if (m.quirks.long_rope && m.n_ctx_orig <= 0)
    throw Error("reference: phi3 long RoPE without an original context length");
  if (m.quirks.yarn && (m.rope_scaling_factor <= 0.0 || m.n_ctx_orig <= 0 ||
                        m.yarn_beta_fast <= 0.0 || m.yarn_beta_slow <= 0.0)) {
    throw Error(str("reference: YaRN needs a scaling factor (", m.rope_scaling_factor,
                    "), an original context length (", m.n_ctx_orig, ") and positive betas"));
  }
  if (m.n_expert < 0 || (m.n_expert > 0 && (m.n_expert_used < 1 || m.n_expert_used > m.n_expert ||
                                            m.n_ff_exp <= 0))) {
    throw Error(str("reference: bad mixture of experts: ", m.n_expert_used, " used of ", m.n_expert,
                    ", ", m.n_ff_exp, " wide"));
  }
  if (static_cast<int64_t>(m.windowed.size()) != m.n_layer)
    throw Error("reference: windowed has one entry per layer");
}

}  // namespace

const ReferenceTensor& ReferenceModel::tensor(const std::string& name) const {
  const auto it = tensors.find(name);
  if (it == tensors.end()) throw Error(str("reference: the model has no tensor ", name));
  return it->second;
}

ReferenceModel load_reference(const std::filesystem::path& gguf_path) {
  const gguf::File file = gguf::File::open(gguf_path);
  ReferenceModel m;
  const std::optional<std::string> arch = file.get_string("general.architecture");
  if (!arch) throw Error(str("reference: ", file.name(), " has no general.architecture"));
  m.arch = *arch;
  const std::vector<std::string> known = {"llama",  "qwen2",  "qwen3", "qwen2moe", "qwen3moe",
                                          "gemma2", "gemma3", "phi3",  "gpt-oss"};
  if (std::find(known.begin(), known.end(), m.arch) == known.end())
    throw Error(str("reference: unknown architecture '", m.arch, "'"));

  for (const gguf::TensorInfo& info : file.tensors()) {
    const TypeTraits& traits = type_traits(info.type);
    if (traits.dequantize == nullptr) {
      throw Error(str("reference: ", info.name, " is ", traits.name, ", which has no dequantizer"));
    }
    ReferenceTensor t{info.type, info.shape,
                      std::vector<float>(static_cast<size_t>(info.n_elements()))};
    traits.dequantize(file.tensor_data(info).data(), t.values.data(), info.n_elements());
    m.tensors.emplace(info.name, std::move(t));
  }

  const Keys keys(file, m.arch);
  m.n_embd = keys.require_int("embedding_length");
  m.n_layer = keys.require_int("block_count");
  m.n_expert = keys.get_int("expert_count").value_or(0);
  if (m.n_expert > 0) {
    if (m.arch != "llama" && m.arch != "qwen2moe" && m.arch != "qwen3moe" && m.arch != "gpt-oss")
      throw Error(str("reference: ", m.arch, " with experts is not supported"));
    m.n_expert_used = keys.require_int("expert_used_count");
    // Mixtral files give the experts' width as feed_forward_length only.
    const std::optional<int64_t> n_ff = keys.get_int("feed_forward_length");
    m.n_ff_exp = keys.get_int("expert_feed_forward_length").value_or(n_ff.value_or(0));
    m.n_ff = n_ff.value_or(m.n_ff_exp);
    m.n_ff_shexp = keys.get_int("expert_shared_feed_forward_length").value_or(0);
  } else {
    if (m.arch == "qwen2moe" || m.arch == "qwen3moe" || m.arch == "gpt-oss")
      throw Error(str("reference: ", file.name(), " has no ", m.arch, ".expert_count"));
    m.n_ff = keys.require_int("feed_forward_length");
  }
  m.n_head = keys.require_int("attention.head_count");
  m.n_head_kv = keys.get_int("attention.head_count_kv").value_or(m.n_head);
  if (m.n_embd <= 0 || m.n_layer <= 0 || m.n_ff <= 0 || m.n_head <= 0 || m.n_head_kv <= 0 ||
      m.n_head % m.n_head_kv != 0) {
    throw Error(str("reference: bad shape: n_embd ", m.n_embd, ", n_layer ", m.n_layer, ", n_ff ",
                    m.n_ff, ", n_head ", m.n_head, ", n_head_kv ", m.n_head_kv));
  }
  if (const std::optional<int64_t> key_length = keys.get_int("attention.key_length")) {
    m.head_dim = *key_length;
  } else {
    if (m.n_embd % m.n_head != 0) throw Error("reference: n_embd is not a multiple of n_head");
    m.head_dim = m.n_embd / m.n_head;
  }
  if (keys.get_int("attention.value_length").value_or(m.head_dim) != m.head_dim)
    throw Error("reference: value_length differs from key_length");
  m.n_rot = keys.get_int("rope.dimension_count").value_or(m.head_dim);
  if (m.head_dim <= 0 || m.n_rot < 0 || m.n_rot % 2 != 0 || m.n_rot > m.head_dim)
    throw Error(str("reference: bad head_dim ", m.head_dim, " / n_rot ", m.n_rot));
  const std::optional<double> eps = keys.get_float("attention.layer_norm_rms_epsilon");
  if (!eps && m.arch != "llama")
    throw Error(str("reference: ", file.name(), " has no attention.layer_norm_rms_epsilon"));
  m.rms_eps = eps.value_or(1e-5);
  m.rope_base = keys.get_float("rope.freq_base").value_or(10000.0);

  // RoPE scaling: linear (llama.cpp's default type when a factor is given), YaRN or none.
  const std::string scaling = keys.get_string("rope.scaling.type").value_or("linear");
  const double factor = keys.get_float("rope.scaling.factor").value_or(0.0);
  if (scaling == "linear") {
    if (factor != 0.0) m.rope_position_scale = 1.0 / factor;
  } else if (scaling == "yarn") {
    if (factor <= 0.0) throw Error(str("reference: YaRN RoPE scaling without a factor"));
    m.rope_scaling_factor = factor;
    m.rope_position_scale = 1.0 / factor;
    m.yarn_beta_fast = keys.get_float("rope.scaling.yarn_beta_fast").value_or(32.0);
    m.yarn_beta_slow = keys.get_float("rope.scaling.yarn_beta_slow").value_or(1.0);
  } else if (scaling == "none" || (scaling == "longrope" && m.arch == "phi3")) {
    if (factor != 0.0 && factor != 1.0)
      throw Error(str("reference: RoPE scaling '", scaling, "' with factor ", factor));
  } else {
    throw Error(str("reference: RoPE scaling '", scaling, "' is not supported"));
  }
  m.attn_logit_softcap = keys.get_float("attn_logit_softcapping");
  m.final_logit_softcap = keys.get_float("final_logit_softcapping");
  m.sliding_window = keys.get_int("attention.sliding_window");
  m.rope_attn_factor = keys.get_float("rope.scaling.attn_factor").value_or(1.0);
  m.n_ctx_orig = keys.get_int("rope.scaling.original_context_length")
                     .value_or(keys.get_int("context_length").value_or(0));

  const ReferenceTensor& embd = m.tensor("token_embd.weight");
  if (embd.shape.size() != 2) throw Error("reference: token_embd.weight is not a matrix");
  m.n_vocab = embd.shape[1];

  m.attn_scale = 1.0 / std::sqrt(static_cast<double>(m.head_dim));
  if ((m.arch == "gemma2" && m.n_layer == 46) || (m.arch == "gemma3" && m.n_layer == 62))
    m.attn_scale = 1.0 / std::sqrt(static_cast<double>(m.n_embd / m.n_head));  // as llama.cpp

  ReferenceQuirks& q = m.quirks;
  m.windowed.assign(static_cast<size_t>(m.n_layer), false);
  q.yarn = scaling == "yarn";
  if (m.arch == "llama") {
    q.window = m.sliding_window.has_value();
    if (q.window) m.windowed.assign(m.windowed.size(), true);
    q.normalize_experts = m.n_expert > 0;  // Mixtral
  } else if (m.arch == "qwen2") {
    q.qkv_bias = q.neox = true;
  } else if (m.arch == "qwen3") {
    q.qk_norm = q.neox = true;
  } else if (m.arch == "qwen2moe") {
    q.qkv_bias = q.neox = q.shared_expert = true;
  } else if (m.arch == "qwen3moe") {
    q.qk_norm = q.neox = q.normalize_experts = true;
  } else if (m.arch == "gpt-oss") {
    q.qkv_bias = q.output_bias = q.attn_sinks = q.neox = q.window = true;
    q.topk_softmax = q.router_bias = q.expert_biases = q.swiglu_clamp = true;
    for (size_t l = 0; l < m.windowed.size(); ++l) m.windowed[l] = l % 2 == 0;
    m.ffn_norm_weight = "post_attention_norm.weight";
  } else if (m.arch == "gemma2") {
    q.embed_scale = q.gelu = q.post_norms = q.attn_softcap = q.final_softcap = q.window = true;
    q.neox = true;
    for (size_t l = 0; l < m.windowed.size(); ++l) m.windowed[l] = l % 2 == 0;
  } else if (m.arch == "gemma3") {
    q.embed_scale = q.gelu = q.post_norms = q.qk_norm = q.window = q.local_rope_base = true;
    q.neox = true;
    q.attn_softcap = m.attn_logit_softcap.has_value();
    q.final_softcap = m.final_logit_softcap.has_value();
    for (size_t l = 0; l < m.windowed.size(); ++l) m.windowed[l] = l % 6 < 5;
  } else if (m.arch == "phi3") {
    q.neox = true;
    q.window = m.sliding_window.has_value();
    if (q.window) m.windowed.assign(m.windowed.size(), true);
    q.long_rope = m.has("rope_factors_long.weight") || m.has("rope_factors_short.weight");
  }
  check_quirk_parameters(m);
  check_tensors(m);
  return m;
}

std::vector<std::vector<double>> reference_logits(const ReferenceModel& m,
                                                  const std::vector<int32_t>& tokens,
                                                  int64_t n_ctx) {
  check_quirk_parameters(m);
  check_tensors(m);
  if (static_cast<int64_t>(tokens.size()) > n_ctx)
    throw Error(str("reference: ", tokens.size(), " tokens do not fit a context of ", n_ctx));
  const ReferenceQuirks& quirks = m.quirks;
  const auto n_embd = static_cast<size_t>(m.n_embd);
  const auto n_head = static_cast<size_t>(m.n_head);
  const auto n_head_kv = static_cast<size_t>(m.n_head_kv);
  const auto head_dim = static_cast<size_t>(m.head_dim);
  const size_t q_dim = n_head * head_dim;
  const size_t kv_dim = n_head_kv * head_dim;
  const size_t group = n_head / n_head_kv;  // query heads per KV head
  const auto n_ff = static_cast<size_t>(m.n_ff);
  const size_t n_tokens = tokens.size();

  // RoPE of the file's global layers; gemma3's windowed layers change base and scaling.
  Rope global_rope{m.rope_base, m.rope_position_scale, nullptr, 1.0};
  if (m.arch == "llama" && m.has("rope_freqs.weight"))
    global_rope.divisors = &m.tensor("rope_freqs.weight").values;
  if (quirks.long_rope) {
    const char* name =
        n_ctx > m.n_ctx_orig ? "rope_factors_long.weight" : "rope_factors_short.weight";
    global_rope.divisors = &m.tensor(name).values;
    global_rope.mscale = m.rope_attn_factor;
  }
  Rope local_rope = global_rope;
  if (quirks.local_rope_base) {  // no scaling, YaRN included
    local_rope.base = m.local_rope_base;
    local_rope.position_scale = 1.0;
  }
  if (quirks.yarn) {
    global_rope = with_yarn(global_rope, m);
    if (!quirks.local_rope_base) local_rope = global_rope;
  }

  // The residual stream, one row per position.
  const ReferenceTensor& embd = m.tensor("token_embd.weight");
  std::vector<Vec> x;
  for (int32_t token : tokens) {
    if (token < 0 || token >= m.n_vocab)
      throw Error(str("reference: token ", token, " is outside the vocabulary"));
    const float* row = embd.values.data() + static_cast<size_t>(token) * n_embd;
    Vec e(row, row + n_embd);
    if (quirks.embed_scale) {
      for (double& v : e) v *= std::sqrt(static_cast<double>(m.n_embd));
    }
    x.push_back(std::move(e));
  }

  for (int64_t l = 0; l < m.n_layer; ++l) {
    const std::string p = layer_prefix(l);
    const bool windowed = m.windowed[static_cast<size_t>(l)];
    const Rope& rope = windowed ? local_rope : global_rope;

    // Queries, keys and values of every position.
    std::vector<Vec> q(n_tokens), k(n_tokens), v(n_tokens);
    for (size_t i = 0; i < n_tokens; ++i) {
      const Vec xn = rms_norm(x[i], m, p + "attn_norm.weight");
      if (m.has(p + "attn_qkv.weight")) {
        const Vec qkv = matvec(m, p + "attn_qkv.weight", xn);
        q[i].assign(qkv.begin(), qkv.begin() + static_cast<ptrdiff_t>(q_dim));
        k[i].assign(qkv.begin() + static_cast<ptrdiff_t>(q_dim),
                    qkv.begin() + static_cast<ptrdiff_t>(q_dim + kv_dim));
        v[i].assign(qkv.begin() + static_cast<ptrdiff_t>(q_dim + kv_dim), qkv.end());
      } else {
        q[i] = matvec(m, p + "attn_q.weight", xn);
        k[i] = matvec(m, p + "attn_k.weight", xn);
        v[i] = matvec(m, p + "attn_v.weight", xn);
      }
      if (quirks.qkv_bias) {
        for (auto [vec, name] : {std::pair{&q[i], "attn_q.bias"}, std::pair{&k[i], "attn_k.bias"},
                                 std::pair{&v[i], "attn_v.bias"}}) {
          const ReferenceTensor& bias = m.tensor(p + name);
          for (size_t d = 0; d < vec->size(); ++d) (*vec)[d] += static_cast<double>(bias.values[d]);
        }
      }
      if (quirks.qk_norm) {
        const ReferenceTensor& q_norm = m.tensor(p + "attn_q_norm.weight");
        const ReferenceTensor& k_norm = m.tensor(p + "attn_k_norm.weight");
        for (size_t h = 0; h < n_head; ++h)
          rms_norm_in_place(q[i], h * head_dim, head_dim, q_norm.values, m.rms_eps);
        for (size_t h = 0; h < n_head_kv; ++h)
          rms_norm_in_place(k[i], h * head_dim, head_dim, k_norm.values, m.rms_eps);
      }
      apply_rope(q[i], n_head, m, rope, static_cast<int64_t>(i));
      apply_rope(k[i], n_head_kv, m, rope, static_cast<int64_t>(i));
      k[i] = round_through(k[i], m.cache_key, "a cached key row");
      v[i] = round_through(v[i], m.cache_value, "a cached value row");
    }

    for (size_t i = 0; i < n_tokens; ++i) {
      // Attention of position i over the positions it sees.
      size_t first = 0;
      if (quirks.window && windowed) {
        const auto w = static_cast<size_t>(*m.sliding_window);
        if (i >= w) first = i - w + 1;
      }
      Vec attn(q_dim, 0.0);
      const std::vector<float>* sinks =
          quirks.attn_sinks ? &m.tensor(p + "attn_sinks.weight").values : nullptr;
      for (size_t h = 0; h < n_head; ++h) {
        const size_t qo = h * head_dim;
        const size_t ko = (h / group) * head_dim;
        Vec scores;
        for (size_t j = first; j <= i; ++j) {
          double dot = 0.0;
          for (size_t d = 0; d < head_dim; ++d) dot += q[i][qo + d] * k[j][ko + d];
          double score = dot * m.attn_scale;
          if (quirks.attn_softcap) score = softcap(score, *m.attn_logit_softcap);
          scores.push_back(score);
        }
        // A sink is a score without a value: it joins the denominator only.
        const double sink = sinks != nullptr ? static_cast<double>((*sinks)[h])
                                             : -std::numeric_limits<double>::infinity();
        const double max_score = std::max(*std::max_element(scores.begin(), scores.end()), sink);
        double total = sinks != nullptr ? std::exp(sink - max_score) : 0.0;
        for (double& s : scores) total += (s = std::exp(s - max_score));
        for (size_t j = first; j <= i; ++j) {
          const double weight = scores[j - first] / total;
          for (size_t d = 0; d < head_dim; ++d) attn[qo + d] += weight * v[j][ko + d];
        }
      }
      Vec o = matvec(m, p + "attn_output.weight", attn);
      if (quirks.output_bias) add_bias(o, m, p + "attn_output.bias");
      if (quirks.post_norms) o = rms_norm(std::move(o), m, p + "post_attention_norm.weight");
      for (size_t d = 0; d < n_embd; ++d) x[i][d] += o[d];

      // Gated feed-forward, dense or a mixture of experts.
      const Vec xn = rms_norm(x[i], m, p + m.ffn_norm_weight);
      Vec d;
      if (m.n_expert > 0) {
        d = moe_ffn(m, p, xn);
      } else {
        Vec gate, up;
        if (m.has(p + "ffn_gate.weight")) {
          gate = matvec(m, p + "ffn_gate.weight", xn);
          up = matvec(m, p + "ffn_up.weight", xn);
        } else {
          const Vec gate_up = matvec(m, p + "ffn_up.weight", xn);  // phi3: gate rows, then up
          gate.assign(gate_up.begin(), gate_up.begin() + static_cast<ptrdiff_t>(n_ff));
          up.assign(gate_up.begin() + static_cast<ptrdiff_t>(n_ff), gate_up.end());
        }
        Vec h(n_ff);
        for (size_t f = 0; f < n_ff; ++f) h[f] = gated(quirks, gate[f], up[f]);
        d = matvec(m, p + "ffn_down.weight", h);
      }
      if (quirks.post_norms) d = rms_norm(std::move(d), m, p + "post_ffw_norm.weight");
      for (size_t c = 0; c < n_embd; ++c) x[i][c] += d[c];
    }
  }

  const std::string head = m.has("output.weight") ? "output.weight" : "token_embd.weight";
  std::vector<std::vector<double>> logits;
  for (size_t i = 0; i < n_tokens; ++i) {
    Vec row = matvec(m, head, rms_norm(x[i], m, "output_norm.weight"));
    if (quirks.final_softcap) {
      for (double& value : row) value = softcap(value, *m.final_logit_softcap);
    }
    logits.push_back(std::move(row));
  }
  return logits;
}

}  // namespace bottega::testing
