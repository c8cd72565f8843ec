// Perplexity of a model on a text, computed the way llama.cpp's perplexity tool does so numbers are
// comparable: the text (with BOS) is cut into chunks of n_ctx tokens, each evaluated from an empty
// cache with its first token replaced by BOS, and only the second half of each chunk is scored
// (every scored token then sees at least n_ctx/2 tokens of context).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/thread_pool.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace bottega {

struct PerplexityOptions {
  int32_t n_ctx = 512;
  int32_t n_batch = 512;          // tokens per forward pass (at most n_ctx)
  std::string save_base_path;     // write every scored token's log-probabilities here (KL base)
  std::string compare_base_path;  // compare against log-probabilities saved earlier
  KvCacheTypes cache_types;
};

struct KlDivergenceStats {
  double mean_kl = 0.0;         // mean over scored tokens of KL(base || model), in nats
  double kl_uncertainty = 0.0;  // standard error of that mean
  double top1_agreement = 0.0;  // share of tokens where both models' most likely token agree
  double base_ppl = 0.0;
  double ppl_ratio = 0.0;  // model PPL / base PPL
};

struct PerplexityResult {
  double ppl = 0.0;
  double ppl_uncertainty = 0.0;  // standard error, propagated through exp
  int64_t n_scored = 0;          // tokens scored
  int32_t n_chunks = 0;
  std::optional<KlDivergenceStats> kl;
};

// on_chunk(index from 1, running PPL) is called after each chunk. Throws Error when the text has
// fewer than 2 * n_ctx tokens, or when a KL base file does not match this text and vocabulary.
PerplexityResult compute_perplexity(Model& model, const tokenizer::Tokenizer& tokenizer,
                                    const std::string& text, const PerplexityOptions& options,
                                    ThreadPool& pool,
                                    const std::function<void(int32_t, double)>& on_chunk);

}  // namespace bottega
