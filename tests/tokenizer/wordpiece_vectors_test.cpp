// WordPiece ("bert" vocabularies): llama.cpp's vectors for bert-bge give exactly the reference ids;
// plus BERT's normalization (case, accents, punctuation, CJK) and [CLS]/[SEP] handling.
#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab_vectors.h"
#include "tokenizer/wordpiece_tokenizer.h"

namespace bottega::tokenizer {
namespace {

using Ids = std::vector<int32_t>;
using Words = std::vector<std::string>;

constexpr const char* kBgeFile = "vocab/ggml-vocab-bert-bge.gguf";

TEST(WordPieceVectors, BertBgeMatchesReference) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(kBgeFile);
  EXPECT_EQ(tokenizer->vocab().model, "bert");
  const std::vector<TestVector> vectors = read_vectors(kBgeFile);
  ASSERT_EQ(vectors.size(), 46u) << "the fixture changed; update the expected count";
  size_t matched = 0;
  for (const TestVector& v : vectors) {
    const Ids actual = tokenizer->encode(v.text, /*add_special=*/false, /*parse_special=*/false);
    if (actual == v.ids) {
      ++matched;
    } else {
      ADD_FAILURE() << quoted(v.text) << "\n  expected:" << ids_text(v.ids)
                    << "\n  actual:  " << ids_text(actual);
    }
  }
  EXPECT_EQ(matched, vectors.size());
  std::cout << kBgeFile << ": " << matched << "/" << vectors.size() << " vectors match\n";
}

TEST(WordPieceVectors, WrapsInClsAndSep) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(kBgeFile);
  EXPECT_EQ(tokenizer->vocab().bos, 101);  // [CLS]
  EXPECT_EQ(tokenizer->vocab().eos, 102);  // [SEP]
  const Ids ids = tokenizer->encode("Hello world", /*add_special=*/true, false);
  EXPECT_EQ(ids, (Ids{101, 7592, 2088, 102}));
  EXPECT_EQ(tokenizer->decode(ids), "hello world");
  EXPECT_EQ(tokenizer->decode(ids, /*skip_special=*/false), "[CLS] hello world[SEP]");
  // Control tokens written in the text are matched only with parse_special.
  EXPECT_EQ(tokenizer->encode("[SEP]", false, true), (Ids{102}));
  EXPECT_EQ(tokenizer->encode("[SEP]", false, false).size(), 3u);  // "[", "sep", "]"
}

TEST(WordPieceVectors, ContinuationPiecesJoinOnDecode) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(kBgeFile);
  const Ids ids = tokenizer->encode("Führer discards", false, false);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(tokenizer->decode(ids), "fuhrer discards");
}

TEST(WordPieceSplit, FollowsBertBasicTokenizer) {
  EXPECT_EQ(WordPieceTokenizer::split_words("  Hello,\tWORLD!\n"),
            (Words{"hello", ",", "world", "!"}));
  // Accents go (NFD, then the nonspacing marks are dropped); other letters stay.
  EXPECT_EQ(WordPieceTokenizer::split_words("C\xE1\xBB\xAD"
                                            "a Vi\xE1\xBB\x87t"),
            (Words{"cua", "viet"}));
  // CJK ideographs are words by themselves; Hangul is not, and stays decomposed into jamo (NFD).
  EXPECT_EQ(WordPieceTokenizer::split_words("\xE6\x88\x91\xE6\x83\xB3"
                                            "ab \xED\x95\x9C"),
            (Words{"\xE6\x88\x91", "\xE6\x83\xB3", "ab", "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"}));
  // ASCII symbols split, non-ASCII symbols do not; control characters and U+FFFD vanish.
  EXPECT_EQ(WordPieceTokenizer::split_words("a$b\xE2\x82\xAC"
                                            "c\x01"
                                            "d\xEF\xBF\xBD"),
            (Words{"a", "$",
                   "b\xE2\x82\xAC"
                   "cd"}));
  EXPECT_TRUE(WordPieceTokenizer::split_words(" \t\n").empty());
}

TEST(WordPieceSplit, InvalidUtf8NeverCrashes) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(kBgeFile);
  const Ids ids = tokenizer->encode(std::string("ab\xFF\xC3(cd\xE2\x82", 8), false, false);
  EXPECT_FALSE(ids.empty());
}

TEST(Unicode, NormalizationForms) {
  // e + combining acute composes; the Angstrom sign is a singleton that becomes U+00C5; Hangul
  // syllables decompose to jamo and back.
  EXPECT_EQ(unicode::nfc("e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(unicode::nfc("\xE2\x84\xAB"), "\xC3\x85");
  EXPECT_EQ(unicode::nfc("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"), "\xED\x95\x9C");
  // Combining marks are put in canonical order: dot below (220) before acute (230).
  EXPECT_EQ(unicode::nfc("a\xCC\x81\xCC\xA3"), "\xE1\xBA\xA1\xCC\x81");
  EXPECT_EQ(unicode::nfd(U"\u00E9"), U"e\u0301");
  EXPECT_EQ(unicode::to_lower(U'\u0130'), U'i');
  EXPECT_EQ(unicode::to_lower(U'\u0416'), U'\u0436');
  EXPECT_TRUE(unicode::category(U'\u3002') & unicode::kPunctuation);
  EXPECT_TRUE(unicode::category(U'\u0301') & unicode::kNonspacingMark);
}

}  // namespace
}  // namespace bottega::tokenizer
