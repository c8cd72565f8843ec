// Whitespace next to special tokens in GGUF vocabularies (issue #18). GGUF stores no lstrip/rstrip;
// llama.cpp sets them at load time by model name (llama-vocab.cpp): a vocabulary whose
// general.name contains "phi-3" or "phi3" drops the whitespace after every special token except
// <unk>, <s> and <|endoftext|>, and a few BERT-style vocabularies drop it before their mask token.
//
// How the expected ids are derived. llama.cpp splits the text at special tokens
// (tokenizer_st_partition): an rstrip token removes the whitespace that follows it, as C's isspace
// in the "C" locale sees it (space, \t, \n, \v, \f, \r; bytes only, so U+00A0 and other Unicode
// spaces stay), within the text fragment it was found in; a fragment left empty disappears. The
// SentencePiece tokenizer then gives every text fragment that starts the text or follows a special
// token the dummy-prefix space. So each expected list is the special ids with, between them, the
// reference ids of each remaining fragment as llama.cpp's own vectors give them for the same text
// at the start of a string (../shared/vocab/ggml-vocab-{phi-3,llama-spm}.gguf.out; the two share
// their first 32000 pieces):
//   "Hello" -> 15043 (▁Hello)          " Hello" -> 29871 15043 (▁ ▁Hello)
//   " "     -> 259 (▁▁)                "\n"     -> 29871 13 (▁ <0x0A>)
//   "    Hello\n    Hello" -> 268 15043 13 1678 15043, so "Hello\n" -> 15043 13
// plus pieces read from the vocabulary: "Hello" 10994, "▁hello" 22172, "▁a" 263, "▁b" 289,
// "▁\u00A0" 20246. A fragment ending in a space, "Hello ", is ▁Hello then a lone ▁ (29871): no
// piece of these vocabularies ends in ▁ except runs of ▁ alone, so SentencePiece cannot merge it.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_vectors.h"

