// Every op of the backend boundary (backend/backend.h), on every backend built in, against plain
// double-precision references written here, on random data (never zeros) with odd sizes.
//
// Bounds, per op:
// - rms_norm, glu, rope, softcap, add: 1e-5 relative to the largest magnitude involved (float32
//   rounding of a few operations per value; GELU-tanh and exp-based activations 1e-5 absolute on
//   values of order 1).
// - matmul, get_rows and the mixture of experts: the weights as the type's reference dequantizer
//   gives them. A backend may multiply float activations or quantize them first to the type the
//   CPU's dot product wants (Q8_0, Q8_1, Q8_K); the result must lie within 1e-4 * S of the product
//   with either (S = sum |w_i x_i|), 1e-3 * S where the activation type stores its block sums as
//   halves (Q8_1). 1e-4 covers float sums of 512 products (512 * 2^-24 = 3e-5).
// - attention: keys and values rounded through the cache type's reference codec, then softmax in
//   double; 1e-4 absolute on outputs of order 1 (float exp and sums over at most 40 positions).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/types.h"

#ifdef BOTTEGA_HAS_VULKAN
#include "backend/vulkan/vulkan_backend.h"
#endif

namespace bottega::backend {
namespace {

// The CPU, and the first Vulkan device where the Vulkan backend is built (lavapipe in CI, where a
// missing device fails the Vulkan tests), once as it runs (int8 dot products for quantized
// weights where the device has them) and once with float activations throughout
// (vulkan0_float); BOTTEGA_VULKAN_TESTS=skip leaves them out on a machine without one. Names
// only: listing the tests opens no device.
std::vector<std::string> backends_under_test() {
  std::vector<std::string> out = {"cpu"};
#ifdef BOTTEGA_HAS_VULKAN
  const char* vulkan = std::getenv("BOTTEGA_VULKAN_TESTS");
  if (vulkan == nullptr || std::string(vulkan) != "skip") {
    out.emplace_back("vulkan0");
    out.emplace_back("vulkan0_float");
  }
#endif
  return out;
}

std::unique_ptr<Backend> open_backend(const std::string& name) {
#ifdef BOTTEGA_HAS_VULKAN
  if (name == "vulkan0") return make_vulkan_backend();
  if (name == "vulkan0_float") return make_vulkan_backend({.integer_dot = false});
#endif
  return name == "cpu" ? make_cpu_backend() : nullptr;
}

// Runs ops that a backend may not have yet: those throw an Error saying so, and the test is then
// skipped for that backend with the message. The CPU runs every op, so there it fails instead.
#define RUN_OR_SKIP_UNWRITTEN(statements)                                              \
  try {                                                                                \
    statements;                                                                        \
  } catch (const Error& error) {                                                       \
    if (backend_->name() == "cpu") throw;                                              \
    GTEST_SKIP() << backend_->name() << " does not run this op yet: " << error.what(); \
  }

std::vector<float> random_values(std::mt19937& rng, int64_t n, float low = -1.0f,
                                 float high = 1.0f) {
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// A backend with what every test needs: a thread pool, a small KV cache and a batch.
class OpsTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    backend_ = open_backend(backends_under_test()[static_cast<size_t>(GetParam())]);
    ASSERT_NE(backend_, nullptr);
  }

  // A batch of n tokens of one sequence at positions 0..n-1, all asking for logits.
  void use_batch(int64_t n) {
    batch_.clear();
    for (int64_t t = 0; t < n; ++t) {
      batch_.push_back({static_cast<int32_t>(t % 7), static_cast<int32_t>(t), 0, true});
    }
  }

  std::unique_ptr<Pass> begin() { return backend_->begin(batch_, tables_, cache_, pool_); }

  std::unique_ptr<Buffer> upload(const std::vector<float>& v) { return backend_->upload(v); }

  std::vector<float> read(Pass& pass, Tensor t) {
    std::vector<float> out(static_cast<size_t>(t.size()));
    pass.read(t, out);
    return out;
  }

  std::unique_ptr<Backend> backend_;
  ThreadPool pool_{3};
  std::vector<BatchToken> batch_;
  std::vector<int32_t> table_{0};
  std::vector<std::span<const int32_t>> tables_{table_};
  KvCache cache_{1, 32, 1, 16};
};

TEST_P(OpsTest, RmsNormOfRowsAndOfStridedViews) {
  std::mt19937 rng(1);
  for (int64_t width : {1, 37, 256}) {
    const int64_t rows = 5;
    use_batch(rows);
    const std::vector<float> x = random_values(rng, rows * 2 * width);
    const std::vector<float> w = random_values(rng, width, 0.5f, 1.5f);
    auto xb = upload(x);
    auto wb = upload(w);
    auto out = backend_->allocate(rows * width);
    auto pass = begin();
    // The second half of each 2*width row, so the input is a strided view.
    const Tensor in = xb->tensor(rows, 2 * width).columns(width, width);
    pass->rms_norm(in, wb->tensor(1, width), out->tensor(rows, width), 1e-5f);
    const std::vector<float> y = read(*pass, out->tensor(rows, width));
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0.0;
      for (int64_t i = 0; i < width; ++i) sum += std::pow(x[r * 2 * width + width + i], 2);
      const double inv = 1.0 / std::sqrt(sum / static_cast<double>(width) + 1e-5);
      for (int64_t i = 0; i < width; ++i) {
        const double expected = x[r * 2 * width + width + i] * inv * w[i];
        ASSERT_NEAR(y[r * width + i], expected, 1e-5 * std::max(1.0, std::fabs(expected)))
            << "width " << width << " row " << r;
      }
    }
  }
}

