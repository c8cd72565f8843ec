// Byte-level BPE ("gpt2" vocabularies): llama.cpp's test vectors for every BPE vocabulary in
// shared/vocab must give exactly the reference ids and decode back to the text; plus the
// pre-tokenizer's splitting rules, merge order, special tokens, defaults and robustness.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/streaming_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_vectors.h"

namespace bottega::tokenizer {
namespace {

using Ids = std::vector<int32_t>;

// The BPE vocabularies with reference vectors (46 strings each).
struct VectorFile {
  const char* name;
  const char* pre;  // the file's tokenizer.ggml.pre
};

const VectorFile kVectorFiles[] = {
    {"gpt-2", "gpt-2"},
    {"falcon", "falcon"},
    {"deepseek-llm", "deepseek-llm"},
    {"deepseek-coder", "deepseek-coder"},
    {"starcoder", "starcoder"},
    {"refact", "refact"},
    {"mpt", "mpt"},
};

std::string vocab_path(const std::string& name) {
  return "vocab/ggml-vocab-" + name + ".gguf";
}

class BpeVectors : public ::testing::TestWithParam<VectorFile> {};

TEST_P(BpeVectors, MatchReference) {
  const std::string file = vocab_path(GetParam().name);
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(file);
  EXPECT_EQ(tokenizer->vocab().model, "gpt2");
  EXPECT_EQ(tokenizer->vocab().pre, GetParam().pre);
  const std::vector<TestVector> vectors = read_vectors(file);
  ASSERT_EQ(vectors.size(), 46u) << "the fixture changed; update the expected count";
  size_t matched = 0;
  for (const TestVector& v : vectors) {
    const Ids actual = tokenizer->encode(v.text, /*add_special=*/false, /*parse_special=*/false);
    if (actual == v.ids) {
      ++matched;
    } else {
      ADD_FAILURE() << file << ": " << quoted(v.text) << "\n  expected:" << ids_text(v.ids)
                    << "\n  actual:  " << ids_text(actual);
    }
  }
  EXPECT_EQ(matched, vectors.size());
  std::cout << file << ": " << matched << "/" << vectors.size() << " vectors match\n";
}

// Byte-level BPE is lossless: every string (all valid UTF-8) comes back from its ids, both the
// reference ids and ours, with or without the special tokens the vocabulary adds.
TEST_P(BpeVectors, RoundTrip) {
  const std::string file = vocab_path(GetParam().name);
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(file);
  for (const TestVector& v : read_vectors(file)) {
    EXPECT_EQ(tokenizer->decode(v.ids), v.text) << quoted(v.text);
    EXPECT_EQ(tokenizer->decode(tokenizer->encode(v.text, false, false)), v.text) << quoted(v.text);
    EXPECT_EQ(tokenizer->decode(tokenizer->encode(v.text, true, false)), v.text) << quoted(v.text);
  }
}

INSTANTIATE_TEST_SUITE_P(SharedVocab, BpeVectors, ::testing::ValuesIn(kVectorFiles),
                         [](const ::testing::TestParamInfo<VectorFile>& param) {
                           std::string name = param.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// Random text from a mix of scripts, digits, punctuation and (also non-ASCII) whitespace must
// survive the round trip; random bytes must encode without failing.
TEST_P(BpeVectors, RandomTextRoundTrips) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(vocab_path(GetParam().name));
  static const std::vector<std::string> kPieces = {"a",
                                                   "Z",
                                                   "the",
                                                   " ",
                                                   "  ",
                                                   "\t",
                                                   "\n",
                                                   "\r\n",
                                                   "7",
                                                   "42",
                                                   "'s",
                                                   "'LL",
                                                   "!",
                                                   "?!",
                                                   ".",
                                                   "\xC2\xA0" /* NBSP */,
                                                   "\xC2\x85" /* NEL */,
                                                   "\xE3\x80\x80", /* ideographic space */
                                                   "\xC3\xA9" /* é */,
                                                   "\xC3\xB8" /* ø */,
                                                   "\xD0\x96" /* Ж */,
                                                   "\xE4\xB8\xAD" /* 中 */,
                                                   "\xEA\xB0\x80" /* 가 */,
                                                   "\xF0\x9F\xA6\x99" /* 🦙 */,
                                                   "\xE2\x80\x8D" /* ZWJ */,
                                                   "\xCC\x81" /* combining acute */,
                                                   "\xE1\xBD\xBD" /* U+1F7D */,
                                                   "\xE2\x84\xAA" /* K */};
  std::mt19937 rng(1234);
  std::uniform_int_distribution<size_t> pick(0, kPieces.size() - 1);
  std::uniform_int_distribution<int> length(0, 40);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 300; ++round) {
    std::string text;
    for (int n = length(rng); n > 0; --n) text += kPieces[pick(rng)];
    EXPECT_EQ(tokenizer->decode(tokenizer->encode(text, false, false)), text) << quoted(text);
    std::string noise;
    for (int n = length(rng); n > 0; --n) noise += static_cast<char>(byte(rng));
    EXPECT_NO_THROW(tokenizer->encode(noise, true, true));
  }
}

// GPT-NeoX's file predates tokenizer.ggml.pre, so it gets llama.cpp's "default" pre-tokenizer. It
// shares MPT's vocabulary, and on text without digits or punctuation both pre-tokenizers agree.
TEST(BpeTokenizer, GptNeoxLoadsWithDefaultPreTokenizer) {
  const std::unique_ptr<Tokenizer> neox = open_tokenizer(vocab_path("gpt-neox"));
  const std::unique_ptr<Tokenizer> mpt = open_tokenizer(vocab_path("mpt"));
  EXPECT_EQ(neox->vocab().pre, "default");
  for (const std::string text : {"Hello world", " Hello World", "\n\n  Hello\tworld "}) {
    EXPECT_EQ(neox->encode(text, false, false), mpt->encode(text, false, false)) << quoted(text);
    EXPECT_EQ(neox->decode(neox->encode(text, false, false)), text);
  }
  // The default pre-tokenizer cuts digit runs into threes and punctuation runs apart.
  EXPECT_EQ(neox->decode(neox->encode("1234567, (x)!", false, false)), "1234567, (x)!");
}

// Baichuan's vocabulary is SentencePiece ("llama"); it must load and round-trip too.
TEST(BpeTokenizer, BaichuanIsSentencePiece) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(vocab_path("baichuan"));
  EXPECT_EQ(tokenizer->vocab().model, "llama");
  for (const std::string text : {"Hello world", "我想在apple工作", " 🦙 x\n\ty"}) {
    const Ids ids = tokenizer->encode(text, true, false);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), tokenizer->vocab().bos);
    EXPECT_EQ(tokenizer->decode(ids), text);
  }
}

