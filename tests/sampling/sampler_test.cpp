#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"

namespace bottega {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Every filter off, temperature 1: the draw follows softmax(logits) exactly.
SamplingParams plain(uint64_t seed = 1234) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

SamplingParams greedy() {
  SamplingParams p = plain();
  p.temperature = 0.0f;
  return p;
}

int32_t vocab_of(const std::vector<float>& logits) {
  return static_cast<int32_t>(logits.size());
}

std::vector<int> histogram(const SamplingParams& params, const std::vector<float>& logits,
                           int draws) {
  Sampler sampler(params, vocab_of(logits));
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(sampler.sample(logits))];
  return counts;
}

std::set<int32_t> drawn_tokens(const SamplingParams& params, const std::vector<float>& logits,
                               int draws) {
  const std::vector<int> counts = histogram(params, logits, draws);
  std::set<int32_t> tokens;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) tokens.insert(static_cast<int32_t>(i));
  }
  return tokens;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) p[i] = std::exp((logits[i] - max_logit) / temperature);
  const double total = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& x : p) x /= total;
  return p;
}

std::vector<int32_t> sequence(Sampler& sampler, const std::vector<float>& logits, int n) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < n; ++i) tokens.push_back(sampler.sample(logits));
  return tokens;
}

// Greedy decoding with the given history accepted first: penalties decide which token wins.
int32_t greedy_after(SamplingParams params, const std::vector<float>& logits,
                     const std::vector<int32_t>& history) {
  params.temperature = 0.0f;
  Sampler sampler(params, vocab_of(logits));
  for (int32_t token : history) sampler.accept(token);
  return sampler.sample(logits);
}

std::vector<float> random_logits(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(n);
  for (float& x : logits) x = normal(rng);
  return logits;
}

// ---------------------------------------------------------------------------------------------
// Greedy

TEST(Greedy, PicksArgmax) {
  const std::vector<float> logits = {0.1f, 2.5f, -1.0f, 2.4f};
  Sampler sampler(greedy(), 4);
  EXPECT_EQ(sampler.sample(logits), 1);
}

TEST(Greedy, LowestIdWinsTies) {
  Sampler sampler(greedy(), 5);
  EXPECT_EQ(sampler.sample(std::vector<float>{1.0f, 3.0f, 0.0f, 3.0f, 3.0f}), 1);
  EXPECT_EQ(sampler.sample(std::vector<float>{-kInf, 2.0f, 0.0f, 2.0f, -kInf}), 1);
}

TEST(Greedy, IgnoresTruncationAndSeed) {
  SamplingParams params;  // defaults: top-k 40, top-p 0.95, min-p 0.05
  params.temperature = -1.0f;
  params.seed = SamplingParams::kRandomSeed;
  const std::vector<float> logits = random_logits(1000, 7, 2.0f);
  const auto expected = std::max_element(logits.begin(), logits.end()) - logits.begin();
  Sampler sampler(params, vocab_of(logits));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sampler.sample(logits), expected);
}

// ---------------------------------------------------------------------------------------------
// Truncation filters

TEST(TopK, OnlyTheKBestAreEverDrawn) {
  SamplingParams params = plain();
  params.top_k = 2;
  const std::vector<float> logits = {1.0f, 3.0f, 0.5f, 2.9f, 2.0f};
  EXPECT_EQ(drawn_tokens(params, logits, 2000), (std::set<int32_t>{1, 3}));
}

