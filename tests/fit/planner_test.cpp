// The planner on GGUF files written here: shapes from metadata, clear errors for missing keys and
// impossible configurations, and the largest context sitting exactly at the memory boundary.
#include "fit/planner.h"

#include <gtest/gtest.h>

#include "testutil/testutil.h"

namespace bottega::fit {
namespace {

using testing::TempDir;

// A llama header with tensors of the right sizes (zeros): 2 layers, n_embd 64, 4 heads, 2 KV heads.
std::filesystem::path write_model(const TempDir& dir, bool with_context_length = true,
                                  TensorType type = TensorType::F16) {
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::string("llama"));
  w.set("llama.block_count", gguf::Value::u32(2));
  w.set("llama.embedding_length", gguf::Value::u32(64));
  w.set("llama.feed_forward_length", gguf::Value::u32(128));
  w.set("llama.attention.head_count", gguf::Value::u32(4));
  w.set("llama.attention.head_count_kv", gguf::Value::u32(2));
  if (with_context_length) w.set("llama.context_length", gguf::Value::u32(2048));
  w.set("llama.vocab_size", gguf::Value::u32(100));
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    const size_t bytes = row_bytes(type, shape[0]) * static_cast<size_t>(shape[1]);
    w.add_tensor(name, type, shape, std::vector<uint8_t>(bytes));
  };
  add("token_embd.weight", {64, 100});
  add("output.weight", {64, 100});
  for (int l = 0; l < 2; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_q.weight", {64, 64});
    add(p + "attn_k.weight", {64, 32});
    add(p + "attn_v.weight", {64, 32});
    add(p + "attn_output.weight", {64, 64});
    add(p + "ffn_gate.weight", {64, 128});
    add(p + "ffn_up.weight", {64, 128});
    add(p + "ffn_down.weight", {128, 64});
  }
  const auto path = dir / "model.gguf";
  w.write(path);
  return path;
}

TEST(Planner, ReadsShapeAndSizesKvCache) {
  TempDir dir;
  const gguf::File file = gguf::File::open(write_model(dir));
  const ModelShape s = read_model_shape(file);
  EXPECT_EQ(s.n_layer, 2);
  EXPECT_EQ(s.head_dim, 16);
  EXPECT_EQ(s.n_kv_dim(), 32);
  EXPECT_EQ(s.n_vocab, 100);

  Config config;
  config.n_ctx = 100;  // rounds up to 7 blocks of 16
  config.parallel = 3;
  const Plan plan = make_plan(file, config, {uint64_t{1} << 40, 10e9, 100e9});
  EXPECT_EQ(plan.kv_bytes_per_token, 2u * 2 * 32 * 2);
  EXPECT_EQ(plan.memory.kv_cache, plan.kv_bytes_per_token * 112 * 3);
  EXPECT_TRUE(plan.fits);
  EXPECT_EQ(plan.max_context, 2048);
  EXPECT_EQ(plan.stored_weight_bytes, file.file_size() - file.data_offset());
  // Decoding reads every matrix but the embedding table once per token (and one embedding row).
  EXPECT_GT(plan.speed.tg128_tps, 0.0);
  EXPECT_GT(plan.speed.pp512_tps, 0.0);
}

// Prompt speed follows the peak the weights' kernels compute with: the f32 FMA rate for float
// weights, the 8-bit integer dot product rate for quantized ones.
TEST(Planner, PromptSpeedFollowsThePeakOfTheWeightsKernels) {
  TempDir dir;
  const gguf::File f16 = gguf::File::open(write_model(dir, true, TensorType::F16));
  const TempDir dir8;
  const gguf::File q8 = gguf::File::open(write_model(dir8, true, TensorType::Q8_0));
  Config config;
  config.n_ctx = 512;
  const Machine base{uint64_t{1} << 40, 10e9, 100e9, 200e9};
  Machine faster_f32 = base;
  faster_f32.f32_flops_per_second *= 2;
  Machine faster_int8 = base;
  faster_int8.int8_ops_per_second *= 2;

  const double f16_base = make_plan(f16, config, base).speed.pp512_tps;
  EXPECT_NEAR(make_plan(f16, config, faster_f32).speed.pp512_tps, 2 * f16_base, 1e-9 * f16_base);
  EXPECT_EQ(make_plan(f16, config, faster_int8).speed.pp512_tps, f16_base);

  const double q8_base = make_plan(q8, config, base).speed.pp512_tps;
  EXPECT_GT(q8_base, 0.0);
  EXPECT_NEAR(make_plan(q8, config, faster_int8).speed.pp512_tps, 2 * q8_base, 1e-9 * q8_base);
  EXPECT_EQ(make_plan(q8, config, faster_f32).speed.pp512_tps, q8_base);
}

// On a machine whose kernels run AVX-512, prompts are faster than the AVX2-probed peaks say, by
// the calibrated gain of the type; decode runs kernels of its own there, whose calibrated share
// moves its estimate by a few percent either way.
TEST(Planner, Avx512KernelsRaiseThePromptEstimate) {
  for (TensorType type : {TensorType::Q8_0, TensorType::F16}) {
    TempDir dir;
    const gguf::File file = gguf::File::open(write_model(dir, true, type));
    Config config;
    config.n_ctx = 512;
    const Machine avx2{uint64_t{1} << 40, 10e9, 100e9, 200e9, 8e9};
    Machine avx512 = avx2;
    avx512.avx512_kernels = true;
    const SpeedEstimate base = make_plan(file, config, avx2).speed;
    const SpeedEstimate wide = make_plan(file, config, avx512).speed;
    EXPECT_GT(wide.pp512_tps, 1.2 * base.pp512_tps) << type_name(type);
    EXPECT_LT(wide.pp512_tps, 4.0 * base.pp512_tps) << type_name(type);
    EXPECT_GT(wide.tg128_tps, 0.9 * base.tg128_tps) << type_name(type);
    EXPECT_LT(wide.tg128_tps, 1.15 * base.tg128_tps) << type_name(type);
  }
}

