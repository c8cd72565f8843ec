// Token sampling: turns one row of logits into the next token.
//
// The chain follows llama.cpp's default order: penalties (repeat, frequency, presence) -> top-k ->
// top-p -> min-p -> temperature -> a draw from the softmax of what is left. Temperature <= 0 means
// greedy decoding: the argmax after penalties, lowest token id on ties.
//
// Reproducibility: with a fixed seed the same sequence of logits gives the same tokens with every
// standard library. The generator is std::mt19937 (its output is fixed by the C++ standard), the
// uniform value is built from its raw 32-bit output, and candidates are always visited in an order
// that does not depend on how the library implements partial_sort or nth_element. What remains is
// the C library's exp, which IEEE 754 does not fix to the last bit: a draw can differ only when it
// lands within an ulp or so of a boundary between two tokens.
//
// A Sampler is meant for one sequence and one thread. It keeps its scratch buffers between calls
// (the large ones reserved for the whole vocabulary up front), so sampling a token does not
// allocate once the first few calls have sized them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "sampling/token_constraint.h"

namespace bottega {

struct SamplingParams {
  // Asks for a seed drawn from std::random_device (the value llama.cpp uses for the same purpose).
  static constexpr uint64_t kRandomSeed = 0xFFFFFFFF;

  float temperature = 0.8f;        // <= 0: greedy (argmax after penalties)
  int top_k = 40;                  // <= 0: off
  float top_p = 0.95f;             // in (0, 1]; 1: off
  float min_p = 0.05f;             // in [0, 1]; 0: off
  float repeat_penalty = 1.0f;     // > 0; 1: off. logit > 0 ? logit / p : logit * p
  int repeat_last_n = 64;          // penalty window in accepted tokens; 0: off, -1: whole history
  float frequency_penalty = 0.0f;  // in [-2, 2]; logit -= count * f
  float presence_penalty = 0.0f;   // in [-2, 2]; logit -= (count > 0) * p
  uint64_t seed = kRandomSeed;
};

// Throws bottega::Error naming the first bad parameter, its value and the allowed range.
void validate(const SamplingParams& params);

struct TokenProbability {
  int32_t token;
  float logprob;
};

class Sampler {
 public:
  // Validates params (throws bottega::Error). n_vocab is the length of every logits row.
  Sampler(SamplingParams params, int32_t n_vocab);

  // Picks the next token from logits (n_vocab values; the caller's buffer is only read). -inf marks
  // a token as impossible; NaN, +inf, or no finite logit at all throws bottega::Error.
  // Sampling does not record the token: call accept() with the token the caller keeps.
  int32_t sample(std::span<const float> logits);
  // The same under a constraint: the token sample() picks when the constraint allows it, else a
  // pick among the allowed tokens alone (llama.cpp's order, so a model that follows the grammar
  // pays for no mask). Greedy decoding gets the allowed token of highest logit either way. Empty
  // when the constraint allows no token at all. The constraint is not told the choice.
  std::optional<int32_t> sample(std::span<const float> logits, TokenConstraint& constraint);

  // Records a prompt or generated token so that the penalties see it.
  void accept(int32_t token);

  // Forgets the accepted tokens and reseeds: a fixed seed replays the same draws, kRandomSeed draws
  // a fresh seed.
  void reset();

  // Log-softmax of the raw logits (no penalties, truncation or temperature), the n most likely
  // tokens, most likely first (lower id first on ties); -inf tokens are never listed. For OpenAI
  // "top_logprobs".
  static std::vector<TokenProbability> top_logprobs(std::span<const float> logits, int n);
  // Log-softmax of the raw logits at one token: the "logprob" of the token actually chosen.
  static float logprob(std::span<const float> logits, int32_t token);

  const SamplingParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }
  // The seed in use: params().seed, or the one drawn for kRandomSeed; passing it back as the seed
  // reproduces the run.
  uint64_t seed() const { return seed_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };

  bool penalties_active() const;
  void load_candidates(std::span<const float> logits);
  void apply_penalties();
  void drop_impossible();
  int32_t argmax() const;
  void apply_top_k();
  void apply_top_p();
  void apply_min_p();
  int32_t draw();
  double uniform01();

  SamplingParams params_;
  int32_t n_vocab_;
  uint64_t seed_ = 0;
  std::mt19937 rng_;

  // Accepted tokens inside the penalty window. With a positive repeat_last_n it is a ring buffer
  // of that capacity whose oldest entry sits at history_head_ once full.
  std::vector<int32_t> history_;
  size_t history_head_ = 0;

  // Scratch reused by every sample() call.
  std::vector<Candidate> candidates_;
  // top-p: the bucket where the mass crosses top_p. Usually small, so it grows on demand.
  std::vector<Candidate> tail_;
  std::vector<double> bucket_mass_;  // top-p: probability mass per logit bucket
  std::vector<float> probs_;
  std::vector<float> masked_;      // logits under a constraint's mask
  std::vector<int32_t> counts_;    // per token, all zero between calls
  std::vector<int32_t> distinct_;  // tokens with a nonzero count during apply_penalties()
};

}  // namespace bottega
