// Every Vulkan kernel against a plain scalar reference in double, on random data (never zeros),
// with the tails the kernels' tiles leave: rows not a multiple of matmul's 2-row workgroups (37),
// token counts 1, 3 and 17 (tails of its 4-token tiles), rows longer than the 64 threads of a
// workgroup take in one stride, strided views, weights at an unaligned byte offset.
//
// Error bounds, each relative to the scale of the terms the kernel sums:
//   matmul:   |y - ref| <= 1e-5 * S, S = sum_i |w_i x_i| of the dequantized weights: float
//             products summed over 32-value chunks then across 64 threads (depth about
//             log2(32) + n/2048 + 6 additions, each 2^-24 relative: well under 1e-5).
//             With int8 dot products, ref uses x rounded to the CPU's 8-bit activation blocks
//             (exact integer sums per chunk, then the same float sums) and the bound adds two
//             activation levels times the row's largest |w|: the GPU's 1 / d may be 2.5 ulp off,
//             which can move a value sitting on a rounding edge by one level (never seen on
//             lavapipe, whose division is exact). Q4_1/Q5_1 add their min times Q8_1's s, a
//             block's sum held as f16: 2^-11 of sum_b |s_b| times the row's largest |w| more.
//   get_rows: 1e-6 of the row's max |value|: one product and at most one addition per value, which
//             the GPU may fuse.
//   rms_norm, glu, softcap: 1e-5 relative to the output (or 1e-6 absolute near 0): a handful of
//             float operations and the driver's exp/tanh/sqrt; GELU also 2^-22 |gate * up|, what
//             float's 1 + tanh(v) keeps where tanh(v) nears -1.
//   rope:     (|a| + |b|) * (2^-21 * position + 1e-5) for a rotated pair (a, b): the angle is
//             computed in float, so its error grows with the position.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/vulkan/kernels.h"
#include "backend/vulkan_test_util.h"
#include "core/half.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/types.h"

namespace bottega::vulkan {
namespace {

using testing::download;
using testing::rows_of;
using testing::upload;

std::vector<float> random_values(size_t n, float limit, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-limit, limit);
  std::vector<float> values(n);
  for (float& v : values) {
    do v = dist(rng);
    while (v == 0.0f);
  }
  return values;
}

constexpr TensorType kWeightTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                                       TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_1,
                                       TensorType::Q5_0, TensorType::Q5_1, TensorType::Q4_K,
                                       TensorType::Q5_K, TensorType::Q6_K, TensorType::MXFP4};

// A random matrix in a type's encoding, at byte offset 6 of its buffer (misaligned for every
// type), with its reference-dequantized values.
struct TestMatrix {
  std::unique_ptr<Buffer> buffer;
  WeightView view;
  std::vector<float> values;  // n_out rows of n_in, as the reference dequantizer gives them
};

constexpr uint64_t kWeightOffset = 6;

TestMatrix make_matrix(const Context& context, TensorType type, int64_t n_in, int64_t n_out,
                       std::mt19937& rng) {
  const TypeTraits& traits = type_traits(type);
  const std::vector<float> source = random_values(static_cast<size_t>(n_in * n_out), 1.0f, rng);
  std::vector<uint8_t> bytes(kWeightOffset + row_bytes(type, n_in) * static_cast<size_t>(n_out));
  traits.quantize(source.data(), bytes.data() + kWeightOffset, n_in * n_out);
  TestMatrix m;
  m.values.resize(source.size());
  traits.dequantize(bytes.data() + kWeightOffset, m.values.data(), n_in * n_out);
  m.buffer = context.allocate(weight_buffer_bytes(bytes.size()));
  context.upload(*m.buffer, 0, std::as_bytes(std::span(bytes)));
  m.view = WeightView{m.buffer.get(), kWeightOffset, type, n_in, n_out};
  return m;
}

class VulkanKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    BOTTEGA_SKIP_WITHOUT_VULKAN();
    context_ = std::make_unique<Context>();
    kernels_ = std::make_unique<Kernels>(*context_);
  }
  // Records one op through `record`, runs it and waits.
  template <typename Record>
  void run(Record record) {
    CommandList commands = context_->begin();
    record(commands);
    context_->submit(commands);
  }

  std::unique_ptr<Context> context_;
  std::unique_ptr<Kernels> kernels_;
  std::mt19937 rng_{1234};
};

// x as the matmul sees it: rounded to the CPU's activation blocks for w's type when the kernels
// take int8 dot products for it, unchanged otherwise; and the size of one level of those blocks
// (0 when unchanged), for the bound.
struct MatmulInput {
  std::vector<float> values;
  double level = 0.0;
  double sums_rounding = 0.0;  // Q8_1: what rounding each block's sum s to f16 may cost, per |w|
};

MatmulInput as_multiplied(const Kernels& kernels, TensorType type, std::span<const float> x) {
  MatmulInput in{{x.begin(), x.end()}, 0.0};
  if (!kernels.integer_dot(type)) return in;
  const TypeTraits& act = type_traits(kernels::activation_type(type));
  std::vector<uint8_t> blocks(row_bytes(act.type, static_cast<int64_t>(x.size())));
  act.quantize(x.data(), blocks.data(), static_cast<int64_t>(x.size()));
  act.dequantize(blocks.data(), in.values.data(), static_cast<int64_t>(x.size()));
  double largest = 0.0;
  for (float v : x) largest = std::max(largest, static_cast<double>(std::fabs(v)));
  in.level = largest / 127.0;
  if (act.type == TensorType::Q8_1) {
    for (size_t b = 0; b < x.size(); b += 32) {
      double block_sum = 0.0;
      for (size_t i = b; i < b + 32; ++i) block_sum += in.values[i];
      in.sums_rounding += std::ldexp(std::fabs(block_sum), -11);
    }
  }
  return in;
}

// Every weight type at 1, 3 and 17 tokens, with float activations (integer_dot off) and as the
// device runs by default (int8 dot products for the quantized types where it has them).
void check_matmul_of_every_type(const Context& context, Kernels& kernels, std::mt19937& rng) {
  const int64_t n_out = 37;
  for (TensorType type : kWeightTypes) {
    SCOPED_TRACE(type_name(type));
    const TypeTraits& traits = type_traits(type);
    // 72 chunks of 32 (a multiple of every block, not of the 64 threads); the float types also
    // end inside a chunk and, for F16/BF16, at an odd byte.
    const int64_t n_in = traits.block_size == 1 ? 2309 : 2304;
    const TestMatrix w = make_matrix(context, type, n_in, n_out, rng);
    for (uint32_t tokens : {1u, 3u, 17u}) {
      SCOPED_TRACE(tokens);
      // x rows strided by n_in + 3 from offset 5; y rows strided by n_out + 2.
      const uint32_t x_stride = static_cast<uint32_t>(n_in) + 3;
      const uint32_t y_stride = static_cast<uint32_t>(n_out) + 2;
      const std::vector<float> x = random_values(5 + tokens * x_stride, 1.0f, rng);
      const auto x_buffer = upload(context, x);
      const auto y_buffer = context.allocate(tokens * y_stride * sizeof(float));
      CommandList commands = context.begin();
      kernels.matmul(commands, w.view,
                     FloatView{x_buffer.get(), 5, tokens, static_cast<uint32_t>(n_in), x_stride},
                     FloatView{y_buffer.get(), 0, tokens, static_cast<uint32_t>(n_out), y_stride});
      context.submit(commands);
      const std::vector<float> y = download(context, *y_buffer, tokens * y_stride);
      for (uint32_t t = 0; t < tokens; ++t) {
        const MatmulInput in = as_multiplied(
            kernels, type, std::span(x).subspan(5 + t * x_stride, static_cast<size_t>(n_in)));
        for (int64_t r = 0; r < n_out; ++r) {
          double sum = 0.0, magnitude = 0.0, largest_w = 0.0;
          for (int64_t i = 0; i < n_in; ++i) {
            const double wi = w.values[static_cast<size_t>(r * n_in + i)];
            const double p = wi * in.values[static_cast<size_t>(i)];
            sum += p;
            magnitude += std::fabs(p);
            largest_w = std::max(largest_w, std::fabs(wi));
          }
          ASSERT_NEAR(y[t * y_stride + static_cast<size_t>(r)], sum,
                      1e-5 * magnitude + (2 * in.level + in.sums_rounding) * largest_w)
              << "token " << t << " row " << r;
        }
      }
    }
  }
}