// BF16 dot products (AVX512_BF16) raise the prompt estimate of BF16 files, and of F16 files only
// when the run rounds them to BF16 (--f16-as-bf16); decode and the other types keep theirs.
TEST(Planner, Bf16DotProductsRaiseTheBf16PromptEstimate) {
  const Machine plain{uint64_t{1} << 40, 10e9, 100e9, 200e9, 8e9, true};
  Machine dots = plain;
  dots.bf16_dot_products = true;
  Machine dots_f16 = dots;
  dots_f16.f16_as_bf16 = true;
  Config config;
  config.n_ctx = 512;
  for (TensorType type : {TensorType::BF16, TensorType::F16, TensorType::Q8_0}) {
    TempDir dir;
    const gguf::File file = gguf::File::open(write_model(dir, true, type));
    const SpeedEstimate base = make_plan(file, config, plain).speed;
    const SpeedEstimate with_dots = make_plan(file, config, dots).speed;
    const SpeedEstimate rounding = make_plan(file, config, dots_f16).speed;
    const double expected = type == TensorType::BF16 ? 1.834 : 1.0;
    EXPECT_NEAR(with_dots.pp512_tps, expected * base.pp512_tps, 1e-9 * base.pp512_tps)
        << type_name(type);
    const double rounded = type == TensorType::Q8_0 ? 1.0 : 1.834;
    EXPECT_NEAR(rounding.pp512_tps, rounded * base.pp512_tps, 1e-9 * base.pp512_tps)
        << type_name(type);
    EXPECT_EQ(with_dots.tg128_tps, base.tg128_tps) << type_name(type);
    EXPECT_EQ(rounding.tg128_tps, base.tg128_tps) << type_name(type);
  }
}

// Decode speed follows the decode kernel's measured streaming rate where `hw` measured one, and
// only then the read bandwidth; it scales with the rate and with nothing else.
TEST(Planner, DecodeSpeedFollowsTheDecodeStream) {
  TempDir dir;
  const gguf::File file = gguf::File::open(write_model(dir, true, TensorType::Q8_0));
  Config config;
  config.n_ctx = 512;
  Machine read_only{uint64_t{1} << 40, 10e9, 100e9, 200e9};
  Machine with_stream = read_only;
  with_stream.decode_bytes_per_second = 5e9;
  Machine faster_read = with_stream;
  faster_read.read_bytes_per_second *= 3;
  Machine faster_stream = with_stream;
  faster_stream.decode_bytes_per_second *= 2;

  const double from_read = make_plan(file, config, read_only).speed.tg128_tps;
  const double from_stream = make_plan(file, config, with_stream).speed.tg128_tps;
  EXPECT_NEAR(from_stream, from_read / 2, 1e-9 * from_read);
  EXPECT_EQ(make_plan(file, config, faster_read).speed.tg128_tps, from_stream);
  EXPECT_NEAR(make_plan(file, config, faster_stream).speed.tg128_tps, 2 * from_stream,
              1e-9 * from_stream);
  EXPECT_EQ(make_plan(file, config, faster_stream).speed.pp512_tps,
            make_plan(file, config, read_only).speed.pp512_tps);
}

TEST(Planner, LargestContextSitsAtTheMemoryBoundary) {
  TempDir dir;
  const gguf::File file = gguf::File::open(write_model(dir));
  Config config;
  config.n_ctx = 1000;
  const uint64_t at_1000 = estimate_memory(file, config).total();
  const Plan plan = make_plan(file, config, {at_1000, 10e9, 100e9});
  EXPECT_TRUE(plan.fits);
  EXPECT_GE(plan.max_context, 1000);
  config.n_ctx = plan.max_context + 16;
  EXPECT_GT(estimate_memory(file, config).total(), at_1000);

  config.n_ctx = 2048;
  const Plan tight = make_plan(file, config, {at_1000, 10e9, 100e9});
  EXPECT_FALSE(tight.fits);
  EXPECT_EQ(tight.max_context, plan.max_context);
  ASSERT_FALSE(tight.alternatives.empty());
  for (const Alternative& a : tight.alternatives) EXPECT_LE(a.total_bytes, at_1000) << a.change;
}

TEST(Planner, ErrorsNameTheProblem) {
  TempDir dir;
  const gguf::File file = gguf::File::open(write_model(dir, false));
  try {
    read_model_shape(file);
    FAIL() << "a file without llama.context_length was accepted";
  } catch (const gguf::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("llama.context_length"), std::string::npos) << e.what();
  }
  TempDir other;
  const gguf::File good = gguf::File::open(write_model(other));
  Config zero_parallel;
  zero_parallel.parallel = 0;
  EXPECT_THROW(make_plan(good, zero_parallel, {}), Error);
  Config q8;
  q8.n_ctx = 64;
  q8.cache_types = {TensorType::Q8_0, TensorType::Q8_0};  // 32-value rows: one block each
  EXPECT_NO_THROW(make_plan(good, q8, {}));
}

}  // namespace
}  // namespace bottega::fit
