#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/error.h"

namespace bottega {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The first top-p pass sorts this many candidates, doubling each time the mass is not reached:
// a peaked distribution needs a few dozen, a flat one may need thousands, never a full sort.
constexpr size_t kFirstTopPChunk = 64;

template <typename T>
[[noreturn]] void bad_param(const char* name, T value, const char* allowed) {
  throw Error(
      str("sampling parameter ", name, " = ", value, " is out of range: it must be ", allowed));
}

// NaN and +inf mean the forward pass went wrong; sampling around them would hide the bug.
void check_logit(float logit, size_t token) {
  if (std::isnan(logit)) throw Error(str("logits contain NaN (token ", token, ")"));
  if (logit == std::numeric_limits<float>::infinity()) {
    throw Error(str("logits contain +inf (token ", token, ")"));
  }
}

[[noreturn]] void no_finite_logit() {
  throw Error("logits contain no finite value: every token is -inf");
}

// log(sum(exp(logits))) in double, checking every value on the way.
double log_sum_exp(std::span<const float> logits) {
  float max_logit = kNegInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    check_logit(logits[i], i);
    max_logit = std::max(max_logit, logits[i]);
  }
  if (max_logit == kNegInf) no_finite_logit();
  double sum = 0.0;
  for (float logit : logits) sum += std::exp(static_cast<double>(logit) - max_logit);
  return max_logit + std::log(sum);
}

// 64-bit seeds (OpenAI's "seed" is an int64) folded onto mt19937's 32-bit state seed; seeds below
// 2^32 pass through unchanged, so seed 42 here is std::mt19937(42).
uint32_t fold_seed(uint64_t seed) {
  return static_cast<uint32_t>(seed) ^ static_cast<uint32_t>(seed >> 32);
}

uint64_t random_seed() {
  std::random_device device;
  uint64_t seed = SamplingParams::kRandomSeed;
  // The sentinel would not reproduce the run if reported back, so it is never the drawn seed.
  while (seed == SamplingParams::kRandomSeed) seed = device();
  return seed;
}

}  // namespace

void validate(const SamplingParams& p) {
  if (!std::isfinite(p.temperature)) {
    bad_param("temperature", p.temperature, "a finite number (<= 0 selects greedy decoding)");
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    bad_param("top_p", p.top_p, "in (0, 1] (1 disables it)");
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
    bad_param("min_p", p.min_p, "in [0, 1] (0 disables it)");
  if (!(p.repeat_penalty > 0.0f && std::isfinite(p.repeat_penalty))) {
    bad_param("repeat_penalty", p.repeat_penalty, "a finite number > 0 (1 disables it)");
  }
  if (p.repeat_last_n < -1) {
    bad_param("repeat_last_n", p.repeat_last_n, ">= -1 (-1: whole history, 0: off)");
  }
  // OpenAI's documented range; it also keeps count * penalty far from overflowing.
  if (!(std::abs(p.frequency_penalty) <= 2.0f)) {
    bad_param("frequency_penalty", p.frequency_penalty, "in [-2, 2]");
  }
  if (!(std::abs(p.presence_penalty) <= 2.0f)) {
    bad_param("presence_penalty", p.presence_penalty, "in [-2, 2]");
  }
}

Sampler::Sampler(SamplingParams params, int32_t n_vocab) : params_(params), n_vocab_(n_vocab) {
  validate(params_);
  BOTTEGA_CHECK(n_vocab_ > 0, "n_vocab = ", n_vocab_);
  const auto vocab = static_cast<size_t>(n_vocab_);
  candidates_.reserve(vocab);
  probs_.reserve(vocab);
  if (penalties_active()) {
    counts_.assign(vocab, 0);
    if (params_.repeat_last_n > 0) {
      history_.reserve(static_cast<size_t>(params_.repeat_last_n));
      distinct_.reserve(std::min(static_cast<size_t>(params_.repeat_last_n), vocab));
    }
  }
  reset();
}

void Sampler::reset() {
  history_.clear();
  history_head_ = 0;
  seed_ = params_.seed == SamplingParams::kRandomSeed ? random_seed() : params_.seed;
  rng_.seed(fold_seed(seed_));
}

bool Sampler::penalties_active() const {
  return params_.repeat_last_n != 0 &&
         (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
          params_.presence_penalty != 0.0f);
}

void Sampler::accept(int32_t token) {
  BOTTEGA_CHECK(token >= 0 && token < n_vocab_, "token ", token, " outside vocabulary of ",
                n_vocab_);
  if (!penalties_active()) return;
  const auto window = static_cast<size_t>(params_.repeat_last_n);
  if (params_.repeat_last_n < 0 || history_.size() < window) {
    history_.push_back(token);
    return;
  }
  // Full window: the newest token replaces the oldest.
  history_[history_head_] = token;
  history_head_ = (history_head_ + 1) % window;
}

int32_t Sampler::sample(std::span<const float> logits) {
  load_candidates(logits);
  apply_penalties();
  drop_impossible();
  if (params_.temperature <= 0.0f) return argmax();
  apply_top_k();
  apply_top_p_min_p();
  return draw();
}

void Sampler::load_candidates(std::span<const float> logits) {
  BOTTEGA_CHECK(logits.size() == static_cast<size_t>(n_vocab_), "got ", logits.size(),
                " logits for a vocabulary of ", n_vocab_);
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    check_logit(logits[i], i);
    candidates_[i] = {static_cast<int32_t>(i), logits[i]};
  }
  sorted_ = 0;
}