TEST(TopK, TiesAtTheCutKeepTheLowestIds) {
  SamplingParams params = plain();
  params.top_k = 2;
  const std::vector<float> logits = {0.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  EXPECT_EQ(drawn_tokens(params, logits, 2000), (std::set<int32_t>{1, 2}));
}

TEST(TopK, KeptTokensAreRenormalised) {
  SamplingParams params = plain();
  params.top_k = 2;
  const std::vector<float> logits = {2.0f, 1.0f, 0.0f};
  const int draws = 20000;
  const std::vector<int> counts = histogram(params, logits, draws);
  const std::vector<double> p = softmax({2.0f, 1.0f}, 1.0);
  EXPECT_NEAR(counts[0] / double(draws), p[0], 0.015);
  EXPECT_NEAR(counts[1] / double(draws), p[1], 0.015);
  EXPECT_EQ(counts[2], 0);
}

TEST(TopP, KeepsTheSmallestPrefixReachingP) {
  const std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  SamplingParams params = plain();
  params.top_p = 0.5f;  // 0.6 alone reaches it
  EXPECT_EQ(drawn_tokens(params, logits, 2000), (std::set<int32_t>{0}));
  params.top_p = 0.85f;  // needs 0.6 + 0.3
  EXPECT_EQ(drawn_tokens(params, logits, 2000), (std::set<int32_t>{0, 1}));
}

TEST(MinP, RemovesTokensBelowFractionOfTheBest) {
  // p_max = 0.4, so min_p = 0.2 cuts below 0.08: token 2 (0.07) goes, 3 (0.23) stays.
  const std::vector<float> logits = {std::log(0.4f), std::log(0.3f), std::log(0.07f),
                                     std::log(0.23f)};
  SamplingParams params = plain();
  params.min_p = 0.2f;
  EXPECT_EQ(drawn_tokens(params, logits, 2000), (std::set<int32_t>{0, 1, 3}));
}

TEST(Chain, TruncationSeesLogitsBeforeTemperature) {
  // p1 / p0 = e^-2 = 0.135 < 0.2 before temperature; at T = 10 it would be e^-0.2 = 0.82.
  SamplingParams params = plain();
  params.min_p = 0.2f;
  params.temperature = 10.0f;
  EXPECT_EQ(drawn_tokens(params, {0.0f, -2.0f}, 2000), (std::set<int32_t>{0}));

  // softmax({0, -2}) = {0.88, 0.12}: top-p 0.85 keeps token 0 only, whatever the temperature.
  params = plain();
  params.top_p = 0.85f;
  params.temperature = 10.0f;
  EXPECT_EQ(drawn_tokens(params, {0.0f, -2.0f}, 2000), (std::set<int32_t>{0}));
}

TEST(Chain, TopPAndMinPTogetherKeepTheSmallerSet) {
  // Probabilities 0.5 / 0.3 / 0.15 / 0.05.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  SamplingParams params = plain();
  params.temperature = 5.0f;  // flatten what is kept so every survivor shows up
  params.top_p = 0.9f;        // keeps 0, 1, 2
  params.min_p = 0.5f;        // keeps p >= 0.25: 0, 1
  EXPECT_EQ(drawn_tokens(params, logits, 2000), (std::set<int32_t>{0, 1}));
  params.top_p = 0.6f;  // keeps 0, 1
  params.min_p = 0.2f;  // keeps p >= 0.1: 0, 1, 2
  EXPECT_EQ(drawn_tokens(params, logits, 2000), (std::set<int32_t>{0, 1}));
  // top-p's mass is measured before min-p cuts: over {0.5, 0.3} alone 0.6 would need only token 0.
  params.top_p = 0.55f;  // 0.5 < 0.55, 0.8 >= 0.55: keeps 0, 1
  params.min_p = 0.5f;
  EXPECT_EQ(drawn_tokens(params, logits, 2000), (std::set<int32_t>{0, 1}));
}

// Large vocabularies go through the selection paths (nth_element, top-p buckets); the kept set must
// be exactly the prefix a full sort gives.
class LargeVocabTruncation : public ::testing::Test {
 protected:
  static constexpr size_t kVocab = 2000;
  static constexpr int kDraws = 6000;  // a kept token is missed with odds below e^-20

  void SetUp() override {
    // Distinct logits 0.02 apart by rank, scattered over the ids: one or two per top-p bucket, and
    // the lowest ranks more than 32 nats down, in the catch-all bucket.
    std::vector<int32_t> ids(kVocab);
    std::iota(ids.begin(), ids.end(), 0);
    std::mt19937 rng(99);
    std::shuffle(ids.begin(), ids.end(), rng);
    logits_.resize(kVocab);
    by_rank_ = ids;
    for (size_t rank = 0; rank < kVocab; ++rank) {
      logits_[static_cast<size_t>(ids[rank])] = -0.02f * static_cast<float>(rank);
    }
  }

  // A top_p halfway between the mass of the first n - 1 and the first n tokens: keeps exactly n.
  float top_p_keeping(size_t n) const {
    const std::vector<double> p = softmax(logits_, 1.0);
    double before = 0.0;
    for (size_t rank = 0; rank + 1 < n; ++rank) before += p[static_cast<size_t>(by_rank_[rank])];
    const double with = before + p[static_cast<size_t>(by_rank_[n - 1])];
    return static_cast<float>((before + with) / 2.0);
  }

  // Draws at a high temperature (near uniform over what is kept) and checks the kept ranks.
  void expect_kept_ranks(const SamplingParams& params, size_t n) const {
    const std::set<int32_t> tokens = drawn_tokens(params, logits_, kDraws);
    std::set<int32_t> expected(by_rank_.begin(), by_rank_.begin() + static_cast<ptrdiff_t>(n));
    EXPECT_EQ(tokens, expected);
  }

  std::vector<float> logits_;
  std::vector<int32_t> by_rank_;  // token ids, most likely first
};

TEST_F(LargeVocabTruncation, TopPWithoutTopK) {
  SamplingParams params = plain();
  params.temperature = 1000.0f;
  for (size_t n : {1u, 2u, 37u, 301u}) {
    params.top_p = top_p_keeping(n);
    expect_kept_ranks(params, n);
  }
}

TEST_F(LargeVocabTruncation, MinPWithoutTopK) {
  SamplingParams params = plain();
  params.temperature = 1000.0f;
  // Rank r has p / p_max = exp(-0.02 r); halfway between ranks 199 and 200 keeps 200.
  params.min_p = std::exp(-0.02f * 199.5f);
  expect_kept_ranks(params, 200);
}

TEST_F(LargeVocabTruncation, MinPAfterTopP) {
  SamplingParams params = plain();
  params.temperature = 1000.0f;
  params.top_p = top_p_keeping(250);
  params.min_p = std::exp(-0.02f * 99.5f);
  expect_kept_ranks(params, 100);
  params.min_p = std::exp(-0.02f * 299.5f);  // min-p would keep 300: top-p's 250 stand
  expect_kept_ranks(params, 250);
}

TEST_F(LargeVocabTruncation, TopKThenTopP) {
  SamplingParams params = plain();
  params.temperature = 1000.0f;
  params.top_k = 300;
  params.top_p = 0.3f;  // over the 300 survivors, not over the whole vocabulary
  const std::vector<double> p = softmax(logits_, 1.0);
  double kept_mass = 0.0;
  for (size_t rank = 0; rank < 300; ++rank) kept_mass += p[static_cast<size_t>(by_rank_[rank])];
  double mass = 0.0;
  size_t n = 0;
  while (mass < 0.3 * kept_mass) mass += p[static_cast<size_t>(by_rank_[n++])];
  expect_kept_ranks(params, n);
}

TEST(TopP, EqualLogitsKeepTheLowestIds) {
  // One top-p bucket holds everything; the tie-break inside it decides.
  const std::vector<float> logits(200, 0.5f);
  SamplingParams params = plain();
  params.top_p = 0.5f;
  const std::set<int32_t> tokens = drawn_tokens(params, logits, 3000);
  ASSERT_EQ(tokens.size(), 100u);
  EXPECT_EQ(*tokens.rbegin(), 99);
}

// ---------------------------------------------------------------------------------------------
// Temperature and the distribution

TEST(Temperature, FrequenciesMatchSoftmax) {
  // Tolerance: |freq - p| < 0.015 over 20000 draws, about 4 standard deviations at p = 0.5.
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 0.2f};
  const int draws = 20000;
  for (float temperature : {0.5f, 1.0f, 2.0f}) {
    SamplingParams params = plain(static_cast<uint64_t>(temperature * 100));
    params.temperature = temperature;
    const std::vector<int> counts = histogram(params, logits, draws);
    const std::vector<double> p = softmax(logits, temperature);
    for (size_t i = 0; i < logits.size(); ++i) {
      EXPECT_NEAR(counts[i] / double(draws), p[i], 0.015) << "T=" << temperature << " token " << i;
    }
  }
}

