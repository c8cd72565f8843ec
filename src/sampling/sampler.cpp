#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "core/error.h"

namespace bottega {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// partial_sort is a heap selection: one comparison per candidate once the heap of k holds the
// best so far, about 5x faster than nth_element for k = 40 of 150k. For large k the heap costs
// log k per insertion and nth_element + sort wins.
constexpr size_t kHeapSelectMaxK = 4096;

// Top-p buckets: 1/32 nat wide up to a gap of 32 nats from the best logit (p / p_max = 1e-14),
// then one bucket for everything further away.
constexpr int kBucketsPerNat = 32;
constexpr float kMaxBucketedGap = 32.0f;
constexpr size_t kTopPBuckets = static_cast<size_t>(kMaxBucketedGap) * kBucketsPerNat + 1;

size_t bucket_of(float gap) {
  return gap < kMaxBucketedGap ? static_cast<size_t>(gap * kBucketsPerNat) : kTopPBuckets - 1;
}

// exp(logit - max_logit). Top-p computes it twice for some candidates, so one definition keeps the
// two results bit-identical.
float unnormalised_probability(float gap) {
  return std::exp(-gap);
}

// The canonical order: more likely first, lower id first among equals. It is a strict total order,
// so which candidates survive a cut and the order they end up in never depend on the algorithm.
struct MoreLikely {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  }
};

template <typename C>
float max_logit_of(const std::vector<C>& candidates) {
  float max_logit = kNegInf;
  for (const C& c : candidates) max_logit = std::max(max_logit, c.logit);
  return max_logit;
}

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
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    bad_param("top_p", p.top_p, "in (0, 1] (1 disables it)");
  }
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
    bad_param("min_p", p.min_p, "in [0, 1] (0 disables it)");
  }
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
  bucket_mass_.resize(kTopPBuckets);
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
  apply_top_p();
  apply_min_p();
  return draw();
}

std::optional<int32_t> Sampler::sample(std::span<const float> logits, TokenConstraint& constraint) {
  const int32_t first = sample(logits);
  if (constraint.allows(first)) return first;
  masked_.assign(logits.begin(), logits.end());
  constraint.restrict(masked_);
  if (std::all_of(masked_.begin(), masked_.end(), [](float x) { return std::isinf(x); })) {
    return std::nullopt;
  }
  return sample(masked_);
}

void Sampler::load_candidates(std::span<const float> logits) {
  BOTTEGA_CHECK(logits.size() == static_cast<size_t>(n_vocab_), "got ", logits.size(),
                " logits for a vocabulary of ", n_vocab_);
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    check_logit(logits[i], i);
    candidates_[i] = {static_cast<int32_t>(i), logits[i]};
  }
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

// erase_if keeps the id order, which greedy ties and reproducible draws rely on.
void Sampler::drop_impossible() {
  std::erase_if(candidates_, [](const Candidate& c) { return c.logit == kNegInf; });
  if (candidates_.empty()) no_finite_logit();
}

int32_t Sampler::argmax() const {
  const Candidate* best = &candidates_.front();
  for (const Candidate& c : candidates_) {
    if (c.logit > best->logit) best = &c;  // strict: the lowest id keeps a tie
  }
  return best->id;
}

void Sampler::apply_top_k() {
  if (params_.top_k <= 0 || static_cast<size_t>(params_.top_k) >= candidates_.size()) return;
  const auto k = static_cast<size_t>(params_.top_k);
  const auto middle = candidates_.begin() + static_cast<ptrdiff_t>(k);
  if (k <= kHeapSelectMaxK) {
    std::partial_sort(candidates_.begin(), middle, candidates_.end(), MoreLikely{});
  } else {
    std::nth_element(candidates_.begin(), middle, candidates_.end(), MoreLikely{});
    std::sort(candidates_.begin(), middle, MoreLikely{});
  }
  candidates_.resize(k);
}

// Keeps the shortest run of most likely candidates whose mass reaches top_p, without sorting them
// all (a flat distribution over 150k tokens can need tens of thousands): candidates are bucketed by
// their gap to the best logit, whole buckets are kept while the mass stays below top_p, and only
// the bucket that crosses it is sorted. A bucket holds only candidates less likely than every
// earlier bucket, so the result is exactly the sorted prefix a full sort would give.
void Sampler::apply_top_p() {
  if (params_.top_p >= 1.0f) return;
  const float max_logit = max_logit_of(candidates_);
  std::fill(bucket_mass_.begin(), bucket_mass_.end(), 0.0);
  double total = 0.0;
  for (const Candidate& c : candidates_) {
    const float gap = max_logit - c.logit;
    const float p = unnormalised_probability(gap);
    bucket_mass_[bucket_of(gap)] += p;
    total += p;
  }
  const double target = static_cast<double>(params_.top_p) * total;

  size_t crossing = 0;
  double mass = 0.0;
  while (crossing + 1 < kTopPBuckets && mass + bucket_mass_[crossing] < target) {
    mass += bucket_mass_[crossing++];
  }

  // Earlier buckets stay where they are, in their current order; the crossing one moves aside.
  tail_.clear();
  size_t kept = 0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    const Candidate c = candidates_[i];
    const size_t bucket = bucket_of(max_logit - c.logit);
    if (bucket < crossing) {
      candidates_[kept++] = c;
    } else if (bucket == crossing) {
      tail_.push_back(c);
    }
  }
  candidates_.resize(kept);
  std::sort(tail_.begin(), tail_.end(), MoreLikely{});
  for (const Candidate& c : tail_) {
    candidates_.push_back(c);  // within the capacity reserved for the whole vocabulary
    mass += unnormalised_probability(max_logit - c.logit);
    if (mass >= target) break;
  }
}

// min-p compares each token with the most likely one, which neither top-k nor top-p ever removes.
void Sampler::apply_min_p() {
  if (params_.min_p <= 0.0f) return;
  // p >= min_p * p_max is logit >= max_logit + log(min_p): the softmax normaliser cancels.
  const float threshold = max_logit_of(candidates_) + std::log(params_.min_p);
  std::erase_if(candidates_, [threshold](const Candidate& c) { return c.logit < threshold; });
}

// Temperature, softmax and one draw. Every step before keeps candidates in an order that depends
// only on the logits (id order, canonical order, or a stable mix of the two), never on the standard
// library, so the same uniform value picks the same token everywhere.
int32_t Sampler::draw() {
  const float max_logit = max_logit_of(candidates_);
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