TEST(BpeTokenizer, SpecialTokens) {
  const std::unique_ptr<Tokenizer> gpt2 = open_tokenizer(vocab_path("gpt-2"));
  const int32_t eot = gpt2->find_token("<|endoftext|>");
  ASSERT_EQ(eot, 50256);
  EXPECT_TRUE(gpt2->is_eog(eot));
  const std::string text = "Hi<|endoftext|> there";
  const Ids parsed = gpt2->encode(text, false, true);
  const Ids hi = gpt2->encode("Hi", false, false);
  const Ids there = gpt2->encode(" there", false, false);
  Ids expected = hi;
  expected.push_back(eot);
  expected.insert(expected.end(), there.begin(), there.end());
  EXPECT_EQ(parsed, expected);
  EXPECT_EQ(gpt2->decode(parsed), "Hi there");
  EXPECT_EQ(gpt2->decode(parsed, /*skip_special=*/false), text);

  const Ids plain = gpt2->encode(text, false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), eot), 0);
  EXPECT_EQ(gpt2->decode(plain), text);
}

// User-defined tokens are matched in plain text, as llama.cpp and Hugging Face do: MPT's runs of
// spaces, DeepSeek's single accented letters.
TEST(BpeTokenizer, UserDefinedTokens) {
  const std::unique_ptr<Tokenizer> mpt = open_tokenizer(vocab_path("mpt"));
  const int32_t spaces = mpt->find_token("    ");
  ASSERT_NE(spaces, -1);
  EXPECT_EQ(mpt->vocab().type(spaces), Vocab::TokenType::kUserDefined);
  const Ids ids = mpt->encode("a    b", false, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), spaces), 1);
  EXPECT_EQ(mpt->token_to_piece(spaces), "    ");
  EXPECT_EQ(mpt->decode(ids), "a    b");
}

TEST(BpeTokenizer, BosAndEosFromMetadata) {
  // tokenizer.ggml.add_bos_token true: encode(add_special) starts with BOS.
  const std::unique_ptr<Tokenizer> deepseek = open_tokenizer(vocab_path("deepseek-llm"));
  EXPECT_TRUE(deepseek->vocab().add_bos);
  EXPECT_FALSE(deepseek->vocab().add_eos);
  const Ids ids = deepseek->encode("Hello", true, false);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids.front(), 100000);
  EXPECT_EQ(deepseek->decode(ids), "Hello");

  // Absent key, pre-tokenizer "gpt-2": llama.cpp's default is no BOS.
  const std::unique_ptr<Tokenizer> gpt2 = open_tokenizer(vocab_path("gpt-2"));
  EXPECT_FALSE(gpt2->vocab().add_bos);
  EXPECT_EQ(gpt2->vocab().bos, 50256);
  EXPECT_EQ(gpt2->encode("Hello", true, false), gpt2->encode("Hello", false, false));
}

