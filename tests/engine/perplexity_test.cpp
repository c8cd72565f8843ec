// Perplexity of the shared aidreams260K model against a plain computation: double-precision
// reference logits (tests/model/random_llama.h) over the same chunks, scored on their second half.
#include "engine/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "gguf/gguf.h"
#include "model/random_llama.h"
#include "testutil/testutil.h"

namespace bottega {
namespace {

std::string golden_text() {
  const auto json = nlohmann::json::parse(
      testing::read_file(testing::shared_file("models/golden/aidreams260K.greedy.json")));
  std::string text;
  for (const auto& c : json.at("cases"))
    text += c.at("prompt").get<std::string>() + c.at("continuation").get<std::string>() + "\n";
  return text;
}

// The shared model's weights as the reference forward pass wants them.
testing::RandomLlama shared_model_weights(const gguf::File& file) {
  testing::RandomLlama model;
  model.shape.n_vocab = 512;
  model.shape.n_embd = 64;
  model.shape.n_layer = 4;
  model.shape.n_head = 4;
  model.shape.n_head_kv = 4;
  model.shape.n_ff = 172;
  model.shape.n_ctx = 128;
  for (const auto& info : file.tensors()) {
    const auto data = file.tensor_data(info);
    std::vector<float> values(static_cast<size_t>(info.n_elements()));
    type_traits(info.type).dequantize(data.data(), values.data(), info.n_elements());
    model.tensors[info.name] = std::move(values);
  }
  return model;
}

TEST(Perplexity, EqualsAPlainReferenceComputation) {
  const auto path = testing::shared_file("models/aidreams260K.gguf");
  gguf::File file = gguf::File::open(path);
  const auto reference_model = shared_model_weights(file);
  const auto tokenizer = tokenizer::load_tokenizer(file);
  const auto model = load_model(gguf::File::open(path));
  ThreadPool pool(2);
  const std::string text = golden_text();

  PerplexityOptions options;
  options.n_ctx = 32;
  options.n_batch = 7;  // several forward passes per chunk
  std::vector<double> running;
  const PerplexityResult result =
      compute_perplexity(*model, *tokenizer, text, options, pool,
                         [&](int32_t, double ppl) { running.push_back(ppl); });

  const std::vector<int32_t> tokens = tokenizer->encode(text, true, false);
  const int n_chunks = static_cast<int>(tokens.size() / 32);
  ASSERT_GE(n_chunks, 2);
  double nll = 0.0;
  int64_t count = 0;
  for (int c = 0; c < n_chunks; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + c * 32, tokens.begin() + (c + 1) * 32);
    chunk[0] = 1;  // BOS
    for (int j = 16; j < 31; ++j) {
      const std::vector<int32_t> prefix(chunk.begin(), chunk.begin() + j + 1);
      const std::vector<double> logits = testing::reference_logits(reference_model, prefix);
      double max_logit = -1e300, sum = 0.0;
      for (double v : logits) max_logit = std::max(max_logit, v);
      for (double v : logits) sum += std::exp(v - max_logit);
      nll += -(logits[static_cast<size_t>(chunk[static_cast<size_t>(j) + 1])] - max_logit -
               std::log(sum));
      ++count;
    }
    EXPECT_NEAR(running[static_cast<size_t>(c)], std::exp(nll / static_cast<double>(count)),
                1e-4 * running[static_cast<size_t>(c)])
        << "chunk " << c + 1;
  }
  EXPECT_EQ(result.n_chunks, n_chunks);
  EXPECT_EQ(result.n_scored, count);
  EXPECT_NEAR(result.ppl, std::exp(nll / static_cast<double>(count)), 1e-4 * result.ppl);
  EXPECT_GT(result.ppl_uncertainty, 0.0);
  EXPECT_LT(result.ppl_uncertainty, result.ppl);
}

TEST(Perplexity, KlDivergenceOfAModelAgainstItselfIsZero) {
  const auto path = testing::shared_file("models/aidreams260K.gguf");
  gguf::File file = gguf::File::open(path);
  const auto tokenizer = tokenizer::load_tokenizer(file);
  const auto model = load_model(std::move(file));
  ThreadPool pool(1);
  testing::TempDir dir;
  PerplexityOptions save;
  save.n_ctx = 32;
  save.save_base_path = (dir / "base.kl").string();
  const auto base =
      compute_perplexity(*model, *tokenizer, golden_text(), save, pool, [](int32_t, double) {});
  ASSERT_TRUE(std::filesystem::exists(save.save_base_path));

  PerplexityOptions compare;
  compare.n_ctx = 32;
  compare.compare_base_path = save.save_base_path;
  const auto again =
      compute_perplexity(*model, *tokenizer, golden_text(), compare, pool, [](int32_t, double) {});
  ASSERT_TRUE(again.kl.has_value());
  EXPECT_NEAR(again.kl->mean_kl, 0.0, 1e-6);
  EXPECT_DOUBLE_EQ(again.kl->top1_agreement, 1.0);
  EXPECT_NEAR(again.kl->ppl_ratio, 1.0, 1e-9);
  EXPECT_NEAR(again.kl->base_ppl, base.ppl, 1e-9 * base.ppl);

  compare.n_ctx = 16;  // a different chunking cannot be compared
  EXPECT_THROW(
      compute_perplexity(*model, *tokenizer, golden_text(), compare, pool, [](int32_t, double) {}),
      Error);
}

TEST(Perplexity, TooShortTextIsAClearError) {
  const auto path = testing::shared_file("models/aidreams260K.gguf");
  gguf::File file = gguf::File::open(path);
  const auto tokenizer = tokenizer::load_tokenizer(file);
  const auto model = load_model(std::move(file));
  ThreadPool pool(1);
  PerplexityOptions options;
  options.n_ctx = 64;
  try {
    compute_perplexity(*model, *tokenizer, "The machine", options, pool, [](int32_t, double) {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs at least 128"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bottega