TEST_P(OpsTest, AddSameShapeAndOneRowBroadcast) {
  std::mt19937 rng(2);
  const int64_t rows = 3, width = 45;
  use_batch(rows);
  const std::vector<float> y0 = random_values(rng, rows * width);
  const std::vector<float> x = random_values(rng, rows * width);
  const std::vector<float> bias = random_values(rng, width);
  auto yb = upload(y0);
  auto xb = upload(x);
  auto bb = upload(bias);
  auto pass = begin();
  pass->add(yb->tensor(rows, width), xb->tensor(rows, width));
  pass->add(yb->tensor(rows, width), bb->tensor(1, width));
  const std::vector<float> y = read(*pass, yb->tensor(rows, width));
  for (int64_t i = 0; i < rows * width; ++i) {
    ASSERT_NEAR(y[i], static_cast<double>(y0[i]) + x[i] + bias[i % width], 1e-6) << i;
  }
}

double reference_activation(const GluParams& p, double g, double u) {
  switch (p.activation) {
    case Activation::kSilu:
      return g / (1.0 + std::exp(-g)) * u;
    case Activation::kGeluTanh:
      return 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g))) * u;
    case Activation::kSwigluClamped: {
      const double gc = std::min(g, static_cast<double>(p.limit));
      const double uc = std::clamp(u, -static_cast<double>(p.limit), static_cast<double>(p.limit));
      return gc / (1.0 + std::exp(-p.alpha * gc)) * (uc + 1.0);
    }
  }
  return 0.0;
}

TEST_P(OpsTest, GatedActivationsOnFusedRows) {
  std::mt19937 rng(3);
  const int64_t rows = 4, n_ff = 67;
  use_batch(rows);
  // Values beyond gpt-oss's limit of 7 on both sides, so the clamps matter.
  const std::vector<float> fused = random_values(rng, rows * 2 * n_ff, -9.0f, 9.0f);
  for (Activation act : {Activation::kSilu, Activation::kGeluTanh, Activation::kSwigluClamped}) {
    const GluParams params{act, 1.702f, 7.0f};
    auto fb = upload(fused);
    auto out = backend_->allocate(rows * n_ff);
    auto pass = begin();
    const Tensor all = fb->tensor(rows, 2 * n_ff);
    pass->glu(params, all.columns(0, n_ff), all.columns(n_ff, n_ff), out->tensor(rows, n_ff));
    const std::vector<float> y = read(*pass, out->tensor(rows, n_ff));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < n_ff; ++i) {
        const double expected =
            reference_activation(params, fused[r * 2 * n_ff + i], fused[r * 2 * n_ff + n_ff + i]);
        ASSERT_NEAR(y[r * n_ff + i], expected, 1e-5 * std::max(1.0, std::fabs(expected)))
            << "activation " << static_cast<int>(act) << " row " << r << " column " << i;
      }
    }
  }
}

// Rotates one head as RoPE defines it, in double.
void reference_rope(double* head, int pos, const RopeParams& p) {
  const int half = p.n_rot / 2;
  double magnitude = p.attn_factor;
  if (p.yarn) magnitude *= 1.0 + 0.1 * std::log(1.0 / p.freq_scale);
  for (int i = 0; i < half; ++i) {
    double unscaled = pos * std::pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_rot);
    if (!p.freq_factors.empty()) unscaled /= p.freq_factors[static_cast<size_t>(i)];
    double theta = unscaled * p.freq_scale;
    if (p.yarn) {
      const double ramp =
          std::clamp((i - static_cast<double>(p.yarn_low)) /
                         std::max(0.001, static_cast<double>(p.yarn_high - p.yarn_low)),
                     0.0, 1.0);
      theta = unscaled * ramp * p.freq_scale + unscaled * (1.0 - ramp);
    }
    const int a = p.style == RopeStyle::kNeox ? i : 2 * i;
    const int b = p.style == RopeStyle::kNeox ? i + half : 2 * i + 1;
    const double x0 = head[a], x1 = head[b];
    head[a] = (x0 * std::cos(theta) - x1 * std::sin(theta)) * magnitude;
    head[b] = (x0 * std::sin(theta) + x1 * std::cos(theta)) * magnitude;
  }
}

