// bottega show: the facts a user reads off a model file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testutil/testutil.h"

namespace bottega {
namespace {

using testing::run_bottega;

TEST(Show, JsonDescribesTheSharedModel) {
  const auto model = testing::shared_file("models/aidreams260K.gguf").string();
  const auto r = run_bottega({"show", model, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["architecture"], "llama");
  EXPECT_EQ(json["gguf_version"], 3);
  EXPECT_EQ(json["context_length"], 128);
  EXPECT_EQ(json["tokenizer"]["model"], "llama");
  EXPECT_EQ(json["tokenizer"]["vocab_size"], 512);
  EXPECT_EQ(json["tensors"].size(), 39u);
  EXPECT_EQ(json["type_mix"]["F32"]["tensors"], 39);
  // 2 x 64x512 embeddings/head, 4 layers of 4x64x64 attention + 3x64x172 FFN + 2x64 norms, final
  // norm.
  const uint64_t params = 2 * 64 * 512 + 4 * (4 * 64 * 64 + 3 * 64 * 172 + 2 * 64) + 64;
  EXPECT_EQ(json["parameters"], params);
  EXPECT_EQ(json["tensor_bytes"], params * 4);
  EXPECT_EQ(json["metadata"]["llama.embedding_length"], 64);
  // Long arrays are elided to their first elements and length.
  EXPECT_EQ(json["metadata"]["tokenizer.ggml.tokens"]["length"], 512);
  EXPECT_EQ(json["metadata"]["tokenizer.ggml.tokens"]["first"][1], "<s>");
  const auto& first = json["tensors"][0];
  EXPECT_EQ(first["name"], "token_embd.weight");
  EXPECT_EQ(first["shape"], nlohmann::json::array({64, 512}));
}

TEST(Show, TextListsKeysAndTensors) {
  const auto model = testing::shared_file("models/aidreams260K.gguf").string();
  const auto r = run_bottega({"show", model});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("architecture: llama"), std::string::npos);
  EXPECT_NE(r.out.find("llama.attention.head_count_kv"), std::string::npos);
  EXPECT_NE(r.out.find("... (512 strings)"), std::string::npos) << r.out.substr(0, 2000);
  EXPECT_NE(r.out.find("blk.3.ffn_norm.weight"), std::string::npos);
  EXPECT_NE(r.out.find("context:      128 tokens"), std::string::npos);
}

}  // namespace
}  // namespace bottega
