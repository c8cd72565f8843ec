#include "server/relay.h"

namespace bottega::server {

using json = nlohmann::ordered_json;

Relay::Relay(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stops, bool chat,
             bool at_text_start, int32_t top_logprobs, std::vector<int32_t> rendered_tokens,
             bool harmony_tool_calls)
    : tokenizer_(tokenizer),
      decoder_(tokenizer, {.at_text_start = at_text_start}),
      harmony_(chat ? tokenizer::HarmonySplitter::for_tokenizer(tokenizer) : std::nullopt),
      reasoning_decoder_(tokenizer),
      harmony_tool_calls_(harmony_tool_calls),
      call_decoder_(tokenizer),
      stop_(std::move(stops)),
      chat_(chat),
      top_logprobs_(top_logprobs) {
  decoder_.render_tokens(std::move(rendered_tokens));
}

namespace {
json byte_list(const std::string& text) {
  json bytes = json::array();
  for (unsigned char c : text) bytes.push_back(c);
  return bytes;
}
}  // namespace

json Relay::logprob_entry(const GeneratedToken& token) const {
  const std::string piece = tokenizer_.token_to_piece(token.token);
  if (chat_) {
    json top = json::array();
    for (const auto& alt : token.top) {
      const std::string alt_piece = tokenizer_.token_to_piece(alt.token);
      top.push_back(
          {{"token", alt_piece}, {"logprob", alt.logprob}, {"bytes", byte_list(alt_piece)}});
    }
    return {{"token", piece},
            {"logprob", token.logprob},
            {"bytes", byte_list(piece)},
            {"top_logprobs", top}};
  }
  json top = json::object();
  for (const auto& alt : token.top) top[tokenizer_.token_to_piece(alt.token)] = alt.logprob;
  return {{"token", piece}, {"logprob", token.logprob}, {"top", top}};
}

void Relay::prime(const std::vector<int32_t>& tokens) {
  if (!harmony_) return;
  for (int32_t token : tokens) harmony_->route(token);
}

Relay::Piece Relay::make_piece(std::string text, std::string reasoning, json entries) {
  Piece piece{std::move(text), std::move(reasoning), nullptr, {}};
  if (top_logprobs_ < 0) return piece;
  if (chat_) {
    piece.logprobs = {{"content", entries}};
    return piece;
  }
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(),
       offsets = json::array();
  for (const auto& e : entries) {
    tokens.push_back(e["token"]);
    token_logprobs.push_back(e["logprob"]);
    top.push_back(e["top"]);
    offsets.push_back(text_offset_);
    text_offset_ += e["token"].get_ref<const std::string&>().size();
  }
  piece.logprobs = {{"tokens", tokens},
                    {"token_logprobs", token_logprobs},
                    {"top_logprobs", top_logprobs_ > 0 ? top : json(nullptr)},
                    {"text_offset", offsets}};
  return piece;
}

Relay::Piece Relay::take(const std::vector<GeneratedToken>& tokens) {
  std::string text, reasoning;
  json entries = json::array();
  for (const auto& token : tokens) {
    if (stop_.stopped()) break;
    ++n_tokens_;
    using Part = tokenizer::HarmonySplitter::Part;
    Part part = harmony_ ? harmony_->route(token.token) : Part::kAnswer;
    if (part == Part::kToolCall && !harmony_tool_calls_) part = Part::kAnswer;
    if (part == Part::kToolCall) {
      if (!call_) call_ = ToolCall{"", harmony_->recipient(), ""};
      call_->arguments += call_decoder_.push(token.token);
    }
    if (part == Part::kAnswer) text += stop_.push(decoder_.push(token.token));
    if (part == Part::kReasoning) reasoning += reasoning_decoder_.push(token.token);
    if (top_logprobs_ >= 0) entries.push_back(logprob_entry(token));
  }
  return make_piece(std::move(text), std::move(reasoning), std::move(entries));
}

Relay::Piece Relay::finish() {
  std::string text = stop_.push(decoder_.flush());
  text += stop_.flush();
  Piece piece = make_piece(std::move(text), reasoning_decoder_.flush(), json::array());
  // A call ends with <|call|>, which ends generation: it is complete when the answer is.
  if (call_) {
    call_->arguments += call_decoder_.flush();
    const auto args = json::parse(call_->arguments, nullptr, false);
    if (!args.is_discarded() && args.is_object()) {
      call_->arguments = args.dump();
      piece.calls.push_back(std::move(*call_));
    } else {  // not a call one can make: keep what the model wrote as the answer
      piece.text += call_->arguments;
    }
    call_.reset();
  }
  return piece;
}

}  // namespace bottega::server