// Runs while candidates_[i].id == i, so a token's entry is found by its id.
void Sampler::apply_penalties() {
  if (!penalties_active() || history_.empty()) return;
  for (int32_t token : history_) {
    if (counts_[static_cast<size_t>(token)]++ == 0) distinct_.push_back(token);
  }
  for (int32_t token : distinct_) {
    int32_t& count = counts_[static_cast<size_t>(token)];
    float& logit = candidates_[static_cast<size_t>(token)].logit;
    if (params_.repeat_penalty != 1.0f) {
      // llama.cpp: dividing a negative logit would make the token more likely, so it multiplies.
      logit = logit > 0.0f ? logit / params_.repeat_penalty : logit * params_.repeat_penalty;
    }
    logit -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
    count = 0;  // leave counts_ all zero for the next call
  }
  distinct_.clear();
}

// remove_if keeps the id order, which greedy ties and reproducible draws rely on.
void Sampler::drop_impossible() {
  const auto end = std::remove_if(candidates_.begin(), candidates_.end(),
                                  [](const Candidate& c) { return c.logit == kNegInf; });
  candidates_.erase(end, candidates_.end());
  if (candidates_.empty()) no_finite_logit();
}

int32_t Sampler::argmax() const {
  const Candidate* best = &candidates_.front();
  for (const Candidate& c : candidates_) {
    if (c.logit > best->logit) best = &c;  // strict: the lowest id keeps a tie
  }
  return best->id;
}

namespace {
// The canonical order: more likely first, lower id first among equals. It is a strict total order,
// so which candidates survive a cut and the order they end up in never depend on the algorithm.
bool more_likely(const auto& a, const auto& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}
}  // namespace

void Sampler::apply_top_k() {
  if (params_.top_k <= 0 || static_cast<size_t>(params_.top_k) >= candidates_.size()) return;
  const auto k = static_cast<size_t>(params_.top_k);
  std::nth_element(candidates_.begin(), candidates_.begin() + static_cast<ptrdiff_t>(k),
                   candidates_.end(), more_likely<Candidate, Candidate>);
  candidates_.resize(k);
  std::sort(candidates_.begin(), candidates_.end(), more_likely<Candidate, Candidate>);
  sorted_ = k;
}

// Top-p then min-p. Both keep a prefix of the canonical order, and min-p compares each token with
// the most likely one, which top-p never removes, so the result is the shorter of the two prefixes.
// That lets min-p bound how much top-p has to sort.
void Sampler::apply_top_p_min_p() {
  const bool use_top_p = params_.top_p < 1.0f;
  const bool use_min_p = params_.min_p > 0.0f;
  if (!use_top_p && !use_min_p) return;

  float max_logit = kNegInf;
  for (const Candidate& c : candidates_) max_logit = std::max(max_logit, c.logit);

  size_t limit = candidates_.size();
  if (use_min_p) {
    // p >= min_p * p_max is logit >= max_logit + log(min_p): the softmax normaliser cancels.
    const float threshold = max_logit + std::log(params_.min_p);
    const auto below = [threshold](const Candidate& c) { return c.logit < threshold; };
    if (!use_top_p) {
      // Stable, so candidates stay in id order (or canonical order after top-k).
      candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(), below),
                        candidates_.end());
      sorted_ = std::min(sorted_, candidates_.size());
      return;
    }
    limit = candidates_.size() -
            static_cast<size_t>(std::count_if(candidates_.begin(), candidates_.end(), below));
  }
  candidates_.resize(top_p_cutoff(max_logit, limit));
  sorted_ = candidates_.size();  // the cutoff never walks past the sorted prefix
}

