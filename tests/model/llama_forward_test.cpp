// The llama forward pass against an independent double-precision reference, on random-weight
// models written in every weight type.
//
// Bound: the reference computes with the same dequantized weights and, like the engine's matmul,
// rounds every matrix input through the weight type's activation type (Q8_0/Q8_1/Q8_K; float
// types use floats). For float weights the only differences are float32 rounding in the engine:
// |logit - reference| <= 1e-3 * max(1, max|reference|).
//
// Quantized activations make the logits a discontinuous function of the activations: where a
// value lies within float rounding of a quantization boundary, engine (float) and reference
// (double) can round it to neighbouring levels, and that one step (1/127 of its block's maximum)
// propagates. Such a flip moves logits by at most what rounding all the activations does, so for
// quantized-activation types the bound adds twice the reference's own activation-rounding effect,
// E = max|reference - reference with float activations| (measured 0.04..0.1 on these models;
// Q4_1/Q5_1 also round the activation block sum s to half, which makes flips likelier). A wrong
// block layout, RoPE pair order or attention mask moves logits by O(1) and still fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "gguf/gguf.h"
#include "model/model.h"
#include "model/random_llama.h"
#include "testutil/testutil.h"

namespace bottega {
namespace {

using testing::LlamaShape;
using testing::TempDir;

constexpr double kRelativeBound = 1e-3;

std::vector<TensorType> writable_types() {
  std::vector<TensorType> types;
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeTraits* traits = find_type(id);
    if (traits != nullptr && traits->quantize != nullptr && traits->dequantize != nullptr &&
        traits->type != TensorType::Q8_K && traits->type != TensorType::Q8_1) {
      types.push_back(traits->type);
    }
  }
  return types;
}

// Evaluates `prompt` as one batch and then `extra` one token at a time, checking the logits after
// the prompt and after every extra token.
void expect_matches_reference(const testing::RandomLlama& reference, Model& model,
                              const std::vector<int32_t>& prompt, const std::vector<int32_t>& extra,
                              const std::string& label) {
  const KvCacheTypes cache_types{reference.cache_key, reference.cache_value};
  ThreadPool pool(2);
  const int32_t block_size = 4;  // small blocks: attention must cross block boundaries
  KvCache cache(model.info().n_layer, model.info().n_kv_dim(), 16, block_size, cache_types,
                static_cast<int>(model.info().n_head_kv));
  const std::vector<int32_t> table = {3, 0, 7, 1, 9, 2, 5, 4};  // deliberately out of order
  const std::span<const int32_t> table_span(table);
  const std::span<const std::span<const int32_t>> tables(&table_span, 1);
  std::vector<float> logits(static_cast<size_t>(model.info().n_vocab));

  std::vector<int32_t> seen;
  auto check = [&](const std::string& step) {
    const std::vector<double> expected = testing::reference_logits(reference, seen);
    double max_ref = 1.0, max_diff = 0.0, rounding_effect = 0.0;
    for (double v : expected) max_ref = std::max(max_ref, std::fabs(v));
    for (size_t i = 0; i < expected.size(); ++i)
      max_diff = std::max(max_diff, std::fabs(logits[i] - expected[i]));
    if (reference.activation != TensorType::F32 || reference.cache_key != TensorType::F32 ||
        reference.cache_value != TensorType::F32) {
      testing::RandomLlama float_activations = reference;
      float_activations.activation = TensorType::F32;
      float_activations.cache_key = TensorType::F32;
      float_activations.cache_value = TensorType::F32;
      const std::vector<double> unrounded = testing::reference_logits(float_activations, seen);
      for (size_t i = 0; i < expected.size(); ++i) {
        rounding_effect = std::max(rounding_effect, std::fabs(unrounded[i] - expected[i]));
      }
    }
    EXPECT_LE(max_diff, kRelativeBound * max_ref + 2.0 * rounding_effect)
        << label << " " << step << " (max |ref| " << max_ref << ", activation rounding "
        << rounding_effect << ")";
  };

  std::vector<BatchToken> batch;
  for (size_t i = 0; i < prompt.size(); ++i) {
    batch.push_back({prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size()});
    seen.push_back(prompt[i]);
  }
  model.forward(batch, tables, cache, logits, pool);
  check("prompt");
  for (int32_t token : extra) {
    const BatchToken next{token, static_cast<int32_t>(seen.size()), 0, true};
    seen.push_back(token);
    model.forward(std::span<const BatchToken>(&next, 1), tables, cache, logits, pool);
    check("decode at " + std::to_string(seen.size()));
  }
}

TEST(LlamaForward, MatchesDoubleReferenceInEveryWeightType) {
  const std::vector<TensorType> types = writable_types();
  ASSERT_GE(types.size(), 4u) << "the type table lost its computable types";
  TempDir dir;
  uint32_t seed = 1;
  for (TensorType type : types) {
    const auto path = dir / (std::string(type_name(type)) + ".gguf");
    const auto reference = testing::write_random_llama(path, LlamaShape{}, type, seed++);
    auto model = load_model(gguf::File::open(path));
    expect_matches_reference(reference, *model, {5, 17, 200, 3, 99, 42, 7}, {11, 250, 1},
                             std::string(type_name(type)));
  }
}

// Every KV cache type, keys and values each, against a reference that rounds cached rows through
// the same type. The bound adds twice the effect of that rounding (as for quantized activations:
// a row can round to a neighbouring level); a wrong block layout, head offset or row stride fails.
// The second shape has 16-value heads, so Q8_0/Q4_0 blocks of 32 hold two heads each.
TEST(LlamaForward, MatchesReferenceWithEveryKvCacheType) {
  TempDir dir;
  LlamaShape narrow_heads;
  narrow_heads.n_embd = 64;
  narrow_heads.n_head = 4;
  narrow_heads.n_head_kv = 2;
  narrow_heads.n_ff = 128;
  for (const LlamaShape& shape : {LlamaShape{}, narrow_heads}) {
    const auto path = dir / ("f32_" + std::to_string(shape.n_embd) + ".gguf");
    const auto weights = testing::write_random_llama(path, shape, TensorType::F32, 21);
    auto model = load_model(gguf::File::open(path));
    for (TensorType key : kv_cache_types()) {
      for (TensorType value : {key, TensorType::F16}) {
        testing::RandomLlama reference = weights;
        reference.cache_key = key;
        reference.cache_value = value;
        expect_matches_reference(reference, *model, {5, 17, 200, 3, 99, 42, 7, 8, 1}, {11, 250},
                                 "dim " + std::to_string(shape.n_embd) + " k " +
                                     std::string(type_name(key)) + " v " +
                                     std::string(type_name(value)));
      }
    }
  }
}

TEST(LlamaForward, QuantizedCacheRejectsRowsThatAreNotWholeBlocks) {
  try {
    KvCache cache(2, 48, 4, 16, {TensorType::Q8_0, TensorType::F16});
    FAIL() << "a Q8_0 cache accepted rows of 48 values";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--cache-type-k q8_0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_kv_cache_type("q4_k", "--cache-type-v"), Error);
  EXPECT_EQ(parse_kv_cache_type("Q8_0", "-ctk"), TensorType::Q8_0);
  EXPECT_EQ(kv_bytes_per_token(3, 64, {TensorType::F16, TensorType::Q4_0}), 3u * (128 + 36));
}

// Host memory splits a block's rows into one slice per KV head where a head is whole blocks of
// the cache types, and keeps whole rows otherwise; where each value sits must not change a bit
// of what attention computes.
TEST(LlamaForward, HostCacheSlicesPerHeadOnlyWhereHeadsAreWholeBlocks) {
  EXPECT_EQ(KvCache(2, 128, 4, 16, {}, 2).n_host_slices(), 2);
  EXPECT_EQ(KvCache(2, 128, 4, 16, {TensorType::Q8_0, TensorType::Q4_0}, 2).n_host_slices(), 2);
  EXPECT_EQ(KvCache(2, 64, 4, 16, {TensorType::Q8_0, TensorType::F16}, 4).n_host_slices(), 1);
  EXPECT_EQ(KvCache(2, 64, 4, 16, {TensorType::F16, TensorType::F16}, 4).n_host_slices(), 4);
  EXPECT_EQ(KvCache(2, 64, 4, 16).n_host_slices(), 1);

  // Every (position, slice) of a block table gets its own place, inside the layer.
  const KvCache cache(1, 128, 4, 8, {}, 4);
  const std::vector<int32_t> table = {2, 0, 3};
  std::vector<size_t> places;
  for (int32_t pos = 0; pos < 24; ++pos) {
    for (int slice = 0; slice < 4; ++slice) {
      places.push_back(cache.slice_in_layer(table, pos, slice));
      EXPECT_LT(places.back(), cache.rows_per_layer() * 4);
    }
  }
  // One head's positions of a block follow each other.
  EXPECT_EQ(cache.slice_in_layer(table, 5, 2), cache.slice_in_layer(table, 4, 2) + 1);
  std::sort(places.begin(), places.end());
  EXPECT_EQ(std::adjacent_find(places.begin(), places.end()), places.end());

  TempDir dir;
  const auto path = dir / "q4_0.gguf";
  testing::write_random_llama(path, LlamaShape{}, TensorType::Q4_0, 31);
  auto model = load_model(gguf::File::open(path));
  ThreadPool pool(2);
  const std::vector<int32_t> table_of_seq = {1, 3, 0, 2};
  const std::span<const int32_t> table_span(table_of_seq);
  const std::span<const std::span<const int32_t>> tables(&table_span, 1);
  auto logits_with = [&](int n_head_kv) {
    KvCache kv(model->info().n_layer, model->info().n_kv_dim(), 4, 4, {}, n_head_kv);
    std::vector<float> logits(static_cast<size_t>(model->info().n_vocab));
    std::vector<BatchToken> batch;
    for (int32_t i = 0; i < 9; ++i) batch.push_back({(i * 37) % 300, i, 0, i == 8});
    model->forward(batch, tables, kv, logits, pool);
    const BatchToken next{17, 9, 0, true};
    model->forward(std::span<const BatchToken>(&next, 1), tables, kv, logits, pool);
    return logits;
  };
  const std::vector<float> whole_rows = logits_with(1);
  ASSERT_GT(model->info().n_head_kv, 1);
  EXPECT_EQ(logits_with(static_cast<int>(model->info().n_head_kv)), whole_rows);
}

TEST(LlamaForward, TiedOutputRopeFactorsAndLinearScaling) {
  TempDir dir;
  LlamaShape shape;
  shape.tied_output = true;
  shape.rope_freqs = true;
  shape.rope_linear_factor = 4.0f;
  shape.rope_base = 500000.0f;
  shape.n_head_kv = 1;  // every query head shares one KV head
  const auto reference =
      testing::write_random_llama(dir / "variant.gguf", shape, TensorType::F32, 77);
  auto model = load_model(gguf::File::open(dir / "variant.gguf"));
  EXPECT_EQ(model->info().n_head_kv, 1);
  expect_matches_reference(reference, *model, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, {14, 15},
                           "variant");
}

TEST(LlamaForward, ReportsSizes) {
  TempDir dir;
  const LlamaShape shape;
  testing::write_random_llama(dir / "m.gguf", shape, TensorType::Q8_0, 3);
  auto model = load_model(gguf::File::open(dir / "m.gguf"));
  const uint64_t matrices =
      static_cast<uint64_t>(2 * shape.n_embd * shape.n_vocab) +
      static_cast<uint64_t>(shape.n_layer) *
          static_cast<uint64_t>(2 * shape.n_embd * shape.n_embd + 2 * shape.n_embd * 128 +
                                3 * shape.n_embd * shape.n_ff);
  const uint64_t norms =
      static_cast<uint64_t>(shape.n_embd) * (1 + 2 * static_cast<uint64_t>(shape.n_layer));
  EXPECT_EQ(model->n_params(), matrices + norms);
  EXPECT_EQ(model->weight_bytes(), matrices / 32 * 34 + norms * 4);
  EXPECT_EQ(model->info().head_dim, 64);
  EXPECT_EQ(model->info().n_ctx_train, 64);
}

void expect_load_error(const std::filesystem::path& path, const std::string& needle) {
  try {
    load_model(gguf::File::open(path));
    FAIL() << "expected an error mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(LlamaLoad, RejectsUnsupportedArchitecture) {
  TempDir dir;
  gguf::Writer writer;
  writer.set("general.architecture", gguf::Value::string("mamba"));
  writer.write(dir / "m.gguf");
  expect_load_error(dir / "m.gguf", "architecture 'mamba' is not supported");
}

TEST(LlamaLoad, RejectsMissingArchitecture) {
  TempDir dir;
  gguf::Writer writer;
  writer.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  writer.write(dir / "m.gguf");
  expect_load_error(dir / "m.gguf", "general.architecture");
}

// Rewrites a valid random model with one tensor changed by `edit`.
void write_edited(const std::filesystem::path& from, const std::filesystem::path& to,
                  const std::function<void(gguf::Writer&, const gguf::TensorInfo&,
                                           std::span<const uint8_t>)>& edit) {
  const gguf::File file = gguf::File::open(from);
  gguf::Writer writer;
  writer.copy_metadata(file);
  for (const auto& info : file.tensors()) edit(writer, info, file.tensor_data(info));
  writer.write(to);
}

TEST(LlamaLoad, RejectsMissingTensorWrongShapeAndUncomputableType) {
  TempDir dir;
  testing::write_random_llama(dir / "ok.gguf", LlamaShape{}, TensorType::F32, 5);
  write_edited(dir / "ok.gguf", dir / "missing.gguf",
               [](gguf::Writer& w, const gguf::TensorInfo& info, auto data) {
                 if (info.name != "blk.1.ffn_up.weight")
                   w.add_tensor_view(info.name, info.type, info.shape, data);
               });
  expect_load_error(dir / "missing.gguf", "tensor 'blk.1.ffn_up.weight' is missing");

  write_edited(dir / "ok.gguf", dir / "shape.gguf",
               [](gguf::Writer& w, const gguf::TensorInfo& info, auto data) {
                 auto shape = info.shape;
                 if (info.name == "blk.0.attn_k.weight") std::swap(shape[0], shape[1]);
                 w.add_tensor_view(info.name, info.type, shape, data);
               });
  expect_load_error(dir / "shape.gguf", "'blk.0.attn_k.weight' has shape [128, 256]");

  write_edited(dir / "ok.gguf", dir / "type.gguf",
               [](gguf::Writer& w, const gguf::TensorInfo& info, auto data) {
                 if (info.name != "blk.0.attn_q.weight") {
                   w.add_tensor_view(info.name, info.type, info.shape, data);
                   return;
                 }
                 // IQ2_XXS: 66 bytes per 256 values, a type bottega reads but cannot compute with.
                 w.add_tensor(info.name, TensorType::IQ2_XXS, info.shape,
                              std::vector<uint8_t>(256 * 66, 0));
               });
  expect_load_error(dir / "type.gguf", "type IQ2_XXS, which bottega cannot compute with");
}

}  // namespace
}  // namespace bottega
