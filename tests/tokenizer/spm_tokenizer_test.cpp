// SentencePiece behaviour on small vocabularies built in code (merge order, byte fallback,
// special tokens, decoding rules) and on the aidreams260K model's real 512-token vocabulary.
#include "tokenizer/spm_tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_builder.h"

namespace bottega::tokenizer {
namespace {

using test_support::byte_id;
using test_support::kBos;
using test_support::kEos;
using test_support::kMark;
using test_support::kUnk;
using test_support::VocabBuilder;
using Type = Vocab::TokenType;
using Ids = std::vector<int32_t>;

TEST(SpmTokenizer, MergesHighestScoringPairFirst) {
  VocabBuilder b;
  const int32_t space = b.add(kMark, -5);
  const int32_t a = b.add("a", -5);
  const int32_t bb = b.add("b", -5);
  const int32_t ab = b.add("ab", -1);
  const int32_t space_a = b.add(kMark + "a", -2);
  auto tok = b.build();
  // "▁a" (-2) loses to "ab" (-1); no "▁ab" piece exists, so the space stays alone.
  EXPECT_EQ(tok->encode("ab", false, false), (Ids{space, ab}));
  EXPECT_EQ(tok->encode("a", false, false), (Ids{space_a}));
  EXPECT_EQ(tok->encode("ba", false, false), (Ids{space, bb, a}));
}

TEST(SpmTokenizer, MergesFromTheLeftOnEqualScores) {
  VocabBuilder b;
  const int32_t space = b.add(kMark, -5);
  const int32_t a = b.add("a", -5);
  const int32_t aa = b.add("aa", -1);
  auto tok = b.build();
  EXPECT_EQ(tok->encode("aaa", false, false), (Ids{space, aa, a}));
  EXPECT_EQ(tok->encode("aaaa", false, false), (Ids{space, aa, aa}));
}

TEST(SpmTokenizer, MergesAgainAfterAMerge) {
  VocabBuilder b;
  b.add(kMark, -5);
  b.add("a", -5);
  b.add("b", -5);
  b.add("c", -5);
  b.add("bc", -1);
  b.add("abc", -3);
  const int32_t space_abc = b.add(kMark + "abc", -4);
  auto tok = b.build();
  EXPECT_EQ(tok->encode("abc", false, false), (Ids{space_abc}));
}

TEST(SpmTokenizer, AddsBosAndEosAsTheVocabularyAsks) {
  VocabBuilder b;
  const int32_t space_a = b.add(kMark + "a", -1);
  b.vocab().add_eos = true;
  auto tok = b.build();
  EXPECT_EQ(tok->encode("a", true, false), (Ids{kBos, space_a, kEos}));
  EXPECT_EQ(tok->encode("a", false, false), (Ids{space_a}));
  // SentencePiece: the empty text is [BOS] with special tokens and nothing without.
  EXPECT_EQ(tok->encode("", true, false), (Ids{kBos, kEos}));
  EXPECT_EQ(tok->encode("", false, false), Ids{});
}

TEST(SpmTokenizer, NoDummyPrefixWhenTheVocabularyTurnsItOff) {
  VocabBuilder b;
  const int32_t a = b.add("a", -1);
  const int32_t space = b.add(kMark, -1);
  b.vocab().add_space_prefix = false;
  auto tok = b.build();
  EXPECT_EQ(tok->encode("a a", false, false), (Ids{a, space, a}));
  EXPECT_EQ(tok->decode(Ids{space, a}), " a");
}

TEST(SpmTokenizer, FallsBackToByteTokens) {
  VocabBuilder b;
  const int32_t space = b.add(kMark, -1);
  const int32_t x = b.add("x", -1);
  auto tok = b.build();
  // "é" is C3 A9 and no piece of this vocabulary.
  EXPECT_EQ(tok->encode("x\xC3\xA9", false, false), (Ids{space, x, byte_id(0xC3), byte_id(0xA9)}));
  // Tab, newline and a 4-byte emoji likewise.
  EXPECT_EQ(tok->encode("\t\n", false, false), (Ids{space, byte_id('\t'), byte_id('\n')}));
  EXPECT_EQ(tok->encode("\xF0\x9F\xA6\x99", false, false),
            (Ids{space, byte_id(0xF0), byte_id(0x9F), byte_id(0xA6), byte_id(0x99)}));
  EXPECT_EQ(tok->decode(tok->encode("x\xC3\xA9 \xF0\x9F\xA6\x99", true, false)),
            "x\xC3\xA9 \xF0\x9F\xA6\x99");
}

TEST(SpmTokenizer, InvalidUtf8BecomesBytesAndRoundTrips) {
  VocabBuilder b;
  b.add(kMark, -1);
  auto tok = b.build();
  const std::string text = "\xFF\x80\xE2\x82";  // stray bytes and a truncated sequence
  EXPECT_EQ(tok->decode(tok->encode(text, false, false)), text);
}

TEST(SpmTokenizer, UnknownTokenWithoutByteFallback) {
  VocabBuilder b(/*with_bytes=*/false);
  const int32_t space = b.add(kMark, -1);
  const int32_t x = b.add("x", -1);
  auto tok = b.build();
  // One <unk> per unknown character, not per byte.
  EXPECT_EQ(tok->encode("x\xC3\xA9x", false, false), (Ids{space, x, kUnk, x}));
  // <unk> renders as nothing unless special tokens are shown.
  EXPECT_EQ(tok->decode(Ids{space, x, kUnk, x}), "xx");
  EXPECT_EQ(tok->decode(Ids{space, x, kUnk, x}, /*skip_special=*/false), "x<unk>x");
}

TEST(SpmTokenizer, ThrowsWhenAByteCannotBeRepresented) {
  VocabBuilder b(/*with_bytes=*/false);
  b.add(kMark, -1);
  b.vocab().unk = -1;
  auto tok = b.build();
  EXPECT_THROW(tok->encode("\xC3\xA9", false, false), Error);
}

TEST(SpmTokenizer, ParsesControlTokensOnlyWhenAsked) {
  VocabBuilder b;
  const int32_t space = b.add(kMark, -1);
  const int32_t space_a = b.add(kMark + "a", -1);
  auto tok = b.build();
  EXPECT_EQ(tok->encode("<s>", false, true), (Ids{kBos}));
  const Ids as_text = tok->encode("<s>", false, false);
  EXPECT_EQ(as_text, (Ids{space, byte_id('<'), byte_id('s'), byte_id('>')}));
  EXPECT_EQ(tok->decode(as_text), "<s>");
  // A dummy prefix follows every special token, as in llama.cpp.
  EXPECT_EQ(tok->encode("a</s>a", false, true), (Ids{space_a, kEos, space_a}));
  EXPECT_EQ(tok->encode("<s>a", true, true), (Ids{kBos, kBos, space_a}));
  // <unk> written in the text is an unknown-type token: also only with parse_special.
  EXPECT_EQ(tok->encode("<unk>", false, true), (Ids{kUnk}));
  EXPECT_NE(tok->encode("<unk>", false, false), (Ids{kUnk}));
}

TEST(SpmTokenizer, MatchesTheLongestSpecialTokenFirst) {
  VocabBuilder b;
  const int32_t space = b.add(kMark, -1);
  const int32_t end = b.add("<|end|>", 0, Type::kControl);
  const int32_t end_of_text = b.add("<|endoftext|>", 0, Type::kControl);
  auto tok = b.build();
  EXPECT_EQ(tok->encode("<|endoftext|><|end|>", false, true), (Ids{end_of_text, end}));
  EXPECT_EQ(tok->encode(" <|end|>", false, true), (Ids{space, space, end}));
}

TEST(SpmTokenizer, MatchesUserDefinedTokensEvenWithoutParseSpecial) {
  VocabBuilder b;
  const int32_t space_x = b.add(kMark + "x", -1);
  const int32_t tool = b.add("<tool>", 0, Type::kUserDefined);
  auto tok = b.build();
  EXPECT_EQ(tok->encode("x<tool>x", false, false), (Ids{space_x, tool, space_x}));
  // User-defined tokens render as their text even when special tokens are skipped.
  EXPECT_EQ(tok->decode(Ids{space_x, tool, space_x}), "x<tool> x");
}

TEST(SpmTokenizer, RendersPieces) {
  VocabBuilder b;
  const int32_t hello = b.add(kMark + "hello" + kMark + "you", -1);
  auto tok = b.build();
  EXPECT_EQ(tok->token_to_piece(hello), " hello you");
  EXPECT_EQ(tok->token_to_piece(kBos), "");
  EXPECT_EQ(tok->token_to_piece(kBos, /*render_special=*/true), "<s>");
  EXPECT_EQ(tok->token_to_piece(byte_id(0x41)), "A");
  EXPECT_EQ(tok->token_to_piece(byte_id(0xF0)), "\xF0");
  EXPECT_THROW(tok->token_to_piece(-1), Error);
  EXPECT_THROW(tok->token_to_piece(tok->n_vocab()), Error);
}

TEST(SpmTokenizer, DecodeDropsOnlyTheFirstLeadingSpace) {
  VocabBuilder b;
  const int32_t space = b.add(kMark, -1);
  const int32_t space_a = b.add(kMark + "a", -1);
  const int32_t a = b.add("a", -1);
  auto tok = b.build();
  EXPECT_EQ(tok->decode(Ids{space_a, space_a}), "a a");
  EXPECT_EQ(tok->decode(Ids{kBos, space_a, space_a, kEos}), "a a");
  EXPECT_EQ(tok->decode(Ids{space, space_a}), " a");  // " a" was encoded as ▁ + ▁a
  EXPECT_EQ(tok->decode(Ids{a, space_a}), "a a");
  // Shown special tokens are text, so the space after them stays.
  EXPECT_EQ(tok->decode(Ids{kBos, space_a, kEos}, /*skip_special=*/false), "<s> a</s>");
}

TEST(SpmTokenizer, EndOfGeneration) {
  VocabBuilder b;
  const int32_t end = b.add("<|end|>", 0, Type::kControl);
  const int32_t a = b.add("a", -1);
  auto tok = b.build();
  EXPECT_TRUE(tok->is_eog(kEos));
  EXPECT_TRUE(tok->is_eog(end));  // recognised by its text as the end-of-turn token
  EXPECT_EQ(tok->vocab().eot, end);
  EXPECT_FALSE(tok->is_eog(kBos));
  EXPECT_FALSE(tok->is_eog(a));
  EXPECT_FALSE(tok->is_eog(-1));
}

TEST(SpmTokenizer, FindsTokensByText) {
  VocabBuilder b;
  const int32_t a = b.add("a", -1);
  auto tok = b.build();
  EXPECT_EQ(tok->find_token("a"), a);
  EXPECT_EQ(tok->find_token("<s>"), kBos);
  EXPECT_EQ(tok->find_token("<0x41>"), byte_id(0x41));
  EXPECT_EQ(tok->find_token("zz"), -1);
  EXPECT_EQ(tok->find_token(""), -1);
}

TEST(SpmTokenizer, RejectsUnsupportedModels) {
  VocabBuilder b;
  b.vocab().model = "rwkv";
  try {
    b.build();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tokenizer model 'rwkv' is not supported yet");
  }
}

// The model of shared/models: its GGUF tokenizer gives the ids llama2.c's reference encoder gives
// for the same text from aidreams260K.tok512.bin (BOS, then " Th" "e" " m" "a" "ch" "in" "e").
TEST(SpmTokenizer, Aidreams260KVocabulary) {
  const gguf::File file = gguf::File::open(testing::shared_file("models/aidreams260K.gguf"));
  const auto tok = load_tokenizer(file);
  ASSERT_EQ(tok->n_vocab(), 512);
  const Ids ids = tok->encode("The machine", true, false);
  EXPECT_EQ(ids, (Ids{1, 368, 430, 276, 435, 307, 259, 430}));
  EXPECT_EQ(tok->decode(ids), "The machine");
  EXPECT_EQ(tok->encode("Echoes of", true, false), (Ids{1, 388, 355, 260, 275}));
  EXPECT_EQ(tok->encode("I adjust", true, false), (Ids{1, 303, 384, 467, 407}));
  // Characters outside the 512 pieces fall back to bytes (ids 3 + byte).
  EXPECT_EQ(tok->encode("h\xC3\xA9llo", false, false),
            (Ids{309, 3 + 0xC3, 3 + 0xA9, 438, 438, 437}));
}

}  // namespace
}  // namespace bottega::tokenizer