TEST_P(OpsTest, RopeStylesFactorsAndYarnAtEveryPosition) {
  std::mt19937 rng(4);
  const int n_head = 3, head_dim = 24;
  const int64_t rows = 9;
  use_batch(rows);
  for (auto& token : batch_) token.pos = token.pos * 37 + 5;  // positions up to 301
  const std::vector<float> factors = random_values(rng, 8, 1.0f, 4.0f);
  std::vector<RopeParams> cases(4);
  cases[0] = {RopeStyle::kInterleaved, head_dim, 10000.0f, 1.0f, {}, 1.0f, false, 0, 0};
  cases[1] = {RopeStyle::kNeox, 16, 500000.0f, 0.25f, factors, 1.19f, false, 0, 0};
  cases[2] = {RopeStyle::kNeox, head_dim, 150000.0f, 1.0f / 32, {}, 1.0f, true, 0, 0};
  kernels::yarn_ramp(head_dim, 150000.0f, 4096, 32.0f, 1.0f, cases[2].yarn_low, cases[2].yarn_high);
  cases[3] = {RopeStyle::kInterleaved, 8, 10000.0f, 1.0f, {}, 1.0f, false, 0, 0};
  for (size_t c = 0; c < cases.size(); ++c) {
    const std::vector<float> x = random_values(rng, rows * n_head * head_dim);
    auto xb = upload(x);
    auto pass = begin();
    pass->rope(xb->tensor(rows, n_head * head_dim), n_head, cases[c]);
    const std::vector<float> y = read(*pass, xb->tensor(rows, n_head * head_dim));
    for (int64_t t = 0; t < rows; ++t) {
      for (int h = 0; h < n_head; ++h) {
        std::vector<double> head(x.begin() + (t * n_head + h) * head_dim,
                                 x.begin() + (t * n_head + h + 1) * head_dim);
        reference_rope(head.data(), batch_[static_cast<size_t>(t)].pos, cases[c]);
        for (int i = 0; i < head_dim; ++i) {
          ASSERT_NEAR(y[(t * n_head + h) * head_dim + i], head[static_cast<size_t>(i)], 2e-5)
              << "case " << c << " token " << t << " head " << h << " value " << i;
        }
      }
    }
  }
}

TEST_P(OpsTest, SoftcapCopyAndLogitRows) {
  std::mt19937 rng(5);
  const int64_t rows = 6, width = 29;
  use_batch(rows);
  batch_[1].logits = batch_[2].logits = batch_[4].logits = false;  // rows 0, 3, 5 want logits
  const std::vector<float> x = random_values(rng, rows * width, -80.0f, 80.0f);
  auto xb = upload(x);
  auto copy = backend_->allocate(rows * width);
  auto picked = backend_->allocate(3 * width);
  auto pass = begin();
  pass->softcap(xb->tensor(rows, width), 30.0f);
  pass->copy(xb->tensor(rows, width), copy->tensor(rows, width));
  pass->logit_rows(copy->tensor(rows, width), picked->tensor(3, width));
  const std::vector<float> y = read(*pass, picked->tensor(3, width));
  const int64_t source_rows[] = {0, 3, 5};
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t i = 0; i < width; ++i) {
      const double expected = 30.0 * std::tanh(x[source_rows[r] * width + i] / 30.0);
      ASSERT_NEAR(y[r * width + i], expected, 1e-5 * 30.0) << "row " << r << " value " << i;
    }
  }
}

// A quantized weight matrix with its reference dequantization.
struct RandomMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // as the reference dequantizer gives them
  WeightMatrix view;
  RandomMatrix(std::mt19937& rng, TensorType type, int64_t n_in, int64_t n_out) {
    const TypeTraits& traits = type_traits(type);
    const std::vector<float> source = random_values(rng, n_in * n_out);
    bytes.resize(row_bytes(type, n_in) * static_cast<size_t>(n_out));
    traits.quantize(source.data(), bytes.data(), n_in * n_out);
    values.resize(source.size());
    traits.dequantize(bytes.data(), values.data(), n_in * n_out);
    view = WeightMatrix{type, n_in, n_out, bytes.data()};
  }
};