TEST(Temperature, ImpossibleTokensAreNeverDrawn) {
  const std::vector<float> logits = {-kInf, 0.0f, -kInf, 0.0f, -kInf};
  EXPECT_EQ(drawn_tokens(plain(), logits, 2000), (std::set<int32_t>{1, 3}));
  EXPECT_EQ(drawn_tokens(plain(), {-kInf, -kInf, 5.0f}, 100), (std::set<int32_t>{2}));
}

TEST(Temperature, PenalisedLogitsShapeTheDistribution) {
  SamplingParams params = plain();
  params.presence_penalty = 1.0f;
  Sampler sampler(params, 2);
  sampler.accept(0);
  const int draws = 20000;
  int zeros = 0;
  const std::vector<float> logits = {1.0f, 1.0f};
  for (int i = 0; i < draws; ++i) zeros += sampler.sample(logits) == 0;
  EXPECT_NEAR(zeros / double(draws), softmax({0.0f, 1.0f}, 1.0)[0], 0.015);
}

// ---------------------------------------------------------------------------------------------
// Seeds and reproducibility

TEST(Seed, SameSeedSameTokens) {
  const std::vector<float> logits = random_logits(500, 1, 1.0f);
  SamplingParams params;
  params.seed = 42;
  Sampler a(params, 500);
  Sampler b(params, 500);
  EXPECT_EQ(sequence(a, logits, 300), sequence(b, logits, 300));
}