namespace bottega::tokenizer {
namespace {

using Ids = std::vector<int32_t>;

// Phi-3's special tokens (ids as in ggml-vocab-phi-3.gguf).
constexpr int32_t kUnk = 0;            // unknown type
constexpr int32_t kBos = 1;            // <s>, control
constexpr int32_t kEos = 2;            // </s>, user-defined in this file
constexpr int32_t kEndOfText = 32000;  // <|endoftext|>, control
constexpr int32_t kAssistant = 32001;
constexpr int32_t kPlaceholder1 = 32002;
constexpr int32_t kSystem = 32006;
constexpr int32_t kEnd = 32007;
constexpr int32_t kUser = 32010;
constexpr int32_t kPad32011 = 32011;  // [PAD32011], unknown type

// Reference pieces (see the header comment).
constexpr int32_t kSpace = 29871;          // ▁
constexpr int32_t kTwoSpaces = 259;        // ▁▁
constexpr int32_t kNewline = 13;           // <0x0A>
constexpr int32_t kHelloPrefixed = 15043;  // ▁Hello
constexpr int32_t kHello = 10994;          // Hello

struct Special {
  std::string text;
  int32_t id;
};

Ids encode(const Tokenizer& tokenizer, const std::string& text, bool parse_special = true) {
  return tokenizer.encode(text, /*add_special=*/false, parse_special);
}

// A copy of a shared vocabulary with general.name (or another key) replaced.
std::unique_ptr<Tokenizer> renamed(const std::string& vocab_file, const testing::TempDir& dir,
                                   const std::string& key, const std::string& value) {
  const gguf::File original = gguf::File::open(testing::shared_file(vocab_file));
  gguf::Writer writer;
  writer.copy_metadata(original);
  writer.set(key, gguf::Value::string(value));
  const auto path = dir / "renamed.gguf";
  writer.write(path);
  return load_tokenizer(gguf::File::open(path));
}

class Phi3Strip : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { tokenizer_ = open_tokenizer("vocab/ggml-vocab-phi-3.gguf"); }
  static void TearDownTestSuite() { tokenizer_.reset(); }
  static std::unique_ptr<Tokenizer> tokenizer_;
};
std::unique_ptr<Tokenizer> Phi3Strip::tokenizer_;

// general.name is "Phi3": every special token but <unk>, <s> and <|endoftext|> is rstrip.
TEST_F(Phi3Strip, MarksTheTokensLlamaCppMarks) {
  const Vocab& vocab = tokenizer_->vocab();
  EXPECT_TRUE(vocab.lstrip_tokens.empty());
  const auto rstrip = [&](int32_t id) {
    return std::find(vocab.rstrip_tokens.begin(), vocab.rstrip_tokens.end(), id) !=
           vocab.rstrip_tokens.end();
  };
  for (const int32_t id : {kEos, kAssistant, kPlaceholder1, kSystem, kEnd, kUser, kPad32011}) {
    EXPECT_TRUE(rstrip(id)) << id;
  }
  for (const int32_t id : {kUnk, kBos, kEndOfText, kHello, kSpace}) EXPECT_FALSE(rstrip(id)) << id;
  EXPECT_FALSE(vocab.strip_unicode_whitespace);
}

// Whitespace after an rstrip token goes, whatever it is made of; the next fragment then tokenizes
// as the start of a text (dummy prefix), so "<|user|> Hello" gives ▁Hello, not ▁ ▁Hello. Nothing is
// stripped before these tokens (no lstrip), so "Hello <|end|>" keeps its ▁.
TEST_F(Phi3Strip, DropsWhitespaceAfterMarkedTokens) {
  const std::vector<Special> marked = {
      {"<|user|>", kUser},       {"<|assistant|>", kAssistant},       {"<|system|>", kSystem},
      {"<|end|>", kEnd},         {"<|placeholder1|>", kPlaceholder1}, {"</s>", kEos},
      {"[PAD32011]", kPad32011},
  };
  const Tokenizer& tok = *tokenizer_;
  for (const Special& s : marked) {
    const int32_t t = s.id;
    SCOPED_TRACE(s.text);
    EXPECT_EQ(encode(tok, s.text), (Ids{t}));
    EXPECT_EQ(encode(tok, s.text + "Hello"), (Ids{t, kHelloPrefixed}));
    EXPECT_EQ(encode(tok, s.text + " Hello"), (Ids{t, kHelloPrefixed}));
    EXPECT_EQ(encode(tok, s.text + "  Hello"), (Ids{t, kHelloPrefixed}));
    EXPECT_EQ(encode(tok, s.text + "\nHello"), (Ids{t, kHelloPrefixed}));
    EXPECT_EQ(encode(tok, s.text + " \t\r\n\v\f Hello"), (Ids{t, kHelloPrefixed}));
    // Only whitespace after the token: nothing is left of the fragment.
    EXPECT_EQ(encode(tok, s.text + " "), (Ids{t}));
    EXPECT_EQ(encode(tok, s.text + "\n"), (Ids{t}));
    EXPECT_EQ(encode(tok, s.text + " \n\n "), (Ids{t}));
    // Before the token nothing changes: "Hello " is ▁Hello ▁, "Hello\n" is ▁Hello <0x0A>.
    EXPECT_EQ(encode(tok, "Hello" + s.text), (Ids{kHelloPrefixed, t}));
    EXPECT_EQ(encode(tok, "Hello " + s.text), (Ids{kHelloPrefixed, kSpace, t}));
    EXPECT_EQ(encode(tok, "Hello\n" + s.text), (Ids{kHelloPrefixed, kNewline, t}));
    EXPECT_EQ(encode(tok, " " + s.text), (Ids{kTwoSpaces, t}));
    EXPECT_EQ(encode(tok, "\n" + s.text), (Ids{kSpace, kNewline, t}));
    // Between two tokens: the whitespace after the first goes, so they touch.
    EXPECT_EQ(encode(tok, s.text + " \n" + s.text), (Ids{t, t}));
    EXPECT_EQ(encode(tok, "Hello " + s.text + " Hello"),
              (Ids{kHelloPrefixed, kSpace, t, kHelloPrefixed}));
  }
}

// <unk>, <s> and <|endoftext|> keep the whitespace after them: " Hello" after a special token is
// ▁ ▁Hello, "\nHello" is ▁ <0x0A> Hello, " " alone is ▁▁.
TEST_F(Phi3Strip, KeepsWhitespaceAfterExemptTokens) {
  const std::vector<Special> exempt = {
      {"<unk>", kUnk}, {"<s>", kBos}, {"<|endoftext|>", kEndOfText}};
  const Tokenizer& tok = *tokenizer_;
  for (const Special& s : exempt) {
    const int32_t t = s.id;
    SCOPED_TRACE(s.text);
    EXPECT_EQ(encode(tok, s.text), (Ids{t}));
    EXPECT_EQ(encode(tok, s.text + "Hello"), (Ids{t, kHelloPrefixed}));
    EXPECT_EQ(encode(tok, s.text + " Hello"), (Ids{t, kSpace, kHelloPrefixed}));
    EXPECT_EQ(encode(tok, s.text + "\nHello"), (Ids{t, kSpace, kNewline, kHello}));
    EXPECT_EQ(encode(tok, s.text + " "), (Ids{t, kTwoSpaces}));
    EXPECT_EQ(encode(tok, s.text + "\n"), (Ids{t, kSpace, kNewline}));
    EXPECT_EQ(encode(tok, "Hello " + s.text), (Ids{kHelloPrefixed, kSpace, t}));
    EXPECT_EQ(encode(tok, "Hello\n" + s.text), (Ids{kHelloPrefixed, kNewline, t}));
    // The token after the space is rstrip, the one before is not: the space stays (▁▁).
    EXPECT_EQ(encode(tok, s.text + " <|end|> Hello"), (Ids{t, kTwoSpaces, kEnd, kHelloPrefixed}));
  }
}

// The chat turns a Phi-3 template writes, and the prompt of issue #18.
TEST_F(Phi3Strip, ChatPrompts) {
  const Tokenizer& tok = *tokenizer_;
  // ▁hello is 22172.
  EXPECT_EQ(encode(tok, "<|user|> hello<|end|> \n<|assistant|>"),
            (Ids{kUser, 22172, kEnd, kAssistant}));
  // BOS, then the template's "<|user|>\nHello<|end|>\n<|assistant|>\n".
  EXPECT_EQ(tok.encode("<|user|>\nHello<|end|>\n<|assistant|>\n", /*add_special=*/true,
                       /*parse_special=*/true),
            (Ids{kBos, kUser, kHelloPrefixed, kEnd, kAssistant}));
  // llama.cpp's own output for a turn of this shape, recorded in another engine's published parity
  // notes: "▁SYS" 317 21554, "\n" 13, "HI" 17628; no ▁ or newline after any of the three tokens.
  EXPECT_EQ(tok.encode("<|user|>\nSYS\nHI<|end|>\n<|assistant|>\n", true, true),
            (Ids{kBos, kUser, 317, 21554, kNewline, 17628, kEnd, kAssistant}));
}

// isspace covers ASCII only: U+00A0 after <|end|> stays, and "▁\u00A0" is one piece (20246).
TEST_F(Phi3Strip, StripsAsciiWhitespaceOnly) {
  EXPECT_EQ(encode(*tokenizer_, "<|end|>\xC2\xA0Hello"), (Ids{kEnd, 20246, kHello}));
  EXPECT_EQ(encode(*tokenizer_, "<|end|> \xC2\xA0Hello"), (Ids{kEnd, 20246, kHello}));
}

// Without parse_special the control tokens are plain text, but </s> is user-defined in this file
// and still matched, and still strips: "a" -> ▁a (263), " b" after it -> ▁b (289).
TEST_F(Phi3Strip, UserDefinedTokenStripsWithoutParseSpecial) {
  EXPECT_EQ(encode(*tokenizer_, "a</s> b", /*parse_special=*/false), (Ids{263, kEos, 289}));
  EXPECT_EQ(encode(*tokenizer_, "a </s>\n", /*parse_special=*/false), (Ids{263, kSpace, kEos}));
  // <|end|> is text here, so nothing is stripped: the same ids as the whole string without it.
  const Ids plain = encode(*tokenizer_, "<|end|> x", /*parse_special=*/false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), kEnd), 0);
  EXPECT_EQ(tokenizer_->decode(plain), "<|end|> x");
}