// llama.cpp replaces each byte that starts no valid UTF-8 sequence with U+FFFD before splitting.
TEST(BpeTokenizer, InvalidUtf8BecomesReplacementCharacters) {
  const std::unique_ptr<Tokenizer> gpt2 = open_tokenizer(vocab_path("gpt-2"));
  EXPECT_EQ(gpt2->encode("a\xFF b\xE2\x82", false, false),
            gpt2->encode("a\xEF\xBF\xBD b\xEF\xBF\xBD\xEF\xBF\xBD", false, false));
  EXPECT_EQ(gpt2->encode("\xC0\x80", false, false),  // overlong NUL
            gpt2->encode("\xEF\xBF\xBD\xEF\xBF\xBD", false, false));
}

// Falcon's vocabulary has no character for some control bytes: like llama.cpp and Hugging Face,
// encoding drops them rather than failing the whole text.
TEST(BpeTokenizer, DropsBytesWithoutTokens) {
  const std::unique_ptr<Tokenizer> falcon = open_tokenizer(vocab_path("falcon"));
  EXPECT_EQ(falcon->encode("\x03", false, false), Ids{});
  EXPECT_EQ(falcon->decode(falcon->encode("x\x03y", false, false)), "xy");
  const std::unique_ptr<Tokenizer> gpt2 = open_tokenizer(vocab_path("gpt-2"));
  EXPECT_EQ(gpt2->decode(gpt2->encode("x\x03y", false, false)), "x\x03y");
}

// Long words must not be quadratic (a priority queue, not rescans), and long runs of one class
// must not exhaust PCRE2's JIT stack.
TEST(BpeTokenizer, LongInputs) {
  const std::unique_ptr<Tokenizer> gpt2 = open_tokenizer(vocab_path("gpt-2"));
  const std::string letters(200000, 'a');
  const Ids ids = gpt2->encode(letters, false, false);
  EXPECT_LT(ids.size(), letters.size() / 2);
  EXPECT_EQ(gpt2->decode(ids), letters);

  const std::string spaces = std::string(1 << 20, ' ') + "x";
  EXPECT_EQ(gpt2->decode(gpt2->encode(spaces, false, false)), spaces);

  const std::unique_ptr<Tokenizer> falcon = open_tokenizer(vocab_path("falcon"));
  const std::string digits(100000, '7');
  EXPECT_EQ(falcon->decode(falcon->encode(digits, false, false)), digits);
}

// Byte-level tokens split characters anywhere (one token may end one emoji and start the next);
// the streaming decoder must still give exactly the text.
TEST(BpeTokenizer, StreamsSplitCharacters) {
  const std::unique_ptr<Tokenizer> gpt2 = open_tokenizer(vocab_path("gpt-2"));
  const std::string text =
      "\xF0\x9F\x9A\x80\xF0\x9F\x98\xB6\xE2\x80\x8D\xF0\x9F\x8C\xAB\xEF\xB8\x8F ok \xE6\x88\x91";
  const Ids ids = gpt2->encode(text, false, false);
  EXPECT_GT(ids.size(), 6u);
  StreamingDecoder decoder(*gpt2);
  std::string streamed;
  for (const int32_t id : ids) streamed += decoder.push(id);
  streamed += decoder.flush();
  EXPECT_EQ(streamed, text);
}