TEST_F(VulkanKernels, MatmulMatchesDoubleProductOfDequantizedWeightsForEveryType) {
  Kernels float_kernels(*context_, KernelOptions{.integer_dot = false});
  for (TensorType type : kWeightTypes) EXPECT_FALSE(float_kernels.integer_dot(type));
  check_matmul_of_every_type(*context_, float_kernels, rng_);
}

// lavapipe has int8 dot products, so CI runs this path; the float types never take it.
TEST_F(VulkanKernels, MatmulOnInt8ActivationsMatchesTheProductOfTheCpusActivationBlocks) {
  const bool has_dot = context_->info().integer_dot_product;
  for (TensorType type : kWeightTypes) {
    EXPECT_EQ(kernels_->integer_dot(type), has_dot && type_traits(type).block_size > 1)
        << type_name(type);
  }
  check_matmul_of_every_type(*context_, *kernels_, rng_);
}

// The 8-bit activations of every matmul a list records share one scratch buffer, grown when a
// matmul needs more: a forward pass records about a hundred of them before it runs.
TEST_F(VulkanKernels, MatmulsOfOneListShareTheirActivationScratch) {
  if (!kernels_->integer_dot(TensorType::Q8_0)) GTEST_SKIP() << "no int8 dot products";
  const TestMatrix narrow = make_matrix(*context_, TensorType::Q8_0, 256, 8, rng_);
  const TestMatrix wide = make_matrix(*context_, TensorType::Q8_0, 1024, 8, rng_);
  const std::vector<float> x = random_values(4 * 1024, 1.0f, rng_);
  const auto x_buffer = upload(*context_, x);
  const auto y_buffer = context_->allocate(20 * 4 * 8 * sizeof(float));
  CommandList commands = context_->begin();
  const uint64_t before = context_->allocations();
  for (uint32_t i = 0; i < 20; ++i) {
    const TestMatrix& w = i < 10 ? narrow : wide;
    kernels_->matmul(commands, w.view,
                     FloatView{x_buffer.get(), 0, 4, static_cast<uint32_t>(w.view.n_in), 1024},
                     FloatView{y_buffer.get(), 32 * i, 4, 8, 8});
  }
  EXPECT_LE(context_->allocations() - before, 2u);  // the narrow rows' buffer, then the wide's
  context_->submit(commands);
  // The last matmul of each size, against the product of the CPU's Q8_0 activation blocks.
  const std::vector<float> y = download(*context_, *y_buffer, 20 * 4 * 8);
  for (uint32_t i : {9u, 19u}) {
    const TestMatrix& w = i < 10 ? narrow : wide;
    const auto n_in = static_cast<size_t>(w.view.n_in);
    for (size_t t = 0; t < 4; ++t) {
      const MatmulInput in =
          as_multiplied(*kernels_, TensorType::Q8_0, std::span(x).subspan(t * 1024, n_in));
      for (size_t r = 0; r < 8; ++r) {
        double sum = 0.0, magnitude = 0.0;
        for (size_t k = 0; k < n_in; ++k) {
          sum += static_cast<double>(w.values[r * n_in + k]) * in.values[k];
          magnitude += std::fabs(w.values[r * n_in + k] * in.values[k]);
        }
        EXPECT_NEAR(y[32 * i + 8 * t + r], sum, 1e-5 * magnitude + 2 * in.level)
            << "matmul " << i << " token " << t << " row " << r;
      }
    }
  }
}

