#include "tokenizer/harmony.h"

namespace bottega::tokenizer {

std::optional<HarmonySplitter> HarmonySplitter::for_tokenizer(const Tokenizer& tokenizer) {
  HarmonySplitter splitter(tokenizer);
  splitter.start_ = tokenizer.find_token("<|start|>");
  splitter.channel_ = tokenizer.find_token("<|channel|>");
  splitter.message_ = tokenizer.find_token("<|message|>");
  splitter.end_ = tokenizer.find_token("<|end|>");
  splitter.return_ = tokenizer.find_token("<|return|>");
  splitter.call_ = tokenizer.find_token("<|call|>");
  splitter.constrain_ = tokenizer.find_token("<|constrain|>");
  for (int32_t id : {splitter.start_, splitter.channel_, splitter.message_, splitter.end_,
                     splitter.return_, splitter.call_}) {
    if (id < 0) return std::nullopt;
  }
  return splitter;
}

HarmonySplitter::Part HarmonySplitter::route(int32_t token) {
  if (token == start_ || token == channel_) {
    // <|start|> opens a message header with the role, <|channel|> continues it with the channel.
    if (token == start_ || !in_header_) header_.clear();
    in_header_ = true;
    header_ += ' ';
    return Part::kMarkup;
  }
  if (token == message_) {
    in_header_ = false;
    // "analysis" is the reasoning; a message to a client function is a tool call; "final" and
    // other "commentary" (preambles) are shown.
    static constexpr std::string_view kFunctions = "to=functions.";
    const size_t to = header_.find(kFunctions);
    if (to != std::string::npos) {
      size_t end = to + kFunctions.size();
      while (end < header_.size() && header_[end] != ' ' && header_[end] != '<') ++end;
      recipient_ = header_.substr(to + kFunctions.size(), end - to - kFunctions.size());
      body_ = Part::kToolCall;
    } else {
      body_ = header_.find("analysis") != std::string::npos ? Part::kReasoning : Part::kAnswer;
    }
    return Part::kMarkup;
  }
  if (token == end_ || token == return_ || token == call_) {
    body_ = Part::kAnswer;  // text after a message without a new header is taken as the answer
    return Part::kMarkup;
  }
  if (token == constrain_) return Part::kMarkup;
  if (in_header_) {
    header_ += tokenizer_->token_to_piece(token);
    return Part::kMarkup;
  }
  return body_;
}

}  // namespace bottega::tokenizer