TEST(BpeTokenizer, EncodeIsThreadSafe) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(vocab_path("deepseek-llm"));
  const std::vector<TestVector> vectors = read_vectors(vocab_path("deepseek-llm"));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (const TestVector& v : vectors) {
          if (tokenizer->encode(v.text, false, false) != v.ids) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// A vocabulary built in code: merges apply by rank (their order in the list), leftmost first on
// equal ranks, and only merges produce multi-byte tokens.
Vocab tiny_vocab(std::vector<std::string> merges) {
  Vocab vocab;
  vocab.model = "gpt2";
  vocab.tokens = {"a", "b", "c", "ab", "bc", "abc", "aa", "\xC4\xA0" /* Ġ, the space */};
  vocab.merges = std::move(merges);
  return vocab;
}

TEST(BpeTokenizer, MergesApplyInRankOrder) {
  const auto first_ab = make_tokenizer(tiny_vocab({"a b", "ab c", "b c"}));
  EXPECT_EQ(first_ab->encode("abc", false, false), (Ids{5}));
  const auto first_bc = make_tokenizer(tiny_vocab({"b c", "a b", "ab c"}));
  EXPECT_EQ(first_bc->encode("abc", false, false), (Ids{0, 4}));
  const auto aa = make_tokenizer(tiny_vocab({"a a"}));
  EXPECT_EQ(aa->encode("aaa", false, false), (Ids{6, 0}));
  // " a" is one word (" ?\p{L}+" keeps the space), but without a "Ġ a" merge it stays two tokens.
  EXPECT_EQ(aa->encode(" a", false, false), (Ids{7, 0}));
  EXPECT_EQ(aa->decode(Ids{7, 0, 6}), " aaa");
}

TEST(BpeTokenizer, RequiresMerges) {
  try {
    make_tokenizer(tiny_vocab({}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.merges"), std::string::npos) << e.what();
  }
}

TEST(BpeTokenizer, RejectsUnknownPreTokenizer) {
  Vocab vocab = tiny_vocab({"a b"});
  vocab.pre = "no-such-pre";
  try {
    make_tokenizer(std::move(vocab));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'no-such-pre'"), std::string::npos) << e.what();
  }
}

std::vector<std::string> split_words(const PreTokenizer& pre, std::string_view text) {
  PreTokenizer::Scratch scratch;
  std::vector<PreTokenizer::Word> words;
  pre.split(text, scratch, words);
  std::vector<std::string> out;
  for (const PreTokenizer::Word w : words) out.emplace_back(text.substr(w.begin, w.end - w.begin));
  return out;
}

using Words = std::vector<std::string>;

TEST(PreTokenizer, EveryTableEntryCompiles) {
  for (const std::string_view name : supported_pre_tokenizers()) {
    const PreTokenizer pre(pre_tokenizer_spec(name).regexes);
    EXPECT_FALSE(split_words(pre, "Hello, y'all! 1234567 🦙\n\n").empty()) << name;
  }
  EXPECT_EQ(&pre_tokenizer_spec(""), &pre_tokenizer_spec("default"));
}

// Matches and the gaps between them both become words: GPT-2's pattern leaves a lone whitespace
// character before a word unmatched, and it still comes out as a piece.
TEST(PreTokenizer, KeepsGaps) {
  const PreTokenizer pre(pre_tokenizer_spec("gpt-2").regexes);
  EXPECT_EQ(split_words(pre, "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(split_words(pre, "a\tb"), (Words{"a", "\t", "b"}));
  EXPECT_EQ(split_words(pre, "a   b  "), (Words{"a", "  ", " b", "  "}));
  EXPECT_EQ(split_words(pre, "I'm 42!"), (Words{"I", "'m", " 42", "!"}));
  EXPECT_EQ(split_words(pre, ""), Words{});
}

// Later patterns split each earlier piece on its own: Falcon cuts punctuation first, then words,
// then groups of three digits inside the number pieces.
TEST(PreTokenizer, AppliesPatternsInSequence) {
  const PreTokenizer pre(pre_tokenizer_spec("falcon").regexes);
  EXPECT_EQ(split_words(pre, "x=1234567."), (Words{"x", "=", "123", "456", "7", "."}));
}

// A pattern that matches only empty strings still cuts: SuperBPE's lookahead splits digit runs
// into groups of three from the right.
TEST(PreTokenizer, EmptyMatchesSplit) {
  const PreTokenizer pre(pre_tokenizer_spec("superbpe").regexes);
  EXPECT_EQ(split_words(pre, "1234567"), (Words{"1", "234", "567"}));
  EXPECT_EQ(split_words(pre, "ab 123456"), (Words{"ab ", "123", "456"}));
}

// A pattern with nested repeats (EXAONE's letters-and-single-spaces words) backtracks through a
// long piece on a deep stack: the split must grow the JIT stack rather than fail.
TEST(PreTokenizer, LongNestedMatch) {
  const PreTokenizer pre(pre_tokenizer_spec("exaone-moe").regexes);
  std::string text;
  for (int i = 0; i < 300000; ++i) text += "a ";
  text += "b";
  PreTokenizer::Scratch scratch;
  std::vector<PreTokenizer::Word> words;
  pre.split(text, scratch, words);
  ASSERT_EQ(words.size(), 1u);
  EXPECT_EQ(words[0].end, text.size());
}

TEST(PreTokenizer, ValidUtf8) {
  std::string storage;
  EXPECT_EQ(valid_utf8("plain ascii", storage), "plain ascii");
  EXPECT_EQ(valid_utf8("h\xC3\xA9 \xF0\x9F\xA6\x99", storage), "h\xC3\xA9 \xF0\x9F\xA6\x99");
  EXPECT_EQ(valid_utf8("a\x80z", storage), "a\xEF\xBF\xBDz");
  EXPECT_EQ(valid_utf8("\xED\xA0\x80", storage),  // a surrogate: three invalid bytes
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80", storage),  // above U+10FFFF
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace bottega::tokenizer