TEST_F(VulkanKernels, GetRowsDequantizesAndScalesTheRowsOfTheIdsForEveryType) {
  const int64_t n_rows = 37;
  const std::vector<int32_t> ids = {5, 0, 36, 5, 17, 2, 30, 11, 36, 1, 8, 9, 20, 33, 4, 6, 25};
  const auto ids_buffer = upload(*context_, ids);
  const float scale = 1.5f;
  for (TensorType type : kWeightTypes) {
    SCOPED_TRACE(type_name(type));
    const int64_t width = type_traits(type).block_size == 1 ? 2309 : 2304;
    const TestMatrix table = make_matrix(*context_, type, width, n_rows, rng_);
    for (uint32_t tokens : {1u, 3u, 17u}) {
      const uint32_t stride = static_cast<uint32_t>(width) + 1;
      const auto out = context_->allocate(tokens * stride * sizeof(float));
      run([&](CommandList& commands) {
        // ids from the second on: an offset into the ids buffer.
        kernels_->get_rows(commands, table.view, *ids_buffer, tokens == 17 ? 0 : 1,
                           FloatView{out.get(), 0, tokens, static_cast<uint32_t>(width), stride},
                           scale);
      });
      const std::vector<float> got = download(*context_, *out, tokens * stride);
      for (uint32_t t = 0; t < tokens; ++t) {
        const int32_t id = ids[t + (tokens == 17 ? 0 : 1)];
        const float* row = table.values.data() + static_cast<size_t>(id * width);
        double max_abs = 0.0;
        for (int64_t i = 0; i < width; ++i) max_abs = std::fmax(max_abs, std::fabs(row[i]));
        for (int64_t i = 0; i < width; ++i) {
          ASSERT_NEAR(got[t * stride + static_cast<size_t>(i)], scale * row[i],
                      1e-6 * scale * max_abs)
              << "token " << t << " value " << i;
        }
      }
    }
  }
}

TEST_F(VulkanKernels, RmsNormMatchesReferenceIntoAnotherBufferAndInPlace) {
  const uint32_t width = 1027, rows = 3;
  const float eps = 1e-5f;
  const std::vector<float> x = random_values(rows * width, 2.0f, rng_);
  const std::vector<float> weight = random_values(width, 1.5f, rng_);
  const auto weight_buffer = upload(*context_, weight);
  for (bool in_place : {false, true}) {
    SCOPED_TRACE(in_place ? "in place" : "into another buffer");
    const auto x_buffer = upload(*context_, x);
    const auto out_buffer = in_place ? nullptr : context_->allocate(rows * width * sizeof(float));
    const Buffer& out = in_place ? *x_buffer : *out_buffer;
    run([&](CommandList& commands) {
      kernels_->rms_norm(commands, rows_of(*x_buffer, rows, width),
                         rows_of(*weight_buffer, 1, width), rows_of(out, rows, width), eps);
    });
    const std::vector<float> got = download(*context_, out, rows * width);
    for (uint32_t r = 0; r < rows; ++r) {
      double squares = 0.0;
      for (uint32_t i = 0; i < width; ++i) squares += double(x[r * width + i]) * x[r * width + i];
      const double scale = 1.0 / std::sqrt(squares / width + eps);
      for (uint32_t i = 0; i < width; ++i) {
        const double expected = x[r * width + i] * scale * weight[i];
        ASSERT_NEAR(got[r * width + i], expected, 1e-5 * std::fabs(expected) + 1e-6)
            << r << ", " << i;
      }
    }
  }
}

TEST_F(VulkanKernels, AddsSameShapeAndOneBroadcastRowOverStridedRows) {
  const uint32_t width = 130, rows = 17, stride = 133;
  const std::vector<float> y = random_values(rows * stride, 1.0f, rng_);
  const std::vector<float> x = random_values(rows * width, 1.0f, rng_);
  for (bool broadcast : {false, true}) {
    SCOPED_TRACE(broadcast ? "one row" : "same shape");
    const auto y_buffer = upload(*context_, y);
    const auto x_buffer = upload(*context_, x);
    run([&](CommandList& commands) {
      kernels_->add(commands, FloatView{y_buffer.get(), 0, rows, width, stride},
                    rows_of(*x_buffer, broadcast ? 1 : rows, width));
    });
    const std::vector<float> got = download(*context_, *y_buffer, rows * stride);
    for (uint32_t r = 0; r < rows; ++r) {
      for (uint32_t i = 0; i < stride; ++i) {
        const float addend = i < width ? x[(broadcast ? 0 : r) * width + i] : 0.0f;
        ASSERT_EQ(got[r * stride + i], y[r * stride + i] + addend) << r << ", " << i;
      }
    }
  }
}

