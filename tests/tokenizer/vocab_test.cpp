// Reading tokenizer.ggml.* from GGUF: the shared vocabularies, llama.cpp's defaults for absent
// keys, and clear errors for malformed metadata.
#include "tokenizer/vocab.h"

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace bottega::tokenizer {
namespace {

using Type = Vocab::TokenType;

Vocab load_shared(const std::string& relative) {
  return load_vocab(gguf::File::open(testing::shared_file(relative)));
}

TEST(Vocab, LoadsLlamaSpm) {
  const Vocab v = load_shared("vocab/ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(v.model, "llama");
  EXPECT_EQ(v.pre, "default");
  ASSERT_EQ(v.n_tokens(), 32000);
  EXPECT_EQ(v.scores.size(), 32000u);
  EXPECT_EQ(v.types.size(), 32000u);
  EXPECT_EQ(v.text(1), "<s>");
  EXPECT_EQ(v.text(29871), "\xE2\x96\x81");
  EXPECT_EQ(v.type(0), Type::kUnknown);
  EXPECT_EQ(v.type(1), Type::kControl);
  EXPECT_EQ(v.type(3), Type::kByte);
  EXPECT_EQ(v.type(29871), Type::kNormal);
  EXPECT_EQ(v.bos, 1);
  EXPECT_EQ(v.eos, 2);
  EXPECT_EQ(v.unk, 0);
  EXPECT_EQ(v.pad, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);  // absent from the file: llama.cpp's default for "llama"
  EXPECT_EQ(v.eog, std::vector<int32_t>{2});
}

TEST(Vocab, LoadsPhi3WithItsEndOfTurnToken) {
  const Vocab v = load_shared("vocab/ggml-vocab-phi-3.gguf");
  ASSERT_EQ(v.n_tokens(), 32064);
  EXPECT_EQ(v.eos, 32000);  // <|endoftext|>
  EXPECT_EQ(v.pad, 32000);
  EXPECT_EQ(v.text(32007), "<|end|>");
  EXPECT_EQ(v.eot, 32007);  // not in the file; found by its text
  EXPECT_EQ(v.eog, (std::vector<int32_t>{32000, 32007}));
  EXPECT_EQ(v.type(2), Type::kUserDefined);  // Phi-3 marks </s> user-defined
}

TEST(Vocab, TreatsMinusOneAsNoToken) {
  // aidreams260K stores padding and separator ids as 0xFFFFFFFF.
  const Vocab v = load_shared("models/aidreams260K.gguf");
  EXPECT_EQ(v.n_tokens(), 512);
  EXPECT_EQ(v.pad, -1);
  EXPECT_EQ(v.bos, 1);
  EXPECT_TRUE(v.add_bos);
}

TEST(Vocab, LoadsA32000TokenVocabularyQuickly) {
  const auto path = testing::shared_file("vocab/ggml-vocab-llama-spm.gguf");
  const auto start = std::chrono::steady_clock::now();
  const gguf::File file = gguf::File::open(path);
  const auto parsed = std::chrono::steady_clock::now();
  const auto tokenizer = load_tokenizer(file);
  const auto done = std::chrono::steady_clock::now();
  using Ms = std::chrono::duration<double, std::milli>;
  std::cout << "gguf open " << Ms(parsed - start).count() << " ms, vocab + tokenizer "
            << Ms(done - parsed).count() << " ms\n";
  EXPECT_EQ(tokenizer->n_vocab(), 32000);
  // Generous: a sanitizer build is several times slower than a release build (a few ms).
  EXPECT_LT(Ms(done - parsed).count(), 500.0);
}

// Writes a GGUF holding just the given tokenizer metadata.
class VocabFile : public ::testing::Test {
 protected:
  void SetUp() override {
    writer_.set("tokenizer.ggml.model", gguf::Value::string("llama"));
    writer_.set("tokenizer.ggml.tokens", gguf::Value::strings({"<unk>", "<s>", "</s>", "a"}));
  }
  gguf::File write() {
    const auto path = dir_ / "vocab.gguf";
    writer_.write(path);
    return gguf::File::open(path);
  }
  // The message of the Error load_vocab throws, or "" when it loads.
  std::string load_error() {
    const gguf::File file = write();
    try {
      load_vocab(file);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  testing::TempDir dir_;
  gguf::Writer writer_;
};

TEST_F(VocabFile, AppliesLlamaDefaults) {
  const Vocab v = load_vocab(write());
  EXPECT_EQ(v.scores, std::vector<float>(4, 0.0f));
  EXPECT_EQ(v.types, std::vector<Type>(4, Type::kNormal));
  EXPECT_EQ(v.bos, 1);
  EXPECT_EQ(v.eos, 2);
  EXPECT_EQ(v.unk, 0);
  EXPECT_EQ(v.pad, -1);
  EXPECT_EQ(v.eot, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);
}

TEST_F(VocabFile, ReadsFlagsAndIds) {
  writer_.set("tokenizer.ggml.scores", gguf::Value::f32s({0, 0, 0, -1.5f}));
  writer_.set("tokenizer.ggml.token_type", gguf::Value::i32s({2, 3, 3, 1}));
  writer_.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(2));
  writer_.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(1));
  writer_.set("tokenizer.ggml.eot_token_id", gguf::Value::i32(3));
  writer_.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(false));
  writer_.set("tokenizer.ggml.add_eos_token", gguf::Value::boolean(true));
  writer_.set("tokenizer.ggml.add_space_prefix", gguf::Value::boolean(false));
  writer_.set("tokenizer.ggml.merges", gguf::Value::strings({"a b"}));
  const Vocab v = load_vocab(write());
  EXPECT_EQ(v.scores[3], -1.5f);
  EXPECT_EQ(v.type(0), Type::kUnknown);
  EXPECT_EQ(v.bos, 2);
  EXPECT_EQ(v.eos, 1);
  EXPECT_EQ(v.eot, 3);
  EXPECT_EQ(v.eog, (std::vector<int32_t>{1, 3}));
  EXPECT_FALSE(v.add_bos);
  EXPECT_TRUE(v.add_eos);
  EXPECT_FALSE(v.add_space_prefix);
  EXPECT_EQ(v.merges, std::vector<std::string>{"a b"});
}

TEST_F(VocabFile, RejectsMissingModel) {
  gguf::Writer writer;
  writer.set("tokenizer.ggml.tokens", gguf::Value::strings({"a"}));
  writer_ = writer;
  EXPECT_NE(load_error().find("tokenizer.ggml.model"), std::string::npos);
}

TEST_F(VocabFile, RejectsMissingTokens) {
  gguf::Writer writer;
  writer.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  writer_ = writer;
  const std::string error = load_error();
  EXPECT_NE(error.find("tokenizer.ggml.tokens: missing"), std::string::npos) << error;
  EXPECT_NE(error.find("vocab.gguf"), std::string::npos) << error;  // names the file
}

TEST_F(VocabFile, RejectsTokensThatAreNotStrings) {
  writer_.set("tokenizer.ggml.tokens", gguf::Value::i32s({1, 2}));
  EXPECT_NE(load_error().find("tokenizer.ggml.tokens"), std::string::npos);
}

TEST_F(VocabFile, RejectsScoresOfTheWrongLength) {
  writer_.set("tokenizer.ggml.scores", gguf::Value::f32s({0, 0, 0}));
  const std::string error = load_error();
  EXPECT_NE(error.find("tokenizer.ggml.scores: has 3 entries but tokenizer.ggml.tokens has 4"),
            std::string::npos)
      << error;
}

TEST_F(VocabFile, RejectsTypesOfTheWrongLength) {
  writer_.set("tokenizer.ggml.token_type", gguf::Value::i32s({1, 1, 1, 1, 1}));
  EXPECT_NE(load_error().find("tokenizer.ggml.token_type: has 5 entries"), std::string::npos);
}

TEST_F(VocabFile, RejectsUnknownTokenTypes) {
  writer_.set("tokenizer.ggml.token_type", gguf::Value::i32s({1, 1, 1, 7}));
  EXPECT_NE(load_error().find("tokenizer.ggml.token_type: token 3 has unknown type 7"),
            std::string::npos);
}

TEST_F(VocabFile, RejectsSpecialIdsOutOfRange) {
  writer_.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(4));
  const std::string error = load_error();
  EXPECT_NE(error.find("tokenizer.ggml.eos_token_id: token id 4 is out of range"),
            std::string::npos)
      << error;
  writer_.set("tokenizer.ggml.eos_token_id", gguf::Value::i32(-7));
  EXPECT_NE(load_error().find("tokenizer.ggml.eos_token_id: invalid token id -7"),
            std::string::npos);
}

TEST_F(VocabFile, RejectsAddBosWithoutBos) {
  writer_.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(0xFFFFFFFF));
  EXPECT_NE(load_error().find("tokenizer.ggml.add_bos_token"), std::string::npos);
  writer_.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(false));
  EXPECT_EQ(load_error(), "");
}