// llama-spm's general.name matches no rule: whitespace next to <s>, </s> and <unk> stays.
TEST(LlamaSpmStrip, KeepsWhitespaceAroundSpecialTokens) {
  const std::unique_ptr<Tokenizer> tokenizer = open_tokenizer("vocab/ggml-vocab-llama-spm.gguf");
  EXPECT_TRUE(tokenizer->vocab().lstrip_tokens.empty());
  EXPECT_TRUE(tokenizer->vocab().rstrip_tokens.empty());
  const std::vector<Special> specials = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (const Special& s : specials) {
    const int32_t t = s.id;
    SCOPED_TRACE(s.text);
    EXPECT_EQ(encode(*tokenizer, s.text), (Ids{t}));
    EXPECT_EQ(encode(*tokenizer, s.text + "Hello"), (Ids{t, kHelloPrefixed}));
    EXPECT_EQ(encode(*tokenizer, s.text + " Hello"), (Ids{t, kSpace, kHelloPrefixed}));
    EXPECT_EQ(encode(*tokenizer, s.text + "\nHello"), (Ids{t, kSpace, kNewline, kHello}));
    EXPECT_EQ(encode(*tokenizer, s.text + " "), (Ids{t, kTwoSpaces}));
    EXPECT_EQ(encode(*tokenizer, s.text + "\n"), (Ids{t, kSpace, kNewline}));
    EXPECT_EQ(encode(*tokenizer, "Hello" + s.text), (Ids{kHelloPrefixed, t}));
    EXPECT_EQ(encode(*tokenizer, "Hello " + s.text), (Ids{kHelloPrefixed, kSpace, t}));
    EXPECT_EQ(encode(*tokenizer, "Hello\n" + s.text), (Ids{kHelloPrefixed, kNewline, t}));
    EXPECT_EQ(encode(*tokenizer, "Hello " + s.text + " Hello"),
              (Ids{kHelloPrefixed, kSpace, t, kSpace, kHelloPrefixed}));
  }
}

