// bench's test list and timing loop (engine/bench.h) on a model that records what it is asked to
// evaluate: llama-bench's names and order, and -d's depth evaluated before each timed repetition.
#include "engine/bench.h"

#include <gtest/gtest.h>

#include <vector>

namespace bottega::bench {
namespace {

// A model that computes nothing and keeps every batch's positions.
class RecordingModel final : public Model {
 public:
  RecordingModel() {
    info_.n_vocab = 50;
    info_.n_layer = 1;
    info_.n_embd = 8;
    info_.n_head = 1;
    info_.n_head_kv = 1;
    info_.head_dim = 8;
    info_.n_ff = 8;
    info_.n_ctx_train = 4096;
  }
  const ModelInfo& info() const override { return info_; }
  uint64_t weight_bytes() const override { return 1000; }
  uint64_t n_params() const override { return 500; }
  void forward(std::span<const BatchToken> batch, std::span<const std::span<const int32_t>>,
               KvCache&, std::span<float> logits, ThreadPool&) override {
    std::vector<int32_t> positions;
    for (const BatchToken& t : batch) {
      EXPECT_GE(t.token, 0);
      EXPECT_LT(t.token, info_.n_vocab);
      positions.push_back(t.pos);
    }
    batches.push_back(positions);
    std::fill(logits.begin(), logits.end(), 0.0f);
  }

  std::vector<std::vector<int32_t>> batches;

 private:
  ModelInfo info_;
};

// run_test without the warm-up, whose batches would come first in the record.
TestResult run_unwarmed(RecordingModel& model, const TestSpec& spec, int repetitions) {
  ThreadPool pool(1);
  RunOptions options;
  options.repetitions = repetitions;
  options.warmup = false;
  return run_test(model, pool, spec, options);
}

std::vector<int32_t> range(int32_t first, int32_t count) {
  std::vector<int32_t> out;
  for (int32_t i = 0; i < count; ++i) out.push_back(first + i);
  return out;
}

TEST(Bench, NamesTestsAsLlamaBenchDoes) {
  EXPECT_EQ(test_name({512, 0, 0}), "pp512");
  EXPECT_EQ(test_name({0, 128, 0}), "tg128");
  EXPECT_EQ(test_name({512, 128, 0}), "pp512+tg128");
  EXPECT_EQ(test_name({0, 128, 4096}), "tg128 @ d4096");
  EXPECT_EQ(test_name({512, 0, 1024}), "pp512 @ d1024");
  EXPECT_EQ(test_name({512, 128, 8}), "pp512+tg128 @ d8");
}

TEST(Bench, EveryDepthRunsEveryTestInLlamaBenchsOrder) {
  const std::vector<TestSpec> tests = expand_tests({512, 0}, {128}, {{64, 16, 0}}, {0, 1024});
  ASSERT_EQ(tests.size(), 6u);
  const std::vector<std::string> expected = {"pp512",         "tg128",         "pp64+tg16",
                                             "pp512 @ d1024", "tg128 @ d1024", "pp64+tg16 @ d1024"};
  for (size_t i = 0; i < tests.size(); ++i) EXPECT_EQ(test_name(tests[i]), expected[i]);
}

// Each repetition starts a fresh sequence, evaluates the depth as one untimed prompt, then the
// test's prompt and generated tokens at the positions after it.
TEST(Bench, DepthIsEvaluatedBeforeEachRepetition) {
  RecordingModel model;
  const TestResult result = run_unwarmed(model, {6, 3, 10}, 2);
  ASSERT_EQ(result.samples_ns.size(), 2u);
  const std::vector<std::vector<int32_t>> one_repetition = {
      range(0, 10), range(10, 6), range(16, 1), range(17, 1), range(18, 1)};
  std::vector<std::vector<int32_t>> expected = one_repetition;
  expected.insert(expected.end(), one_repetition.begin(), one_repetition.end());
  EXPECT_EQ(model.batches, expected);
}

TEST(Bench, WithoutDepthTheSequenceStartsAtZero) {
  RecordingModel model;
  run_unwarmed(model, {0, 2, 0}, 1);
  const std::vector<std::vector<int32_t>> expected = {range(0, 1), range(1, 1)};
  EXPECT_EQ(model.batches, expected);
}

}  // namespace
}  // namespace bottega::bench