// Checks y (n_tokens rows of n_out) against w x with float activations and with activations
// rounded to the CPU's activation type of w's type: either is a valid way to compute it.
void expect_product(const std::vector<float>& y, const std::vector<float>& w,
                    const std::vector<float>& x, int64_t n_in, int64_t n_out, int64_t n_tokens,
                    TensorType type, const std::string& what) {
  const TensorType act = kernels::activation_type(type);
  std::vector<float> rounded = x;
  if (act != TensorType::F32) {
    std::vector<uint8_t> q(row_bytes(act, n_in * n_tokens));
    type_traits(act).quantize(x.data(), q.data(), n_in * n_tokens);
    type_traits(act).dequantize(q.data(), rounded.data(), n_in * n_tokens);
  }
  const double relative = act == TensorType::Q8_1 ? 1e-3 : 1e-4;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < n_out; ++r) {
      double exact = 0.0, quantized = 0.0, magnitude = 0.0;
      for (int64_t i = 0; i < n_in; ++i) {
        const double wi = w[r * n_in + i];
        exact += wi * x[t * n_in + i];
        quantized += wi * rounded[t * n_in + i];
        magnitude += std::fabs(wi * x[t * n_in + i]);
      }
      const double got = y[t * n_out + r];
      const double error = std::min(std::fabs(got - exact), std::fabs(got - quantized));
      ASSERT_LE(error, relative * magnitude + 1e-6)
          << what << ": token " << t << " row " << r << " got " << got << " expected " << exact;
    }
  }
}

std::vector<TensorType> computable_types() {
  std::vector<TensorType> out;
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeTraits* traits = find_type(id);
    if (traits != nullptr && traits->quantize != nullptr && traits->dequantize != nullptr) {
      out.push_back(traits->type);
    }
  }
  return out;
}

TEST_P(OpsTest, MatmulOfEveryWeightTypeWithRowAndTokenTails) {
  std::mt19937 rng(6);
  const std::vector<TensorType> types = computable_types();
  ASSERT_GE(types.size(), 12u);  // F32, F16, BF16, Q4_0 ... Q6_K, MXFP4
  for (TensorType type : types) {
    if (backend_->name() == "cpu") {
      ASSERT_TRUE(backend_->supports(type)) << type_name(type);
    }
    if (!backend_->supports(type)) continue;
    // 21 rows: two interleaved groups of 8 and a tail; 512 values: two K-quant super-blocks.
    const int64_t n_in = 512, n_out = 21;
    RandomMatrix m(rng, type, n_in, n_out);
    const Backend::StoredMatrix stored{m.view, Backend::Role::kProjection, 1};
    auto loaded = backend_->load_matrices(nullptr, std::span(&stored, 1));
    ASSERT_EQ(loaded.size(), 1u);
    EXPECT_EQ(loaded[0]->n_out(), n_out);
    for (int64_t n_tokens : {1, 3, 17}) {
      use_batch(n_tokens);
      const std::vector<float> x = random_values(rng, n_tokens * n_in);
      auto xb = upload(x);
      auto yb = backend_->allocate(n_tokens * n_out);
      auto pass = begin();
      pass->matmul(*loaded[0], xb->tensor(n_tokens, n_in), yb->tensor(n_tokens, n_out));
      const std::vector<float> y = read(*pass, yb->tensor(n_tokens, n_out));
      expect_product(y, m.values, x, n_in, n_out, n_tokens, type,
                     std::string(type_name(type)) + " x " + std::to_string(n_tokens));
      // A token's row is the same bits multiplied alone (decode) as in a batch (a prompt, the
      // server's mixed batches), whatever kernel each size takes.
      const int64_t t = n_tokens - 1;
      use_batch(1);
      const std::vector<float> x_alone(x.begin() + t * n_in, x.end());
      auto xa = upload(x_alone);
      auto ya = backend_->allocate(n_out);
      auto alone_pass = begin();
      alone_pass->matmul(*loaded[0], xa->tensor(1, n_in), ya->tensor(1, n_out));
      const std::vector<float> y_alone = read(*alone_pass, ya->tensor(1, n_out));
      EXPECT_TRUE(std::equal(y_alone.begin(), y_alone.end(), y.begin() + t * n_out))
          << type_name(type) << ": the last of " << n_tokens << " tokens differs alone";
    }
  }
}

// The products of one input (a layer's Q, K and V) come out as each matmul alone gives them, on
// one decoding token and on a batch; 40, 8 and 136 rows put the matrices' boundaries inside the
// threads' shares of a shared pass.
TEST_P(OpsTest, MatmulSharedInputGivesEachMatmulsBits) {
  std::mt19937 rng(29);
  const int64_t n_in = 512;
  const std::vector<int64_t> rows = {40, 8, 136};
  for (TensorType type : {TensorType::Q4_0, TensorType::Q4_K, TensorType::F16}) {
    if (!backend_->supports(type)) continue;
    std::vector<RandomMatrix> sources;
    std::vector<Backend::StoredMatrix> stored;
    for (int64_t n_out : rows) sources.emplace_back(rng, type, n_in, n_out);
    for (const RandomMatrix& m : sources) {
      stored.push_back({m.view, Backend::Role::kProjection, 1});
    }
    auto loaded = backend_->load_matrices(nullptr, stored);
    ASSERT_EQ(loaded.size(), rows.size());
    for (int64_t n_tokens : {1, 3}) {
      use_batch(n_tokens);
      const std::vector<float> x = random_values(rng, n_tokens * n_in);
      auto xb = upload(x);
      std::vector<std::unique_ptr<Buffer>> shared, alone;
      std::vector<MatmulProduct> products;
      for (size_t i = 0; i < rows.size(); ++i) {
        shared.push_back(backend_->allocate(n_tokens * rows[i]));
        alone.push_back(backend_->allocate(n_tokens * rows[i]));
        products.push_back({loaded[i].get(), shared[i]->tensor(n_tokens, rows[i])});
      }
      auto pass = begin();
      pass->matmul_shared_input(xb->tensor(n_tokens, n_in), products);
      for (size_t i = 0; i < rows.size(); ++i) {
        pass->matmul(*loaded[i], xb->tensor(n_tokens, n_in), alone[i]->tensor(n_tokens, rows[i]));
      }
      for (size_t i = 0; i < rows.size(); ++i) {
        const std::vector<float> got = read(*pass, shared[i]->tensor(n_tokens, rows[i]));
        const std::vector<float> want = read(*pass, alone[i]->tensor(n_tokens, rows[i]));
        expect_product(got, sources[i].values, x, n_in, rows[i], n_tokens, type,
                       std::string(type_name(type)) + " product " + std::to_string(i));
        EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin()))
            << type_name(type) << " product " << i << ", " << n_tokens << " tokens";
      }
    }
  }
}

