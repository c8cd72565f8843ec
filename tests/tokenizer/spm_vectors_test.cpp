// llama.cpp's tokenizer test vectors for the SentencePiece vocabularies in shared/vocab: every
// string must give exactly the reference ids, and decode back to itself.
//
// NAME.gguf.inp is a sequence of strings each followed by "\n__ggml_vocab_test__\n" (so a string
// may be empty or consist of newlines); NAME.gguf.out has one line of space-separated ids per
// string. The ids carry no BOS and no special-token parsing: llama.cpp's test-tokenizer-0 encodes
// with add_special=false, parse_special=false (the strings contain no special-token text anyway).
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_vectors.h"

namespace bottega::tokenizer {
namespace {

void expect_vectors_match(const std::string& vocab_file) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(vocab_file);
  const std::vector<TestVector> vectors = read_vectors(vocab_file);
  ASSERT_EQ(vectors.size(), 46u) << "the fixture changed; update the expected count";
  size_t matched = 0;
  for (const TestVector& v : vectors) {
    const std::vector<int32_t> actual =
        tokenizer->encode(v.text, /*add_special=*/false, /*parse_special=*/false);
    if (actual == v.ids) {
      ++matched;
    } else {
      ADD_FAILURE() << vocab_file << ": " << quoted(v.text) << "\n  expected:" << ids_text(v.ids)
                    << "\n  actual:  " << ids_text(actual);
    }
  }
  EXPECT_EQ(matched, vectors.size());
  std::cout << vocab_file << ": " << matched << "/" << vectors.size() << " vectors match\n";
}

// The llama vocabularies apply no normalization beyond the dummy prefix, which decode drops
// again, so every string (spaces, tabs, newlines, byte-fallback emoji) survives the round trip.
void expect_round_trip(const std::string& vocab_file) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(vocab_file);
  for (const TestVector& v : read_vectors(vocab_file)) {
    EXPECT_EQ(tokenizer->decode(v.ids), v.text) << quoted(v.text);
    const std::vector<int32_t> with_bos = tokenizer->encode(v.text, true, false);
    ASSERT_FALSE(with_bos.empty());
    EXPECT_EQ(with_bos.front(), tokenizer->vocab().bos);
    EXPECT_EQ(tokenizer->decode(with_bos), v.text) << quoted(v.text);
  }
}

TEST(SpmVectors, LlamaSpmMatchesReference) {
  expect_vectors_match("vocab/ggml-vocab-llama-spm.gguf");
}

TEST(SpmVectors, Phi3MatchesReference) {
  expect_vectors_match("vocab/ggml-vocab-phi-3.gguf");
}

TEST(SpmVectors, LlamaSpmRoundTrips) {
  expect_round_trip("vocab/ggml-vocab-llama-spm.gguf");
}

TEST(SpmVectors, Phi3RoundTrips) {
  expect_round_trip("vocab/ggml-vocab-phi-3.gguf");
}

// Phi-3's chat markers are control tokens (parsed only on request); its </s> is user-defined and,
// as in llama.cpp, matched even in plain text.
TEST(SpmVectors, Phi3SpecialTokens) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer("vocab/ggml-vocab-phi-3.gguf");
  const int32_t user = tokenizer->find_token("<|user|>");
  const int32_t end = tokenizer->find_token("<|end|>");
  ASSERT_EQ(user, 32010);
  ASSERT_EQ(end, 32007);
  const std::string prompt = "<|user|>\nHello<|end|>";
  const std::vector<int32_t> parsed = tokenizer->encode(prompt, true, true);
  // BOS, <|user|>, then "Hello" with the dummy prefix llama.cpp puts after a special token: the
  // newline goes, as llama.cpp strips the whitespace after Phi-3's special tokens (see
  // special_strip_test.cpp).
  EXPECT_EQ(parsed, (std::vector<int32_t>{1, user, 15043, end}));
  EXPECT_TRUE(tokenizer->is_eog(end));
  const std::vector<int32_t> plain = tokenizer->encode(prompt, true, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), user), 0);
  EXPECT_EQ(tokenizer->decode(plain), prompt);
  EXPECT_EQ(tokenizer->encode("a</s>", false, false), (std::vector<int32_t>{263, 2}));
}

}  // namespace
}  // namespace bottega::tokenizer
