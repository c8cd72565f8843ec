// StreamingDecoder: whole UTF-8 characters only, U+FFFD for what cannot become one, and the same
// text as Tokenizer::decode().
#include "tokenizer/streaming_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "testutil/testutil.h"
#include "tokenizer/vocab_builder.h"

namespace bottega::tokenizer {
namespace {

using test_support::byte_id;
using test_support::kBos;
using test_support::kEos;
using test_support::kMark;
using test_support::VocabBuilder;
using Ids = std::vector<int32_t>;

const std::string kReplacement = "\xEF\xBF\xBD";
const std::string kLlama = "\xF0\x9F\xA6\x99";  // U+1F999, 4 bytes

// Strict UTF-8 (no overlongs, surrogates or values above U+10FFFF).
bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      n = 1;
      cp = c;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n;
  }
  return true;
}

// Every push() and the flush(), in order.
std::vector<std::string> stream(const Tokenizer& tokenizer, const Ids& ids,
                                StreamingDecoderOptions options = {}) {
  StreamingDecoder decoder(tokenizer, options);
  std::vector<std::string> outputs;
  for (const int32_t id : ids) outputs.push_back(decoder.push(id));
  outputs.push_back(decoder.flush());
  return outputs;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

class StreamingDecoderTest : public ::testing::Test {
 protected:
  StreamingDecoderTest() {
    VocabBuilder b;
    space_a_ = b.add(kMark + "a", -1);
    space_b_ = b.add(kMark + "b", -1);
    tokenizer_ = b.build();
  }
  const Tokenizer& tok() const { return *tokenizer_; }

  int32_t space_a_ = -1;
  int32_t space_b_ = -1;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(StreamingDecoderTest, HoldsAFourByteCharacterUntilItIsComplete) {
  const Ids ids = {byte_id(0xF0), byte_id(0x9F), byte_id(0xA6), byte_id(0x99)};
  EXPECT_EQ(stream(tok(), ids), (std::vector<std::string>{"", "", "", kLlama, ""}));
  EXPECT_EQ(tok().decode(ids), kLlama);
}

TEST_F(StreamingDecoderTest, MatchesDecodeAroundByteTokens) {
  const Ids ids = {kBos,          space_a_, byte_id(0xF0), byte_id(0x9F), byte_id(0xA6),
                   byte_id(0x99), space_b_, byte_id(0xC3), byte_id(0xA9), kEos};
  const std::vector<std::string> outputs = stream(tok(), ids);
  EXPECT_EQ(outputs,
            (std::vector<std::string>{"", "a", "", "", "", kLlama, " b", "", "\xC3\xA9", "", ""}));
  EXPECT_EQ(joined(outputs), tok().decode(ids));
}

TEST_F(StreamingDecoderTest, LeadingSpaceRule) {
  EXPECT_EQ(joined(stream(tok(), {kBos, space_a_, space_b_})), "a b");
  // A reply after a prompt keeps its first space.
  EXPECT_EQ(joined(stream(tok(), {space_a_, space_b_}, {.at_text_start = false})), " a b");
}

TEST_F(StreamingDecoderTest, RendersSpecialTokensOnRequest) {
  const Ids ids = {kBos, space_a_, kEos};
  EXPECT_EQ(joined(stream(tok(), ids, {.render_special = true})), "<s> a</s>");
  EXPECT_EQ(tok().decode(ids, /*skip_special=*/false), "<s> a</s>");
}

TEST_F(StreamingDecoderTest, ReplacesInvalidBytesAtOnce) {
  // 0xFF never occurs in UTF-8; 0x80 cannot start a character.
  EXPECT_EQ(stream(tok(), {byte_id(0xFF), byte_id(0x80), space_a_}),
            (std::vector<std::string>{kReplacement, kReplacement, " a", ""}));
  // A sequence cut short by a new character: one U+FFFD for the cut sequence.
  EXPECT_EQ(stream(tok(), {byte_id(0xE2), byte_id(0x82), space_a_}),
            (std::vector<std::string>{"", "", kReplacement + " a", ""}));
  // Overlong "/" (C0 AF) and a surrogate (ED A0 80) are invalid byte by byte.
  EXPECT_EQ(joined(stream(tok(), {byte_id(0xC0), byte_id(0xAF)})), kReplacement + kReplacement);
  EXPECT_EQ(joined(stream(tok(), {byte_id(0xED), byte_id(0xA0), byte_id(0x80)})),
            kReplacement + kReplacement + kReplacement);
}

TEST_F(StreamingDecoderTest, FlushReplacesAnIncompleteCharacter) {
  StreamingDecoder decoder(tok());
  EXPECT_EQ(decoder.push(byte_id(0xF0)), "");
  EXPECT_EQ(decoder.push(byte_id(0x9F)), "");
  EXPECT_EQ(decoder.flush(), kReplacement);
  EXPECT_EQ(decoder.flush(), "");
  EXPECT_EQ(decoder.push(space_a_), " a");  // the text goes on after the flush
}

// Every llama-spm test string, streamed token by token: each output is whole characters and
// together they are the decoded text.
TEST(StreamingDecoder, StreamsTheLlamaSpmTestStrings) {
  const gguf::File file =
      gguf::File::open(bottega::testing::shared_file("vocab/ggml-vocab-llama-spm.gguf"));
  const auto tokenizer = load_tokenizer(file);
  const std::string inputs = bottega::testing::read_file(
      bottega::testing::shared_file("vocab/ggml-vocab-llama-spm.gguf.inp"));
  static const std::string kSeparator = "\n__ggml_vocab_test__\n";
  int strings = 0;
  for (size_t at = 0, end = inputs.find(kSeparator); end != std::string::npos;
       at = end + kSeparator.size(), end = inputs.find(kSeparator, at)) {
    const std::string text = inputs.substr(at, end - at);
    const Ids ids = tokenizer->encode(text, true, false);
    const std::vector<std::string> outputs = stream(*tokenizer, ids);
    for (const std::string& out : outputs) EXPECT_TRUE(valid_utf8(out)) << text;
    EXPECT_EQ(joined(outputs), text);
    EXPECT_EQ(joined(outputs), tokenizer->decode(ids));
    ++strings;
  }
  EXPECT_EQ(strings, 46);
}

}  // namespace
}  // namespace bottega::tokenizer
