// Small llama-style vocabularies built in code for the tokenizer tests.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace bottega::tokenizer::test_support {

inline constexpr int32_t kUnk = 0;
inline constexpr int32_t kBos = 1;
inline constexpr int32_t kEos = 2;
inline constexpr int32_t kFirstByte = 3;  // <0x00> .. <0xFF> are ids 3 .. 258, as in Llama 2

inline int32_t byte_id(uint8_t byte) {
  return kFirstByte + byte;
}

// "▁" U+2581, SentencePiece's spelling of a space in token texts.
inline const std::string kMark = "\xE2\x96\x81";

// <unk> <s> </s>, optionally the 256 byte tokens, then the pieces added.
class VocabBuilder {
 public:
  explicit VocabBuilder(bool with_bytes = true) {
    add("<unk>", 0, Vocab::TokenType::kUnknown);
    add("<s>", 0, Vocab::TokenType::kControl);
    add("</s>", 0, Vocab::TokenType::kControl);
    if (with_bytes) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      for (int b = 0; b < 256; ++b) {
        add(std::string{'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'}, 0,
            Vocab::TokenType::kByte);
      }
    }
    vocab_.model = "llama";
    vocab_.bos = kBos;
    vocab_.eos = kEos;
    vocab_.unk = kUnk;
    vocab_.add_bos = true;
    vocab_.add_space_prefix = true;
  }

  int32_t add(std::string text, float score, Vocab::TokenType type = Vocab::TokenType::kNormal) {
    vocab_.tokens.push_back(std::move(text));
    vocab_.scores.push_back(score);
    vocab_.types.push_back(type);
    return vocab_.n_tokens() - 1;
  }
  Vocab& vocab() { return vocab_; }
  std::unique_ptr<Tokenizer> build() const { return make_tokenizer(vocab_); }

 private:
  Vocab vocab_;
};

}  // namespace bottega::tokenizer::test_support
