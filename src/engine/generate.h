// Text in, streamed text out: tokenize a prompt, evaluate it, sample until a stop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "engine/session.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace bottega {

struct GenerateOptions {
  int32_t n_predict = 128;  // tokens to generate; -1: until end of generation or a full context
  SamplingParams sampling;
  bool add_special = true;    // BOS/EOS as the vocabulary asks
  bool parse_special = true;  // special tokens written in the prompt become their ids
  bool stop_at_end_of_generation = true;
  // When set and the model writes harmony (gpt-oss), its analysis channel goes here and only the
  // answer to on_text; channel headers go nowhere. Unset: every token's text goes to on_text.
  std::function<bool(std::string_view)> on_reasoning;
  // What may be generated (a grammar); none: anything. Generation ends (kConstraintEnd) when it
  // leaves no token.
  std::shared_ptr<TokenConstraint> constraint;
};

enum class StopReason { kLength, kEndOfGeneration, kContextFull, kCancelled, kConstraintEnd };

struct GenerateStats {
  int32_t n_prompt = 0;
  int32_t n_generated = 0;
  double prompt_seconds = 0.0;    // evaluating the prompt
  double generate_seconds = 0.0;  // from the first sampled token to the last
  StopReason stop = StopReason::kLength;
};

// Calls on_text with each complete piece of UTF-8 as it is produced (never a split character);
// returning false stops generation. Throws Error for a prompt that does not fit the context.
GenerateStats generate(Session& session, const tokenizer::Tokenizer& tokenizer,
                       std::string_view prompt, const GenerateOptions& options,
                       const std::function<bool(std::string_view)>& on_text);

}  // namespace bottega