double silu(double g) {
  return g / (1.0 + std::exp(-g));
}

TEST_F(VulkanKernels, GluMatchesReferenceForSiluGeluAndClampedSwiglu) {
  const uint32_t width = 300, rows = 3;
  // Wide enough that gpt-oss's clamp at 7 and tanh's saturation are reached.
  const std::vector<float> gate = random_values(rows * width, 12.0f, rng_);
  const std::vector<float> up = random_values(rows * width, 12.0f, rng_);
  const auto gate_buffer = upload(*context_, gate);
  const auto up_buffer = upload(*context_, up);
  for (GluKind kind : {GluKind::kSilu, GluKind::kGeluTanh, GluKind::kSwigluClamped}) {
    SCOPED_TRACE(static_cast<int>(kind));
    const GluSettings settings{kind, 1.702f, 7.0f};
    const auto out = context_->allocate(rows * width * sizeof(float));
    run([&](CommandList& commands) {
      kernels_->glu(commands, settings, rows_of(*gate_buffer, rows, width),
                    rows_of(*up_buffer, rows, width), rows_of(*out, rows, width));
    });
    const std::vector<float> got = download(*context_, *out, rows * width);
    for (uint32_t i = 0; i < rows * width; ++i) {
      double g = gate[i], u = up[i], expected = 0.0;
      if (kind == GluKind::kSilu) {
        expected = silu(g) * u;
      } else if (kind == GluKind::kGeluTanh) {
        expected =
            0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g))) * u;
      } else {
        g = std::fmin(g, 7.0);
        u = std::fmax(-7.0, std::fmin(u, 7.0));
        expected = g / (1.0 + std::exp(-1.702 * g)) * (u + 1.0);
      }
      // GELU's 1 + tanh cancels where tanh nears -1: float keeps 2^-24 of 1 there.
      const double cancellation = std::pow(2.0, -22) * std::fabs(double(gate[i]) * up[i]);
      ASSERT_NEAR(got[i], expected, 1e-5 * std::fabs(expected) + 1e-6 + cancellation) << i;
    }
  }
}

TEST_F(VulkanKernels, SoftcapMatchesReferenceOnAStridedView) {
  const uint32_t width = 99, rows = 3, stride = 101;
  const float cap = 30.0f;
  const std::vector<float> x = random_values(rows * stride, 200.0f, rng_);
  const auto buffer = upload(*context_, x);
  run([&](CommandList& commands) {
    kernels_->softcap(commands, FloatView{buffer.get(), 0, rows, width, stride}, cap);
  });
  const std::vector<float> got = download(*context_, *buffer, rows * stride);
  for (uint32_t r = 0; r < rows; ++r) {
    for (uint32_t i = 0; i < stride; ++i) {
      const float v = x[r * stride + i];
      const double expected = i < width ? cap * std::tanh(double(v) / cap) : v;
      ASSERT_NEAR(got[r * stride + i], expected, 1e-5 * std::fabs(expected) + 1e-6)
          << r << ", " << i;
    }
  }
}

struct RopeCase {
  const char* name;
  bool neox;
  int n_rot;
  bool freq_factors;
  float freq_scale;
  float attn_factor;
  bool yarn;
};