TEST_F(VocabFile, RejectsFlagsOfTheWrongType) {
  writer_.set("tokenizer.ggml.add_bos_token", gguf::Value::string("yes"));
  EXPECT_NE(load_error().find("tokenizer.ggml.add_bos_token"), std::string::npos);
}

TEST_F(VocabFile, UnsupportedModelFailsInTheFactoryNotTheLoader) {
  writer_.set("tokenizer.ggml.model", gguf::Value::string("rwkv"));
  const gguf::File file = write();
  EXPECT_EQ(load_vocab(file).model, "rwkv");
  try {
    load_tokenizer(file);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer model 'rwkv' is not supported yet"),
              std::string::npos)
        << e.what();
  }
}

TEST(FinalizeVocab, ChecksVocabulariesBuiltInCode) {
  Vocab v;
  v.model = "llama";
  v.tokens = {"a", "b"};
  v.scores = {0.0f};
  EXPECT_THROW(finalize_vocab(v), Error);
  v.scores.clear();
  v.bos = 2;
  EXPECT_THROW(finalize_vocab(v), Error);
  v.bos = -1;
  finalize_vocab(v);
  EXPECT_EQ(v.scores.size(), 2u);
  EXPECT_EQ(v.types.size(), 2u);
}

TEST(TokenIndex, FindsIdsAndPrefersTheLaterDuplicate) {
  Vocab v;
  v.tokens = {"a", "b", "a", ""};
  const TokenIndex index(v);
  EXPECT_EQ(index.find("a"), 2);
  EXPECT_EQ(index.find("b"), 1);
  EXPECT_EQ(index.find("c"), -1);
  EXPECT_EQ(index.find(""), -1);
}

}  // namespace
}  // namespace bottega::tokenizer
