// bottega convert llama2c: the written GGUF carries the standard llama keys and exactly the weights
// of the checkpoint (compared with the reference converter's GGUF of the same model).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "gguf/gguf.h"
#include "testutil/testutil.h"

namespace bottega {
namespace {

using testing::run_bottega;
using testing::shared_file;

TEST(ConvertLlama2c, WeightsAndVocabularyEqualTheReferenceConversion) {
  testing::TempDir dir;
  const auto out = dir / "converted.gguf";
  const auto r =
      run_bottega({"convert", "llama2c", shared_file("models/aidreams260K.bin").string(),
                   shared_file("models/aidreams260K.tok512.bin").string(), out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const gguf::File ours = gguf::File::open(out);
  const gguf::File reference = gguf::File::open(shared_file("models/aidreams260K.gguf"));

  for (const char* key :
       {"llama.context_length", "llama.embedding_length", "llama.feed_forward_length",
        "llama.attention.head_count", "llama.attention.head_count_kv", "llama.block_count",
        "llama.rope.dimension_count", "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id"}) {
    EXPECT_EQ(ours.get_int(key), reference.get_int(key)) << key;
  }
  EXPECT_EQ(ours.get_string("general.architecture"), "llama");
  EXPECT_EQ(ours.get_string("tokenizer.ggml.model"), "llama");
  const auto* our_tokens = ours.get_array("tokenizer.ggml.tokens");
  const auto* ref_tokens = reference.get_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(our_tokens && ref_tokens);
  ASSERT_EQ(our_tokens->elements.size(), ref_tokens->elements.size());
  for (size_t i = 0; i < our_tokens->elements.size(); ++i) {
    EXPECT_EQ(*our_tokens->elements[i].as_string(), *ref_tokens->elements[i].as_string())
        << "token " << i;
  }
  const auto* our_types = ours.get_array("tokenizer.ggml.token_type");
  const auto* ref_types = reference.get_array("tokenizer.ggml.token_type");
  ASSERT_TRUE(our_types && ref_types);
  for (size_t i = 0; i < ref_types->elements.size(); ++i) {
    EXPECT_EQ(our_types->elements[i].as_int(), ref_types->elements[i].as_int())
        << "token type " << i;
  }

  // Every tensor of ours is byte-identical to the reference's; the reference also stores the tied
  // classifier as output.weight, which ours leaves out (readers fall back to token_embd).
  for (const auto& info : ours.tensors()) {
    const auto* ref = reference.find_tensor(info.name);
    ASSERT_NE(ref, nullptr) << info.name;
    EXPECT_EQ(info.shape, ref->shape) << info.name;
    const auto a = ours.tensor_data(info);
    const auto b = reference.tensor_data(*ref);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << info.name;
  }
  EXPECT_EQ(ours.tensors().size() + 1, reference.tensors().size());
}

TEST(ConvertLlama2c, TruncatedCheckpointIsRejectedAndWritesNothing) {
  testing::TempDir dir;
  const std::string bytes = testing::read_file(shared_file("models/aidreams260K.bin"));
  std::ofstream(dir / "short.bin", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const auto out = dir / "out.gguf";
  const auto r =
      run_bottega({"convert", "llama2c", (dir / "short.bin").string(),
                   shared_file("models/aidreams260K.tok512.bin").string(), out.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1)
      << "a temporary file was left behind";
}

TEST(ConvertLlama2c, GarbageHeaderIsRejected) {
  testing::TempDir dir;
  std::ofstream(dir / "bad.bin", std::ios::binary) << std::string(64, '\xff');
  const auto r = run_bottega({"convert", "llama2c", (dir / "bad.bin").string(),
                              shared_file("models/aidreams260K.tok512.bin").string(),
                              (dir / "o.gguf").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a valid llama2.c configuration"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bottega