// kernels/cpu/ops.cpp's rope in double.
void reference_rope(std::vector<double>& x, int n_head, int head_dim, int pos, const RopeCase& c,
                    const std::vector<float>& factors, float base, float low, float high) {
  const int half = c.n_rot / 2;
  double magnitude = c.attn_factor;
  if (c.yarn) magnitude *= 1.0 + 0.1 * std::log(1.0 / c.freq_scale);
  for (int i = 0; i < half; ++i) {
    double unscaled = pos * std::pow(double(base), -2.0 * i / c.n_rot);
    if (c.freq_factors) unscaled /= factors[static_cast<size_t>(i)];
    double theta = unscaled * c.freq_scale;
    if (c.yarn) {
      const double ramp =
          std::clamp((i - double(low)) / std::max(0.001, double(high) - low), 0.0, 1.0);
      theta = unscaled * (1.0 - ramp) + theta * ramp;
    }
    const int first = c.neox ? i : 2 * i;
    const int second = c.neox ? i + half : 2 * i + 1;
    for (int h = 0; h < n_head; ++h) {
      double* head = x.data() + h * head_dim;
      const double a = head[first], b = head[second];
      head[first] = (a * std::cos(theta) - b * std::sin(theta)) * magnitude;
      head[second] = (a * std::sin(theta) + b * std::cos(theta)) * magnitude;
    }
  }
}

TEST_F(VulkanKernels, RopeMatchesReferenceForPairOrdersPartialRotationFactorsAndYarn) {
  const int n_head = 3, head_dim = 64;
  const uint32_t width = n_head * head_dim, stride = width + 4, tokens = 17;
  const float base = 10000.0f, yarn_low = 5.0f, yarn_high = 20.0f;
  std::vector<int32_t> positions(tokens);
  for (uint32_t t = 0; t < tokens; ++t) positions[t] = static_cast<int32_t>(t * t * 13 % 4096);
  positions[1] = 4095;
  const auto positions_buffer = upload(*context_, positions);
  const RopeCase cases[] = {
      {"interleaved", false, 64, false, 1.0f, 1.0f, false},
      {"neox, partial", true, 32, false, 0.5f, 1.0f, false},
      {"interleaved, factors", false, 48, true, 1.0f, 1.2f, false},
      {"neox, yarn", true, 64, false, 0.25f, 1.0f, true},
  };
  for (const RopeCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::vector<float> x = random_values(tokens * stride, 1.0f, rng_);
    std::vector<float> factors = random_values(static_cast<size_t>(c.n_rot / 2), 1.0f, rng_);
    for (float& f : factors) f = 1.0f + 4.0f * std::fabs(f);
    const auto x_buffer = upload(*context_, x);
    const auto factors_buffer = upload(*context_, factors);
    RopeSettings settings;
    settings.n_head = n_head;
    settings.head_dim = head_dim;
    settings.n_rot = c.n_rot;
    settings.neox = c.neox;
    settings.freq_base = base;
    settings.freq_scale = c.freq_scale;
    settings.attn_factor = c.attn_factor;
    settings.yarn = c.yarn;
    settings.yarn_low = yarn_low;
    settings.yarn_high = yarn_high;
    if (c.freq_factors) settings.freq_factors = rows_of(*factors_buffer, 1, c.n_rot / 2);
    run([&](CommandList& commands) {
      kernels_->rope(commands, FloatView{x_buffer.get(), 0, tokens, width, stride},
                     *positions_buffer, 0, settings);
    });
    const std::vector<float> got = download(*context_, *x_buffer, tokens * stride);
    for (uint32_t t = 0; t < tokens; ++t) {
      std::vector<double> expected(x.begin() + t * stride, x.begin() + (t + 1) * stride);
      reference_rope(expected, n_head, head_dim, positions[t], c, factors, base, yarn_low,
                     yarn_high);
      // Values a pair's error can reach: both inputs, times the angle's error.
      const double bound =
          (2.0 * std::pow(2.0, -21) * positions[t] + 1e-5) * 2.0 * c.attn_factor * 1.2;
      for (uint32_t i = 0; i < stride; ++i) {
        ASSERT_NEAR(got[t * stride + i], expected[i], bound) << "token " << t << " value " << i;
      }
    }
  }
}

