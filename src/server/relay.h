// Turns a sequence's generated tokens into the text and log-probabilities a response carries:
// complete UTF-8 only, stop sequences cut off, log-probability entries in both OpenAI layouts, and
// for chats in harmony (gpt-oss) the reasoning apart from the answer.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/scheduler.h"
#include "server/stop_matcher.h"
#include "server/tool_calls.h"
#include "tokenizer/harmony.h"
#include "tokenizer/streaming_decoder.h"

namespace bottega::server {

class Relay {
 public:
  // chat: log-probabilities in the chat layout ({"content": [...]}), else the legacy completions
  // layout, and a vocabulary with harmony's markers splits reasoning from the answer.
  // at_text_start: the text begins here (SentencePiece drops the first leading space).
  // rendered_tokens: control tokens whose text the answer keeps (tool-call markers).
  // harmony_tool_calls: a harmony model's messages to client functions become tool calls (when
  // tools were offered); without it their text is part of the answer.
  Relay(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stops, bool chat,
        bool at_text_start, int32_t top_logprobs, std::vector<int32_t> rendered_tokens = {},
        bool harmony_tool_calls = false);

  // Tokens the prompt ends with that open the model's message (a channel header written for it);
  // the harmony splitter reads them as if generated, so it knows where the reply stands.
  void prime(const std::vector<int32_t>& tokens);

  struct Piece {
    std::string text;                 // the answer; stop sequences apply to it alone
    std::string reasoning;            // harmony's analysis channel (chat only)
    nlohmann::ordered_json logprobs;  // null unless log-probabilities were asked for
    std::vector<ToolCall> calls;      // harmony tool calls that ended (ids not yet given)
  };
  // The text these tokens complete; once a stop sequence appears nothing more is released.
  Piece take(const std::vector<GeneratedToken>& tokens);
  // What is still held back (an incomplete character, a possible stop-sequence start).
  Piece finish();

  bool stopped() const { return stop_.stopped(); }
  int32_t n_tokens() const { return n_tokens_; }

 private:
  nlohmann::ordered_json logprob_entry(const GeneratedToken& token) const;
  Piece make_piece(std::string text, std::string reasoning, nlohmann::ordered_json entries);

  const tokenizer::Tokenizer& tokenizer_;
  tokenizer::StreamingDecoder decoder_;
  std::optional<tokenizer::HarmonySplitter> harmony_;  // chats of harmony models
  tokenizer::StreamingDecoder reasoning_decoder_;
  bool harmony_tool_calls_ = false;
  tokenizer::StreamingDecoder call_decoder_;
  std::optional<ToolCall> call_;  // the harmony tool call being written
  StopMatcher stop_;
  bool chat_;
  int32_t top_logprobs_;
  int32_t n_tokens_ = 0;
  size_t text_offset_ = 0;
};

}  // namespace bottega::server