TEST(Seed, DifferentSeedsDifferentTokens) {
  const std::vector<float> logits = random_logits(500, 1, 1.0f);
  SamplingParams params;
  params.seed = 42;
  Sampler a(params, 500);
  params.seed = 43;
  Sampler b(params, 500);
  params.seed = 42 + (uint64_t{1} << 40);  // the high half of a 64-bit seed counts too
  Sampler c(params, 500);
  const std::vector<int32_t> from_a = sequence(a, logits, 300);
  EXPECT_NE(from_a, sequence(b, logits, 300));
  EXPECT_NE(from_a, sequence(c, logits, 300));
}

TEST(Seed, ResetReplaysAFixedSeed) {
  const std::vector<float> logits = random_logits(500, 2, 1.0f);
  SamplingParams params;
  params.seed = 7;
  Sampler sampler(params, 500);
  const std::vector<int32_t> first = sequence(sampler, logits, 100);
  sampler.reset();
  EXPECT_EQ(sequence(sampler, logits, 100), first);
}

TEST(Seed, RandomSeedIsReportedAndReproducible) {
  const std::vector<float> logits = random_logits(500, 3, 1.0f);
  SamplingParams params;
  params.seed = SamplingParams::kRandomSeed;
  Sampler a(params, 500);
  EXPECT_NE(a.seed(), SamplingParams::kRandomSeed);
  params.seed = a.seed();
  Sampler b(params, 500);
  EXPECT_EQ(sequence(a, logits, 100), sequence(b, logits, 100));
}

// The draw is built from std::mt19937's raw output, which the C++ standard fixes, so this sequence
// must come out the same with every compiler and standard library. The expected tokens were checked
// against an independent model: MT19937 written out in Python, u = output / 2^32, inverse CDF of
// the softmax in double.
TEST(Seed, GoldenSequence) {
  const std::vector<float> logits = {0.0f, 0.3f, -0.2f, 0.1f, 0.5f, -1.0f, 0.25f, 0.05f};
  Sampler sampler(plain(42), 8);
  const std::vector<int32_t> expected = {3, 6, 7, 1, 6, 6, 4, 4, 1, 3, 1, 0,
                                         0, 3, 6, 2, 4, 1, 5, 4, 0, 0, 7, 5};
  EXPECT_EQ(sequence(sampler, logits, 24), expected);
}

// ---------------------------------------------------------------------------------------------
// Penalties

TEST(Penalties, RepeatPenaltyDividesPositiveLogits) {
  SamplingParams params = plain();
  const std::vector<float> logits = {2.0f, 1.5f};
  params.repeat_penalty = 1.25f;  // 2 / 1.25 = 1.6 > 1.5
  EXPECT_EQ(greedy_after(params, logits, {0}), 0);
  params.repeat_penalty = 1.5f;  // 2 / 1.5 = 1.33 < 1.5
  EXPECT_EQ(greedy_after(params, logits, {0}), 1);
}