TEST_P(OpsTest, GetRowsDequantizesAndScalesEmbeddings) {
  std::mt19937 rng(7);
  for (TensorType type :
       {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K}) {
    ASSERT_TRUE(backend_->supports(type)) << type_name(type);
    const int64_t n_embd = 256, n_vocab = 11;
    RandomMatrix m(rng, type, n_embd, n_vocab);
    const Backend::StoredMatrix stored{m.view, Backend::Role::kEmbedding, 1};
    auto loaded = backend_->load_matrices(nullptr, std::span(&stored, 1));
    use_batch(5);
    for (size_t t = 0; t < batch_.size(); ++t) batch_[t].token = static_cast<int32_t>(10 - 2 * t);
    auto out = backend_->allocate(5 * n_embd);
    auto pass = begin();
    pass->get_rows(*loaded[0], out->tensor(5, n_embd), 1.5f);
    const std::vector<float> y = read(*pass, out->tensor(5, n_embd));
    for (int64_t t = 0; t < 5; ++t) {
      const int64_t token = batch_[static_cast<size_t>(t)].token;
      for (int64_t i = 0; i < n_embd; ++i) {
        ASSERT_NEAR(y[t * n_embd + i], 1.5 * m.values[token * n_embd + i], 1e-6)
            << type_name(type) << " token " << token;
      }
    }
  }
}

// Attention in double over keys and values rounded through the cache's types.
struct AttentionCase {
  TensorType cache_type;
  int32_t window;
  float softcap;
  bool sinks;
  int64_t head_dim = 32;
  int32_t prompt = 23;  // positions of sequence 0; sequence 1 has 14
  int64_t n_head = 4;   // of 2 KV heads
};

