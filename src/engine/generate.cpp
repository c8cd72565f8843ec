#include "engine/generate.h"

#include <chrono>
#include <optional>
#include <vector>

#include "core/error.h"
#include "tokenizer/harmony.h"
#include "tokenizer/streaming_decoder.h"

namespace bottega {

namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

GenerateStats generate(Session& session, const tokenizer::Tokenizer& tokenizer,
                       std::string_view prompt, const GenerateOptions& options,
                       const std::function<bool(std::string_view)>& on_text) {
  GenerateStats stats;
  const std::vector<int32_t> tokens =
      tokenizer.encode(prompt, options.add_special, options.parse_special);
  if (tokens.empty()) {
    throw Error("the prompt is empty and the model adds no BOS token; give a prompt with -p");
  }
  stats.n_prompt = static_cast<int32_t>(tokens.size());
  if (session.n_past() + stats.n_prompt >= session.n_ctx()) {
    throw Error(
        str("the prompt is ", stats.n_prompt, " tokens but the context holds ", session.n_ctx(),
            " (including at least one generated token); raise it with -c or shorten the prompt"));
  }

  Sampler sampler(options.sampling, static_cast<int32_t>(tokenizer.n_vocab()));
  for (int32_t token : tokens) sampler.accept(token);

  const auto prompt_start = std::chrono::steady_clock::now();
  std::span<const float> logits = session.eval(tokens);
  stats.prompt_seconds = seconds_since(prompt_start);

  // SentencePiece drops the leading space of the first piece only when it starts the text.
  tokenizer::StreamingDecoder decoder(tokenizer, {.at_text_start = prompt.empty()});
  tokenizer::StreamingDecoder reasoning_decoder(tokenizer);
  std::optional<tokenizer::HarmonySplitter> harmony;
  if (options.on_reasoning) harmony = tokenizer::HarmonySplitter::for_tokenizer(tokenizer);
  using Part = tokenizer::HarmonySplitter::Part;
  const auto generate_start = std::chrono::steady_clock::now();
  while (true) {
    if (options.n_predict >= 0 && stats.n_generated >= options.n_predict) {
      stats.stop = StopReason::kLength;
      break;
    }
    int32_t token = 0;
    if (options.constraint) {
      const std::optional<int32_t> allowed = sampler.sample(logits, *options.constraint);
      if (!allowed) {
        stats.stop = StopReason::kConstraintEnd;
        break;
      }
      token = *allowed;
      options.constraint->accept(token);
    } else {
      token = sampler.sample(logits);
    }
    sampler.accept(token);
    if (options.stop_at_end_of_generation && tokenizer.is_eog(token)) {
      stats.stop = StopReason::kEndOfGeneration;
      break;
    }
    ++stats.n_generated;
    const Part part = harmony ? harmony->route(token) : Part::kAnswer;
    bool go_on = true;
    if (part == Part::kAnswer) {
      const std::string text = decoder.push(token);
      go_on = text.empty() || on_text(text);
    } else if (part == Part::kReasoning) {
      const std::string text = reasoning_decoder.push(token);
      go_on = text.empty() || options.on_reasoning(text);
    }
    if (!go_on) {
      stats.stop = StopReason::kCancelled;
      break;
    }
    if (session.n_past() >= session.n_ctx()) {
      stats.stop = StopReason::kContextFull;
      break;
    }
    if (options.n_predict < 0 || stats.n_generated < options.n_predict) {
      logits = session.eval(std::span<const int32_t>(&token, 1));
    }
  }
  if (const std::string rest = reasoning_decoder.flush(); !rest.empty() && harmony) {
    options.on_reasoning(rest);
  }
  if (const std::string rest = decoder.flush(); !rest.empty()) on_text(rest);
  stats.generate_seconds = seconds_since(generate_start);
  return stats;
}

}  // namespace bottega