TEST(Penalties, RepeatPenaltyMultipliesNegativeLogits) {
  SamplingParams params = plain();
  const std::vector<float> logits = {-1.0f, -1.2f};
  params.repeat_penalty = 1.1f;  // -1.1 > -1.2
  EXPECT_EQ(greedy_after(params, logits, {0}), 0);
  params.repeat_penalty = 1.3f;  // -1.3 < -1.2 (dividing would have given -0.77)
  EXPECT_EQ(greedy_after(params, logits, {0}), 1);
}

TEST(Penalties, RepeatPenaltyIsAppliedOnceWhateverTheCount) {
  SamplingParams params = plain();
  params.repeat_penalty = 1.25f;  // once: 1.6 > 1.5; three times would be 1.02
  EXPECT_EQ(greedy_after(params, {2.0f, 1.5f}, {0, 0, 0}), 0);
}

TEST(Penalties, FrequencyPenaltySubtractsCountTimesPenalty) {
  SamplingParams params = plain();
  const std::vector<float> logits = {1.0f, 0.0f};
  const std::vector<int32_t> history = {0, 0, 0};  // 1 - 3f crosses 0 at f = 1/3
  params.frequency_penalty = 0.333f;
  EXPECT_EQ(greedy_after(params, logits, history), 0);
  params.frequency_penalty = 0.334f;
  EXPECT_EQ(greedy_after(params, logits, history), 1);
  params.frequency_penalty = -0.5f;  // negative values encourage repetition
  EXPECT_EQ(greedy_after(params, {0.0f, 1.0f}, history), 0);
}

TEST(Penalties, PresencePenaltySubtractsOnce) {
  SamplingParams params = plain();
  const std::vector<float> logits = {1.0f, 0.0f};
  const std::vector<int32_t> history = {0, 0, 0};
  params.presence_penalty = 0.999f;
  EXPECT_EQ(greedy_after(params, logits, history), 0);
  params.presence_penalty = 1.001f;
  EXPECT_EQ(greedy_after(params, logits, history), 1);
}

TEST(Penalties, FrequencyAndPresenceAdd) {
  SamplingParams params = plain();
  params.frequency_penalty = 0.25f;
  params.presence_penalty = 0.2f;
  const std::vector<int32_t> history = {0, 0};  // 2 * 0.25 + 0.2 = 0.7
  EXPECT_EQ(greedy_after(params, {1.0f, 0.299f}, history), 0);
  EXPECT_EQ(greedy_after(params, {1.0f, 0.301f}, history), 1);
}

TEST(Penalties, RepeatPenaltyComesBeforeSubtraction) {
  SamplingParams params = plain();
  params.repeat_penalty = 2.0f;
  params.presence_penalty = 0.5f;
  // 3 / 2 - 0.5 = 1.0 < 1.2; the other order would give (3 - 0.5) / 2 = 1.25.
  EXPECT_EQ(greedy_after(params, {3.0f, 1.2f}, {0}), 1);
}

TEST(Penalties, WindowCoversTheLastNAcceptedTokens) {
  // Token 0 leads unless penalised; presence 2 makes it -1 and token 1 -2, so token 2 wins.
  const std::vector<float> logits = {1.0f, 0.0f, 0.5f};
  SamplingParams params = plain();
  params.presence_penalty = 2.0f;
  params.repeat_last_n = 2;
  EXPECT_EQ(greedy_after(params, logits, {0, 1, 1}), 0);  // 0 slid out of the window
  params.repeat_last_n = 3;
  EXPECT_EQ(greedy_after(params, logits, {0, 1, 1}), 2);
  params.repeat_last_n = -1;
  EXPECT_EQ(greedy_after(params, logits, {0, 1, 1, 1, 1, 1, 1, 1}), 2);
  params.repeat_last_n = 0;
  EXPECT_EQ(greedy_after(params, logits, {0, 0, 0}), 0);
}

TEST(Penalties, WindowWrapsAround) {
  const std::vector<float> logits = {1.0f, 0.0f, 0.5f};
  SamplingParams params = plain();
  params.temperature = 0.0f;
  params.presence_penalty = 2.0f;
  params.repeat_last_n = 3;
  Sampler sampler(params, 3);
  for (int32_t token : {0, 1, 1, 1, 0, 1, 1, 1}) sampler.accept(token);
  EXPECT_EQ(sampler.sample(logits), 0);  // window {1, 1, 1}
  sampler.accept(0);
  EXPECT_EQ(sampler.sample(logits), 2);  // window {1, 1, 0}
  for (int32_t token : {1, 1, 1}) sampler.accept(token);
  EXPECT_EQ(sampler.sample(logits), 0);
}