// The rule keys on the name, as llama.cpp's does: the same llama-spm vocabulary named like a Phi-3
// model strips after </s> (control, not exempt) and keeps the whitespace after <s> and <unk>; the
// Phi-3 vocabulary under another name strips nothing.
TEST(GgufStripRules, FollowGeneralName) {
  const testing::TempDir dir;
  {
    const auto tokenizer =
        renamed("vocab/ggml-vocab-llama-spm.gguf", dir, "general.name", "Phi-3-Mini-4K-Instruct");
    EXPECT_EQ(tokenizer->vocab().rstrip_tokens, (Ids{2}));
    EXPECT_EQ(encode(*tokenizer, "</s> Hello"), (Ids{2, kHelloPrefixed}));
    EXPECT_EQ(encode(*tokenizer, "<s> Hello"), (Ids{1, kSpace, kHelloPrefixed}));
    EXPECT_EQ(encode(*tokenizer, "<unk>\nHello"), (Ids{0, kSpace, kNewline, kHello}));
  }
  {
    const auto tokenizer =
        renamed("vocab/ggml-vocab-phi-3.gguf", dir, "general.name", "Mistral-7B-Instruct");
    EXPECT_TRUE(tokenizer->vocab().rstrip_tokens.empty());
    EXPECT_EQ(encode(*tokenizer, "<|end|> Hello"), (Ids{kEnd, kSpace, kHelloPrefixed}));
    EXPECT_EQ(encode(*tokenizer, "<|user|>\nHello"), (Ids{kUser, kSpace, kNewline, kHello}));
  }
}