TEST_P(OpsTest, PagedAttentionOverTwoSequencesWithWindowSoftcapAndSinks) {
  std::mt19937 rng(8);
  const int64_t n_head_kv = 2;
  const int32_t block = 8;
  // The long prompts (75 and 150 positions, 80-value heads) take a GPU's attention past one
  // chunk of positions and one value per thread, and the CPU's past its chunks of rows; Q4_0 is
  // the coarsest cache type. Groups of 4 query heads per KV head attend in lanes on the CPU, in
  // segments of 512 positions: 1100 positions fold three of them (with a sink in the last); with a
  // window of 85 the tile at 592..599 reaches back into the first segment, which its last four
  // tokens no longer see.
  for (const AttentionCase& c : {AttentionCase{TensorType::F32, 0, 0.0f, false},
                                 AttentionCase{TensorType::F16, 7, 0.0f, true},
                                 AttentionCase{TensorType::Q8_0, 0, 20.0f, false},
                                 AttentionCase{TensorType::F16, 0, 0.0f, true},
                                 AttentionCase{TensorType::Q4_0, 0, 0.0f, true, 80, 75},
                                 AttentionCase{TensorType::F16, 70, 30.0f, false, 80, 75},
                                 AttentionCase{TensorType::F16, 0, 0.0f, true, 64, 150, 8},
                                 AttentionCase{TensorType::F32, 100, 25.0f, false, 32, 150, 8},
                                 AttentionCase{TensorType::Q8_0, 0, 0.0f, true, 64, 150, 8},
                                 AttentionCase{TensorType::F16, 0, 0.0f, true, 32, 1100, 8},
                                 AttentionCase{TensorType::Q8_0, 85, 20.0f, false, 32, 600, 8}}) {
    // The CPU's segments are what the prompts past 256 positions test; a GPU's chunks of 64 are
    // crossed by the 150-position ones, and lavapipe takes seconds over the longer ones.
    if (c.prompt > 256 && backend_->name() != "cpu") continue;
    const int64_t n_head = c.n_head, head_dim = c.head_dim, kv_dim = n_head_kv * head_dim;
    // Sequence 0: a prompt of c.prompt positions; sequence 1: 14 positions. Blocks out of order.
    std::vector<int32_t> table0 = {5,  0,  9,  1,  2,  4,  6,  7,  8,  10, 23,
                                   12, 22, 13, 21, 14, 20, 15, 19, 16, 18, 17};
    const int32_t blocks0 = (c.prompt + block - 1) / block;
    while (static_cast<int32_t>(table0.size()) < blocks0) {
      table0.push_back(static_cast<int32_t>(table0.size()) + 2);  // past blocks 3 and 11
    }
    table0.resize(static_cast<size_t>(blocks0));
    KvCache cache(1, kv_dim, std::max(24, blocks0 + 2), block, {c.cache_type, c.cache_type},
                  n_head_kv);
    const std::vector<int32_t> table1 = {3, 11};
    const std::vector<std::span<const int32_t>> tables = {table0, table1};
    std::vector<BatchToken> batch;
    for (int32_t p = 0; p < c.prompt; ++p) batch.push_back({0, p, 0, false});
    for (int32_t p = 0; p < 14; ++p) batch.push_back({0, p, 1, false});
    const auto n = static_cast<int64_t>(batch.size());
    const std::vector<float> q = random_values(rng, n * n_head * head_dim, -2.0f, 2.0f);
    const std::vector<float> k = random_values(rng, n * kv_dim, -2.0f, 2.0f);
    const std::vector<float> v = random_values(rng, n * kv_dim);
    const std::vector<float> sinks = random_values(rng, n_head, -1.0f, 3.0f);
    auto qb = upload(q);
    auto kb = upload(k);
    auto vb = upload(v);
    auto sb = upload(sinks);
    auto out = backend_->allocate(n * n_head * head_dim);
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    AttentionParams params{n_head, n_head_kv, head_dim, scale, c.window, c.softcap, {}};
    if (c.sinks) params.sinks = sb->tensor(1, n_head);
    std::vector<float> y(static_cast<size_t>(n * n_head * head_dim));
    RUN_OR_SKIP_UNWRITTEN({
      auto pass = backend_->begin(batch, tables, cache, pool_);
      pass->store_kv(0, kb->tensor(n, kv_dim), vb->tensor(n, kv_dim));
      pass->attention(0, params, qb->tensor(n, n_head * head_dim),
                      out->tensor(n, n_head * head_dim));
      pass->read(out->tensor(n, n_head * head_dim), y);
    });
    // Tokens of sequence 0 decoding alone see what they saw in the prompt and get the same bits:
    // the CPU spreads a lone token's positions over its threads (in segments combined after).
    for (const int32_t pos : {c.prompt - 1, c.prompt / 2}) {
      const std::vector<BatchToken> alone = {batch[static_cast<size_t>(pos)]};
      const auto row = static_cast<size_t>(pos * n_head * head_dim);
      auto q_alone = upload(
          std::vector<float>(q.begin() + static_cast<std::ptrdiff_t>(row),
                             q.begin() + static_cast<std::ptrdiff_t>(row) + n_head * head_dim));
      auto out_alone = backend_->allocate(n_head * head_dim);
      std::vector<float> y_alone(static_cast<size_t>(n_head * head_dim));
      auto pass = backend_->begin(alone, tables, cache, pool_);
      pass->attention(0, params, q_alone->tensor(1, n_head * head_dim),
                      out_alone->tensor(1, n_head * head_dim));
      pass->read(out_alone->tensor(1, n_head * head_dim), y_alone);
      ASSERT_EQ(y_alone, std::vector<float>(
                             y.begin() + static_cast<std::ptrdiff_t>(row),
                             y.begin() + static_cast<std::ptrdiff_t>(row) + n_head * head_dim))
          << type_name(c.cache_type) << " position " << pos << " of " << c.prompt;
    }
    // The cache's rounding of keys and values.
    auto rounded = [&](const std::vector<float>& src) {
      const TypeTraits& traits = type_traits(c.cache_type);
      std::vector<uint8_t> bytes(row_bytes(c.cache_type, kv_dim));
      std::vector<float> r(src.size());
      for (int64_t t = 0; t < n; ++t) {
        traits.quantize(src.data() + t * kv_dim, bytes.data(), kv_dim);
        traits.dequantize(bytes.data(), r.data() + t * kv_dim, kv_dim);
      }
      return r;
    };
    const std::vector<float> kr = rounded(k), vr = rounded(v);
    for (int64_t t = 0; t < n; ++t) {
      const BatchToken& token = batch[static_cast<size_t>(t)];
      const int64_t first_row = token.seq == 0 ? 0 : c.prompt;  // batch row of its position 0
      const int32_t lowest = c.window > 0 ? std::max(0, token.pos - c.window + 1) : 0;
      for (int64_t h = 0; h < n_head; ++h) {
        const int64_t kv_head = h / (n_head / n_head_kv);
        std::vector<double> scores;
        double best = c.sinks ? sinks[h] : -INFINITY;
        for (int32_t p = lowest; p <= token.pos; ++p) {
          double s = 0.0;
          for (int64_t i = 0; i < head_dim; ++i) {
            s += static_cast<double>(q[(t * n_head + h) * head_dim + i]) *
                 kr[(first_row + p) * kv_dim + kv_head * head_dim + i];
          }
          s *= scale;
          if (c.softcap > 0.0f) s = c.softcap * std::tanh(s / c.softcap);
          scores.push_back(s);
          best = std::max(best, s);
        }
        double total = c.sinks ? std::exp(sinks[h] - best) : 0.0;
        for (double& s : scores) total += (s = std::exp(s - best));
        for (int64_t i = 0; i < head_dim; ++i) {
          double expected = 0.0;
          for (size_t j = 0; j < scores.size(); ++j) {
            expected += scores[j] / total *
                        vr[(first_row + lowest + static_cast<int64_t>(j)) * kv_dim +
                           kv_head * head_dim + i];
          }
          ASSERT_NEAR(y[(t * n_head + h) * head_dim + i], expected, 1e-4)
              << type_name(c.cache_type) << " window " << c.window << " softcap " << c.softcap
              << " sinks " << c.sinks << ": token " << t << " head " << h << " value " << i;
        }
      }
    }
  }
}

