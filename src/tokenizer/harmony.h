// gpt-oss answers in the harmony format: messages of the assistant's turn, each a header naming a
// channel and a body,
//   <|channel|>analysis<|message|>reasoning...<|end|><|start|>assistant<|channel|>final<|message|>
//   the answer...<|return|>
// HarmonySplitter follows that structure token by token (so it works while streaming) and says
// where each token's text belongs: the reasoning (analysis channel), the answer (final and
// commentary channels, or text outside any header), or nowhere (markers and headers).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tokenizer/tokenizer.h"

namespace bottega::tokenizer {

class HarmonySplitter {
 public:
  // kToolCall: the body of a message addressed to a client function ("to=functions.NAME").
  enum class Part { kMarkup, kReasoning, kAnswer, kToolCall };

  // A splitter for this vocabulary, or nullopt when it lacks harmony's markers (<|start|>,
  // <|channel|>, <|message|>, <|end|>, <|return|>, <|call|>). The tokenizer must outlive it.
  static std::optional<HarmonySplitter> for_tokenizer(const Tokenizer& tokenizer);

  // Where the text of the next generated token belongs.
  Part route(int32_t token);
  // The function the current tool-call message is addressed to (after "to=functions.").
  const std::string& recipient() const { return recipient_; }

 private:
  explicit HarmonySplitter(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  const Tokenizer* tokenizer_;
  int32_t start_ = -1, channel_ = -1, message_ = -1, end_ = -1, return_ = -1, call_ = -1;
  int32_t constrain_ = -1;  // optional: <|constrain|>json in a tool call's header
  bool in_header_ = false;  // between <|start|>/<|channel|> and <|message|>
  std::string header_;      // the header's text so far ("assistant", "analysis", ...)
  Part body_ = Part::kAnswer;
  std::string recipient_;
};

}  // namespace bottega::tokenizer
