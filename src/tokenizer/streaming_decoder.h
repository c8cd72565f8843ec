// Turns generated token ids into text as they arrive, never emitting part of a UTF-8 character:
// a character split over byte tokens (an emoji as <0xF0><0x9F><0x98><0x81>) is held back until
// its last byte arrives. Bytes that cannot become a valid character come out as U+FFFD: at once
// when they are clearly invalid, at flush() when the text ends inside a sequence.
//
// For valid UTF-8 output, the concatenation of every push() and the final flush() equals
// Tokenizer::decode() of the same ids with the same special-token rendering.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace bottega::tokenizer {

struct StreamingDecoderOptions {
  // The first piece starts the text, so SentencePiece's rule drops its leading space (as decode()
  // does). Set false when continuing text already shown, e.g. the reply after a non-empty prompt.
  bool at_text_start = true;
  // Show control tokens (BOS, EOS, chat markers) as their text instead of nothing.
  bool render_special = false;
};

class StreamingDecoder {
 public:
  // The tokenizer must outlive the decoder.
  explicit StreamingDecoder(const Tokenizer& tokenizer, StreamingDecoderOptions options = {});

  // The text that became complete with this token; often empty while a character is incomplete.
  std::string push(int32_t id);
  // Ends the stream: an incomplete character still held back comes out as U+FFFD. Later pushes
  // continue the same text.
  std::string flush();
  // Control tokens to show as their text all the same (tool-call markers such as [TOOL_CALLS]).
  void render_tokens(std::vector<int32_t> ids) { rendered_tokens_ = std::move(ids); }

 private:
  const Tokenizer& tokenizer_;
  StreamingDecoderOptions options_;
  bool at_text_start_;
  std::string pending_;
  std::vector<int32_t>
      rendered_tokens_;  // the start of an incomplete UTF-8 sequence, at most 3 bytes
};

}  // namespace bottega::tokenizer