// The length of the shortest canonical prefix holding top_p of the probability mass, at most
// limit; sorts only as far as it walks.
size_t Sampler::top_p_cutoff(float max_logit, size_t limit) {
  // The mass is relative to every candidate still in play, including those min-p will cut.
  double total = 0.0;
  for (const Candidate& c : candidates_) total += std::exp(c.logit - max_logit);
  const double target = static_cast<double>(params_.top_p) * total;

  double mass = 0.0;
  size_t i = 0;
  for (size_t chunk = kFirstTopPChunk; i < limit; chunk *= 2) {
    sort_prefix(std::min(limit, i + chunk));
    for (const size_t end = std::min(sorted_, limit); i < end; ++i) {
      mass += std::exp(candidates_[i].logit - max_logit);
      if (mass >= target) return i + 1;
    }
  }
  return limit;
}

// Extends the sorted prefix to n candidates. Everything past sorted_ is already less likely than
// everything before it, so only the tail needs selecting.
void Sampler::sort_prefix(size_t n) {
  if (n <= sorted_) return;
  const auto first = candidates_.begin() + static_cast<ptrdiff_t>(sorted_);
  const auto middle = candidates_.begin() + static_cast<ptrdiff_t>(n);
  if (n < candidates_.size()) {
    std::nth_element(first, middle, candidates_.end(), more_likely<Candidate, Candidate>);
  }
  std::sort(first, middle, more_likely<Candidate, Candidate>);
  sorted_ = n;
}

// Temperature, softmax and one draw. The candidates are in id order or canonical order, both
// independent of the standard library, so the same uniform value picks the same token everywhere.
int32_t Sampler::draw() {
  float max_logit = kNegInf;
  for (const Candidate& c : candidates_) max_logit = std::max(max_logit, c.logit);

  probs_.resize(candidates_.size());
  double total = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    probs_[i] = std::exp((candidates_[i].logit - max_logit) / params_.temperature);
    total += probs_[i];
  }

  const double target = uniform01() * total;
  double mass = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    mass += probs_[i];
    if (mass > target) return candidates_[i].id;
  }
  // Not reached: mass ends equal to total (same additions, same order) and target < total.
  return candidates_.front().id;
}

// [0, 1) from the raw 32-bit output: std::uniform_real_distribution differs between libraries.
double Sampler::uniform01() {
  return static_cast<double>(rng_()) * 0x1p-32;
}

std::vector<TokenProbability> Sampler::top_logprobs(std::span<const float> logits, int n) {
  const double lse = log_sum_exp(logits);
  if (n <= 0) return {};
  const auto wanted = std::min(static_cast<size_t>(n), logits.size());

  // A heap of the best `wanted` so far, least likely on top, so the scan never allocates more.
  std::vector<TokenProbability> best;
  best.reserve(wanted);
  const auto cmp = [](const TokenProbability& a, const TokenProbability& b) {
    return a.logprob > b.logprob || (a.logprob == b.logprob && a.token < b.token);
  };
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] == kNegInf) continue;
    const TokenProbability entry{static_cast<int32_t>(i), logits[i]};  // raw logit for now
    if (best.size() < wanted) {
      best.push_back(entry);
      std::push_heap(best.begin(), best.end(), cmp);
    } else if (cmp(entry, best.front())) {
      std::pop_heap(best.begin(), best.end(), cmp);
      best.back() = entry;
      std::push_heap(best.begin(), best.end(), cmp);
    }
  }
  std::sort_heap(best.begin(), best.end(), cmp);
  for (TokenProbability& entry : best) {
    entry.logprob = static_cast<float>(static_cast<double>(entry.logprob) - lse);
  }
  return best;
}

float Sampler::logprob(std::span<const float> logits, int32_t token) {
  BOTTEGA_CHECK(token >= 0 && static_cast<size_t>(token) < logits.size(), "token ", token,
                " outside ", logits.size(), " logits");
  const double lse = log_sum_exp(logits);
  return static_cast<float>(static_cast<double>(logits[static_cast<size_t>(token)]) - lse);
}

}  // namespace bottega