TEST(Penalties, ResetForgetsHistory) {
  SamplingParams params = plain();
  params.temperature = 0.0f;
  params.presence_penalty = 2.0f;
  Sampler sampler(params, 2);
  sampler.accept(0);
  EXPECT_EQ(sampler.sample(std::vector<float>{1.0f, 0.0f}), 1);
  sampler.reset();
  EXPECT_EQ(sampler.sample(std::vector<float>{1.0f, 0.0f}), 0);
}

TEST(Penalties, CallerLogitsAreUntouched) {
  SamplingParams params;
  params.repeat_penalty = 1.5f;
  params.frequency_penalty = 1.0f;
  const std::vector<float> logits = random_logits(100, 5, 2.0f);
  const std::vector<float> copy = logits;
  Sampler sampler(params, 100);
  for (int32_t token = 0; token < 50; ++token) sampler.accept(token);
  sampler.sample(logits);
  EXPECT_EQ(logits, copy);
}

// ---------------------------------------------------------------------------------------------
// Log-probabilities

TEST(TopLogprobs, MatchLogSoftmaxInDoubleAndAreSorted) {
  std::vector<float> logits = random_logits(1000, 11, 3.0f);
  logits[17] = -kInf;
  const std::vector<TokenProbability> top = Sampler::top_logprobs(logits, 5);
  ASSERT_EQ(top.size(), 5u);

  double max_logit = -kInf;
  for (float x : logits) max_logit = std::max<double>(max_logit, x);
  double sum = 0.0;
  for (float x : logits) sum += std::exp(x - max_logit);
  const double lse = max_logit + std::log(sum);

  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  for (size_t i = 0; i < top.size(); ++i) {
    EXPECT_EQ(top[i].token, ids[i]);
    EXPECT_NEAR(top[i].logprob, logits[static_cast<size_t>(ids[i])] - lse, 1e-5);
    if (i > 0) {
      EXPECT_GE(top[i - 1].logprob, top[i].logprob);
    }
    EXPECT_NEAR(Sampler::logprob(logits, top[i].token), top[i].logprob, 1e-6);
  }
  EXPECT_EQ(Sampler::logprob(logits, 17), -kInf);
}

TEST(TopLogprobs, TiesByIdAndImpossibleTokensLeftOut) {
  const std::vector<float> logits = {1.0f, 2.0f, 2.0f, -kInf, 0.0f};
  const std::vector<TokenProbability> top = Sampler::top_logprobs(logits, 10);
  ASSERT_EQ(top.size(), 4u);
  EXPECT_EQ(top[0].token, 1);
  EXPECT_EQ(top[1].token, 2);
  EXPECT_EQ(top[2].token, 0);
  EXPECT_EQ(top[3].token, 4);
  EXPECT_TRUE(Sampler::top_logprobs(logits, 0).empty());
}

TEST(TopLogprobs, ProbabilitiesSumToOne) {
  const std::vector<float> logits = random_logits(64, 12, 1.0f);
  double total = 0.0;
  for (const TokenProbability& t : Sampler::top_logprobs(logits, 64)) total += std::exp(t.logprob);
  EXPECT_NEAR(total, 1.0, 1e-5);
}

// ---------------------------------------------------------------------------------------------
// Bad input

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(BadLogits, NaNAndPlusInfAreErrors) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Sampler sampler(plain(), 3);
  EXPECT_NE(error_of([&] {
              sampler.sample(std::vector<float>{0.0f, nan, 1.0f});
            }).find("logits contain NaN (token 1)"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              sampler.sample(std::vector<float>{kInf, 0.0f, 1.0f});
            }).find("+inf"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              sampler.sample(std::vector<float>{-kInf, -kInf, -kInf});
            }).find("no finite value"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Sampler::top_logprobs(std::vector<float>{nan}, 1); }).find("NaN"),
            std::string::npos);
  // The sampler is still usable afterwards.
  EXPECT_EQ(sampler.sample(std::vector<float>{-kInf, -kInf, 1.0f}), 2);
}