// A small vocabulary with the mask tokens the other rules name, written as GGUF.
class MaskRules : public ::testing::Test {
 protected:
  std::unique_ptr<Tokenizer> load(const std::string& key, const std::string& value) {
    gguf::Writer writer;
    writer.set("tokenizer.ggml.model", gguf::Value::string("llama"));
    writer.set("tokenizer.ggml.tokens",
               gguf::Value::strings({"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a",
                                     "\xE2\x96\x81"
                                     "a",
                                     "<mask>", "[MASK]"}));
    writer.set("tokenizer.ggml.scores", gguf::Value::f32s({0, 0, 0, -1, -2, -1, 0, 0}));
    writer.set("tokenizer.ggml.token_type", gguf::Value::i32s({2, 3, 3, 1, 1, 1, 4, 4}));
    writer.set(key, gguf::Value::string(value));
    const auto path = dir_ / "mask.gguf";
    writer.write(path);
    return load_tokenizer(gguf::File::open(path));
  }
  testing::TempDir dir_;
};

constexpr int32_t kMarkA = 5;    // ▁a
constexpr int32_t kMark = 3;     // ▁
constexpr int32_t kMask = 6;     // <mask>
constexpr int32_t kBigMask = 7;  // [MASK]

TEST_F(MaskRules, JinaV2AndBertVariantsStripBeforeMask) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"tokenizer.ggml.pre", "jina-v2-es"},
           {"tokenizer.ggml.pre", "jina-v2-code"},
           {"general.architecture", "jina-bert-v3"},
           {"general.architecture", "nomic-bert-moe"}}) {
    SCOPED_TRACE(value);
    const auto tokenizer = load(key, value);
    EXPECT_EQ(tokenizer->vocab().lstrip_tokens, (Ids{kMask}));
    EXPECT_TRUE(tokenizer->vocab().rstrip_tokens.empty());
    // "a <mask> a": the space before <mask> goes, the one after stays (▁a after the token).
    EXPECT_EQ(encode(*tokenizer, "a \n <mask> a"), (Ids{kMarkA, kMask, kMark, kMarkA}));
    EXPECT_EQ(encode(*tokenizer, "a [MASK] a"), (Ids{kMarkA, kMark, kBigMask, kMark, kMarkA}));
  }
}

TEST_F(MaskRules, ModernBertStripsBeforeUpperMask) {
  const auto tokenizer = load("general.name", "Modern-BERT base");
  EXPECT_EQ(tokenizer->vocab().lstrip_tokens, (Ids{kBigMask}));
  EXPECT_EQ(encode(*tokenizer, "a [MASK] a"), (Ids{kMarkA, kBigMask, kMark, kMarkA}));
  EXPECT_EQ(encode(*tokenizer, "a <mask> a"), (Ids{kMarkA, kMark, kMask, kMark, kMarkA}));
}

TEST_F(MaskRules, OtherNamesStripNothing) {
  const auto tokenizer = load("general.name", "jina-embeddings");
  EXPECT_TRUE(tokenizer->vocab().lstrip_tokens.empty());
  EXPECT_TRUE(tokenizer->vocab().rstrip_tokens.empty());
  EXPECT_EQ(encode(*tokenizer, "a <mask>"), (Ids{kMarkA, kMark, kMask}));
}

}  // namespace
}  // namespace bottega::tokenizer