// A cache row as the CPU encodes it: floats as they are, F16 rounded to nearest even, the
// quantized types by the type table's reference quantizers.
void encode_reference(TensorType type, const float* src, uint8_t* dst, int64_t n) {
  if (type == TensorType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  } else if (type == TensorType::F16) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t half = f32_to_f16(src[i]);
      std::memcpy(dst + 2 * i, &half, sizeof(half));
    }
  } else {
    type_traits(type).quantize(src, dst, n);
  }
}

// Rows whose blocks are full of rounding ties: values x with x * (1 / d) exactly on a Q8_0 level's
// half (d = largest magnitude / 127) or, after + 8.5, on a Q4_0 level's edge (d = extreme / -8),
// in float as the CPU computes it. A GPU whose division is a little off (GLSL allows 2.5 ulp)
// rounds them the other way, which random values almost never show.
std::vector<float> tie_rows(uint32_t n_rows, uint32_t width, TensorType type, std::mt19937& rng) {
  const bool q8 = type == TensorType::Q8_0;
  std::uniform_real_distribution<float> extremes(0.05f, 3.0f);
  std::uniform_int_distribution<int> levels(q8 ? -127 : 1, q8 ? 126 : 15);
  std::vector<float> values(static_cast<size_t>(n_rows) * width);
  for (size_t block = 0; block < values.size() / 32; ++block) {
    float* x = values.data() + block * 32;
    x[0] = extremes(rng) * (rng() % 2 ? 1.0f : -1.0f);
    const float d = q8 ? std::fabs(x[0]) / 127.0f : x[0] / -8.0f;
    const float inverse = 1.0f / d;
    for (int i = 1; i < 32;) {
      const float target = static_cast<float>(levels(rng)) + (q8 ? 0.5f : -8.5f);
      const float guess = target / inverse;
      for (const float candidate :
           {guess, std::nextafter(guess, 0.0f), std::nextafter(guess, 8.0f)}) {
        if (candidate * inverse == target) {
          x[i++] = candidate;
          break;
        }
      }
    }
  }
  return values;
}

// kv_store encodes each row as the CPU's reference quantizers do, byte for byte: a cache written
// by the GPU reads back as the CPU would have written it, rounding ties included.
TEST_F(VulkanKernels, KvStoreEncodesRowsAsTheReferenceQuantizersDo) {
  const uint32_t width = 128, n_random = 200, n_ties = 200, n_rows = n_random + 2 * n_ties;
  std::vector<float> src = random_values(n_random * width, 3.0f, rng_);
  for (TensorType tied : {TensorType::Q8_0, TensorType::Q4_0}) {
    const std::vector<float> rows = tie_rows(n_ties, width, tied, rng_);
    src.insert(src.end(), rows.begin(), rows.end());
  }
  std::vector<int32_t> rows(n_rows);
  for (uint32_t t = 0; t < n_rows; ++t) rows[t] = static_cast<int32_t>((t * 37) % n_rows);
  const auto src_buffer = upload(*context_, src);
  const auto rows_buffer = upload(*context_, rows);
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_0}) {
    SCOPED_TRACE(type_name(type));
    const auto row_bytes = static_cast<uint32_t>(::bottega::row_bytes(type, width));
    const size_t words = (static_cast<size_t>(row_bytes) * n_rows + 3) / 4;
    const auto cache = context_->allocate(words * 4);
    run([&](CommandList& commands) {
      kernels_->kv_store(commands, rows_of(*src_buffer, n_rows, width),
                         KvRowsView{cache.get(), type, width, row_bytes, n_rows}, *rows_buffer, 0);
    });
    std::vector<uint8_t> got(words * 4);
    context_->download(*cache, 0, std::as_writable_bytes(std::span(got)));
    std::vector<uint8_t> expected(row_bytes);
    for (uint32_t t = 0; t < n_rows; ++t) {
      encode_reference(type, src.data() + t * width, expected.data(), width);
      const uint8_t* stored = got.data() + static_cast<size_t>(rows[t]) * row_bytes;
      ASSERT_EQ(std::vector<uint8_t>(stored, stored + row_bytes), expected) << "row " << t;
    }
  }
}

}  // namespace
}  // namespace bottega::vulkan