TEST(BadLogitsDeathTest, WrongLengthIsAProgrammerError) {
  Sampler sampler(plain(), 3);
  EXPECT_DEATH(sampler.sample(std::vector<float>{0.0f, 1.0f}), "logits for a vocabulary of 3");
  EXPECT_DEATH(sampler.accept(3), "outside vocabulary");
}

struct BadParam {
  const char* name;
  std::function<void(SamplingParams&)> set;
};

TEST(Validate, RejectsEachBadValueNamingIt) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<BadParam> cases = {
      {"temperature", [&](SamplingParams& p) { p.temperature = nan; }},
      {"temperature", [](SamplingParams& p) { p.temperature = kInf; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 0.0f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = -0.5f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 1.5f; }},
      {"top_p", [&](SamplingParams& p) { p.top_p = nan; }},
      {"min_p", [](SamplingParams& p) { p.min_p = -0.1f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = 1.1f; }},
      {"min_p", [&](SamplingParams& p) { p.min_p = nan; }},
      {"repeat_penalty", [](SamplingParams& p) { p.repeat_penalty = 0.0f; }},
      {"repeat_penalty", [](SamplingParams& p) { p.repeat_penalty = -1.0f; }},
      {"repeat_penalty", [](SamplingParams& p) { p.repeat_penalty = kInf; }},
      {"repeat_last_n", [](SamplingParams& p) { p.repeat_last_n = -2; }},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = 2.5f; }},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = -3.0f; }},
      {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = 2.1f; }},
      {"presence_penalty", [&](SamplingParams& p) { p.presence_penalty = nan; }},
  };
  for (const BadParam& bad : cases) {
    SamplingParams params;
    bad.set(params);
    const std::string message = error_of([&] { validate(params); });
    EXPECT_NE(message.find(bad.name), std::string::npos) << message;
    EXPECT_NE(message.find("must be"), std::string::npos) << message;
    EXPECT_NE(error_of([&] { Sampler(params, 10); }).find(bad.name), std::string::npos);
  }
}

TEST(Validate, AcceptsTheEdgesOfEachRange) {
  SamplingParams params;
  EXPECT_NO_THROW(validate(params));
  params.temperature = -1.0f;
  params.top_k = -5;
  params.top_p = 1.0f;
  params.min_p = 1.0f;
  params.repeat_last_n = -1;
  params.frequency_penalty = -2.0f;
  params.presence_penalty = 2.0f;
  EXPECT_NO_THROW(validate(params));
  params.min_p = 0.0f;
  params.top_p = 1e-6f;
  EXPECT_NO_THROW(validate(params));
}

// ---------------------------------------------------------------------------------------------
// Real vocabulary sizes

TEST(LargeVocab, SamplesFrom150kTokens) {
  const size_t vocab = 150000;
  const std::vector<float> logits = random_logits(vocab, 21, 3.0f);
  SamplingParams params;  // llama.cpp defaults
  params.seed = 5;
  params.repeat_penalty = 1.1f;
  Sampler sampler(params, static_cast<int32_t>(vocab));
  // With top-k 40 every draw must be among the 40 largest logits.
  std::vector<float> sorted = logits;
  std::nth_element(sorted.begin(), sorted.begin() + 39, sorted.end(), std::greater<float>());
  const float fortieth = sorted[39];
  for (int i = 0; i < 200; ++i) {
    const int32_t token = sampler.sample(logits);
    ASSERT_GE(token, 0);
    ASSERT_LT(static_cast<size_t>(token), vocab);
    EXPECT_GE(logits[static_cast<size_t>(token)], fortieth / 1.1f);
    sampler.accept(token);
  }

  SamplingParams no_top_k = params;
  no_top_k.top_k = 0;
  Sampler wide(no_top_k, static_cast<int32_t>(vocab));
  for (int i = 0; i < 50; ++i) wide.accept(wide.sample(logits));

  Sampler greedy_sampler(greedy(), static_cast<int32_t>(vocab));
  EXPECT_EQ(greedy_sampler.sample(logits),
            std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace
}  // namespace bottega