// Rows r0..r0+n of a row-major matrix times x, in double.
std::vector<double> product(const std::vector<float>& w, int64_t n_in, int64_t r0, int64_t n,
                            const std::vector<double>& x) {
  std::vector<double> y(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t i = 0; i < n_in; ++i) y[r] += w[(r0 + r) * n_in + i] * x[i];
  }
  return y;
}

// Both gatings (gpt-oss's top-k then softmax with router and expert biases and the clamped
// SwiGLU; softmax then top-k with renormalised weights and a gated shared expert) on F32 weights,
// so the reference in double differs only by float rounding: 1e-4 relative to the sum of the
// magnitudes of the terms.
// The same with MXFP4 experts (gpt-oss's type) on backends that multiply float activations (the
// GPU): the reference reads the dequantized weights, so the bound holds. The CPU rounds
// activations to 8 bits for quantized weights; its quantized experts are checked against the
// reference decoder in tests/model.
TEST_P(OpsTest, MixtureOfExpertsRoutesWeighsAndAddsTheSharedExpert) {
  std::mt19937 rng(9);
  const int64_t n_embd = 64, n_tokens = 7;
  const int n_expert = 8;
  for (const auto& [expert_type, n_ff] :
       {std::pair{TensorType::F32, int64_t{48}}, std::pair{TensorType::MXFP4, int64_t{64}}}) {
    if (expert_type != TensorType::F32 && backend_->name() == "cpu") continue;
    for (bool gpt_oss : {true, false}) {
      MoeConfig moe;
      moe.n_expert = n_expert;
      moe.n_used = gpt_oss ? 4 : 2;
      moe.n_ff = n_ff;
      moe.gating = gpt_oss ? Gating::kTopKThenSoftmax : Gating::kSoftmaxThenTopK;
      moe.normalize = !gpt_oss;
      moe.router_bias = moe.expert_biases = gpt_oss;
      moe.n_ff_shared = gpt_oss ? 0 : 40;
      moe.shared_gate = !gpt_oss;
      const GluParams glu{gpt_oss ? Activation::kSwigluClamped : Activation::kSilu, 1.702f, 7.0f};
      RandomMatrix router(rng, TensorType::F32, n_embd, n_expert);
      RandomMatrix gate(rng, expert_type, n_embd, n_ff * n_expert);
      RandomMatrix up(rng, expert_type, n_embd, n_ff * n_expert);
      RandomMatrix down(rng, expert_type, n_ff, n_embd * n_expert);
      RandomMatrix gate_shared(rng, TensorType::F32, n_embd, 40);
      RandomMatrix up_shared(rng, TensorType::F32, n_embd, 40);
      RandomMatrix down_shared(rng, TensorType::F32, 40, n_embd);
      using Role = Backend::Role;
      std::vector<Backend::StoredMatrix> stored = {
          {router.view, Role::kRouter, 1},          {gate.view, Role::kExperts, n_expert},
          {up.view, Role::kExperts, n_expert},      {down.view, Role::kExperts, n_expert},
          {gate_shared.view, Role::kProjection, 1}, {up_shared.view, Role::kProjection, 1},
          {down_shared.view, Role::kProjection, 1}};
      std::vector<std::unique_ptr<Matrix>> loaded;
      RUN_OR_SKIP_UNWRITTEN(loaded = backend_->load_matrices(nullptr, stored));
      const std::vector<float> router_bias = random_values(rng, n_expert);
      const std::vector<float> gate_bias = random_values(rng, n_expert * n_ff);
      const std::vector<float> up_bias = random_values(rng, n_expert * n_ff);
      const std::vector<float> down_bias = random_values(rng, n_expert * n_embd);
      const std::vector<float> shared_gate = random_values(rng, n_embd, -0.2f, 0.2f);
      auto rb = upload(router_bias);
      auto gb = upload(gate_bias);
      auto ub = upload(up_bias);
      auto db = upload(down_bias);
      auto sgb = upload(shared_gate);
      MoeWeights w;
      w.router = loaded[0].get();
      w.gate_experts = loaded[1].get();
      w.up_experts = loaded[2].get();
      w.down_experts = loaded[3].get();
      if (gpt_oss) {
        w.router_bias = rb->tensor(1, n_expert);
        w.gate_bias = gb->tensor(n_expert, n_ff);
        w.up_bias = ub->tensor(n_expert, n_ff);
        w.down_bias = db->tensor(n_expert, n_embd);
      } else {
        w.gate_shared = loaded[4].get();
        w.up_shared = loaded[5].get();
        w.down_shared = loaded[6].get();
        w.shared_gate = sgb->tensor(1, n_embd);
      }
      use_batch(n_tokens);
      const std::vector<float> x = random_values(rng, n_tokens * n_embd);
      auto xb = upload(x);
      auto out = backend_->allocate(n_tokens * n_embd);
      std::vector<float> y;
      RUN_OR_SKIP_UNWRITTEN({
        auto pass = begin();
        pass->mixture_of_experts(w, moe, glu, xb->tensor(n_tokens, n_embd),
                                 out->tensor(n_tokens, n_embd));
        y = read(*pass, out->tensor(n_tokens, n_embd));
      });

      for (int64_t t = 0; t < n_tokens; ++t) {
        const std::vector<double> xt(x.begin() + t * n_embd, x.begin() + (t + 1) * n_embd);
        std::vector<double> logits = product(router.values, n_embd, 0, n_expert, xt);
        if (gpt_oss) {
          for (int e = 0; e < n_expert; ++e) logits[e] += router_bias[e];
        }
        std::vector<int> order(n_expert);
        for (int e = 0; e < n_expert; ++e) order[e] = e;
        std::stable_sort(order.begin(), order.end(),
                         [&](int a, int b) { return logits[a] > logits[b]; });
        const double best = logits[order[0]];
        double total = 0.0;
        for (int i = 0; i < moe.n_used; ++i) total += std::exp(logits[order[i]] - best);
        std::vector<double> expected(static_cast<size_t>(n_embd)), magnitude(expected.size());
        auto accumulate = [&](double weight, const std::vector<double>& o) {
          for (int64_t d = 0; d < n_embd; ++d) {
            expected[d] += weight * o[d];
            magnitude[d] += std::fabs(weight * o[d]);
          }
        };
        for (int i = 0; i < moe.n_used; ++i) {
          const int e = order[i];
          std::vector<double> g = product(gate.values, n_embd, e * n_ff, n_ff, xt);
          std::vector<double> u = product(up.values, n_embd, e * n_ff, n_ff, xt);
          std::vector<double> h(static_cast<size_t>(n_ff));
          for (int64_t j = 0; j < n_ff; ++j) {
            if (gpt_oss) {
              g[j] += gate_bias[e * n_ff + j];
              u[j] += up_bias[e * n_ff + j];
            }
            h[j] = reference_activation(glu, g[j], u[j]);
          }
          std::vector<double> o = product(down.values, n_ff, e * n_embd, n_embd, h);
          if (gpt_oss) {
            for (int64_t d = 0; d < n_embd; ++d) o[d] += down_bias[e * n_embd + d];
          }
          accumulate(std::exp(logits[e] - best) / total, o);
        }
        if (!gpt_oss) {
          std::vector<double> g = product(gate_shared.values, n_embd, 0, 40, xt);
          const std::vector<double> u = product(up_shared.values, n_embd, 0, 40, xt);
          for (int64_t j = 0; j < 40; ++j) g[j] = reference_activation(glu, g[j], u[j]);
          double logit = 0.0;
          for (int64_t i = 0; i < n_embd; ++i) logit += shared_gate[i] * xt[i];
          accumulate(1.0 / (1.0 + std::exp(-logit)), product(down_shared.values, 40, 0, n_embd, g));
        }
        for (int64_t d = 0; d < n_embd; ++d) {
          ASSERT_NEAR(y[t * n_embd + d], expected[d], 1e-4 * std::max(1.0, magnitude[d]))
              << (gpt_oss ? "gpt-oss" : "qwen2moe") << " " << type_name(expert_type) << " token "
              << t << " value " << d;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, OpsTest,
                         ::testing::Range(0, static_cast<int>(backends_under_test().size())),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return backends_under_test()[static_cast<size_t>(param.param)];
                         });

}  // namespace
}  // namespace bottega::backend
