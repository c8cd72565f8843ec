// The continuous-batching scheduler on the shared aidreams260K model: every request served among
// others yields what it yields alone, memory is shared and returned, limits hold.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <thread>

#include "engine/session.h"
#include "gguf/gguf.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace bottega {
namespace {

using namespace std::chrono_literals;

struct SharedModel {
  SharedModel()
      : file(gguf::File::open(testing::shared_file("models/aidreams260K.gguf"))),
        tokenizer(tokenizer::load_tokenizer(file)),
        model(load_model(gguf::File::open(testing::shared_file("models/aidreams260K.gguf")))) {}
  gguf::File file;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<Model> model;
  ThreadPool pool{2};        // the scheduler's
  ThreadPool alone_pool{2};  // the reference runs', which happen while a scheduler is busy
};

SharedModel& shared() {
  static SharedModel instance;
  return instance;
}

SamplingParams greedy() {
  SamplingParams params;
  params.temperature = 0.0f;
  return params;
}

// The same request evaluated by itself in a Session: the reference every scheduled run must equal.
std::vector<int32_t> generate_alone(const std::vector<int32_t>& prompt, int32_t max_tokens,
                                    const SamplingParams& params) {
  SharedModel& m = shared();
  Session session(*m.model, 128, m.alone_pool);
  Sampler sampler(params, m.tokenizer->n_vocab());
  for (int32_t t : prompt) sampler.accept(t);
  std::span<const float> logits = session.eval(prompt);
  std::vector<int32_t> out;
  while (static_cast<int32_t>(out.size()) < max_tokens && session.n_past() < 128) {
    const int32_t token = sampler.sample(logits);
    sampler.accept(token);
    if (m.tokenizer->is_eog(token)) break;
    out.push_back(token);
    if (session.n_past() >= 128) break;
    logits = session.eval(std::span<const int32_t>(&token, 1));
  }
  return out;
}

std::vector<int32_t> collect(SequenceHandle& handle) {
  std::vector<GeneratedToken> tokens;
  while (handle.wait(tokens, 10s)) {
  }
  std::vector<int32_t> ids;
  for (const auto& t : tokens) ids.push_back(t.token);
  return ids;
}

GenerationRequest request_for(const std::string& text, int32_t max_tokens,
                              SamplingParams params = greedy()) {
  GenerationRequest request;
  request.prompt = shared().tokenizer->encode(text, true, false);
  request.sampling = params;
  request.max_tokens = max_tokens;
  request.stop_tokens = shared().tokenizer->vocab().eog;
  return request;
}

const std::vector<std::string> kPrompts = {
    "Once upon a time",
    "The machine",
    "In the garden there was a little",
    "She looked at the sky",
    "A dog and a cat went",
    "Tom was very",
    "The sun",
    "They played together in the park and",
};

SchedulerConfig config(int32_t max_running, int32_t kv_tokens) {
  SchedulerConfig c;
  c.max_context = 128;
  c.kv_tokens = kv_tokens;
  c.max_running = max_running;
  c.batch_tokens = 24;  // several prompts need more than one pass
  return c;
}

TEST(Scheduler, ConcurrentRequestsEqualEachServedAlone) {
  SharedModel& m = shared();
  Scheduler scheduler(*m.model, m.pool, config(8, 1024));
  std::vector<std::shared_ptr<SequenceHandle>> handles;
  for (const auto& prompt : kPrompts) handles.push_back(scheduler.submit(request_for(prompt, 40)));
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    const auto request = request_for(kPrompts[i], 40);
    EXPECT_EQ(collect(*handles[i]), generate_alone(request.prompt, 40, greedy())) << kPrompts[i];
    EXPECT_NE(handles[i]->finish_reason(), FinishReason::kNone);
  }
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.running, 0);
  EXPECT_EQ(stats.kv_blocks_in_use, 0);
  // Batching happened: far fewer forward passes than tokens.
  EXPECT_LT(stats.forward_passes, stats.generated_tokens / 2);
}

TEST(Scheduler, SeededSamplingIsReproducibleUnderBatching) {
  SharedModel& m = shared();
  SamplingParams params;
  params.temperature = 0.9f;
  params.seed = 1234;
  Scheduler scheduler(*m.model, m.pool, config(4, 1024));
  std::vector<std::shared_ptr<SequenceHandle>> handles;
  for (int i = 0; i < 4; ++i)
    handles.push_back(scheduler.submit(request_for(kPrompts[i], 30, params)));
  for (int i = 0; i < 4; ++i) {
    const auto request = request_for(kPrompts[static_cast<size_t>(i)], 30, params);
    EXPECT_EQ(collect(*handles[static_cast<size_t>(i)]),
              generate_alone(request.prompt, 30, params));
  }
}

TEST(Scheduler, MaxTokensAndEndOfGenerationSetTheFinishReason) {
  SharedModel& m = shared();
  Scheduler scheduler(*m.model, m.pool, config(2, 512));
  auto handle = scheduler.submit(request_for("Once upon a time", 5));
  EXPECT_EQ(collect(*handle).size(), 5u);
  EXPECT_EQ(handle->finish_reason(), FinishReason::kLength);

  // Stopping on a token the greedy run produces first ends with kStop and never emits it.
  const auto alone = generate_alone(request_for("The machine", 10).prompt, 10, greedy());
  auto request = request_for("The machine", 10);
  request.stop_tokens = {alone[3]};
  auto stopped = scheduler.submit(request);
  const auto out = collect(*stopped);
  EXPECT_EQ(stopped->finish_reason(), FinishReason::kStop);
  const auto first = std::find(alone.begin(), alone.end(), alone[3]);
  EXPECT_EQ(out, std::vector<int32_t>(alone.begin(), first));
}

TEST(Scheduler, IdenticalPrefixesShareCachedBlocks) {
  SharedModel& m = shared();
  Scheduler scheduler(*m.model, m.pool, config(4, 1024));
  const std::string system =
      "You are a helpful storyteller. Tell short stories about animals and children. ";
  auto first_request = request_for(system + "Once upon a time", 8);
  ASSERT_GE(first_request.prompt.size(), 33u);
  auto first = scheduler.submit(first_request);
  const auto first_out = collect(*first);
  EXPECT_EQ(first->n_cached_prompt(), 0);

  auto second_request = request_for(system + "The machine", 8);
  auto second = scheduler.submit(second_request);
  const auto second_out = collect(*second);
  size_t common = 0;
  while (first_request.prompt[common] == second_request.prompt[common]) ++common;
  EXPECT_EQ(second->n_cached_prompt(), static_cast<int32_t>(common / 16 * 16));
  EXPECT_GE(second->n_cached_prompt(), 16);
  EXPECT_EQ(second_out, generate_alone(second_request.prompt, 8, greedy()));
  EXPECT_GT(scheduler.stats().prompt_tokens_cached, 0u);
}

TEST(Scheduler, PreemptsWhenBlocksRunOutAndStillFinishesEveryone) {
  SharedModel& m = shared();
  // 8 blocks of 16 = one full context: three long generations cannot all fit at once.
  Scheduler scheduler(*m.model, m.pool, config(3, 128));
  std::vector<std::shared_ptr<SequenceHandle>> handles;
  for (int i = 0; i < 3; ++i)
    handles.push_back(scheduler.submit(request_for(kPrompts[static_cast<size_t>(i)], 60)));
  for (int i = 0; i < 3; ++i) {
    const auto request = request_for(kPrompts[static_cast<size_t>(i)], 60);
    EXPECT_EQ(collect(*handles[static_cast<size_t>(i)]),
              generate_alone(request.prompt, 60, greedy()));
  }
  const SchedulerStats stats = scheduler.stats();
  EXPECT_GT(stats.preemptions, 0u);
  EXPECT_EQ(stats.kv_blocks_in_use, 0);
}

TEST(Scheduler, CancellingFreesTheBlocksAtOnce) {
  SharedModel& m = shared();
  Scheduler scheduler(*m.model, m.pool, config(2, 512));
  auto handle = scheduler.submit(request_for("Once upon a time", -1));
  std::vector<GeneratedToken> tokens;
  while (tokens.empty()) handle->wait(tokens, 1s);
  EXPECT_GT(scheduler.stats().kv_blocks_in_use, 0);
  handle->cancel();
  while (handle->wait(tokens, 1s)) {
  }
  EXPECT_EQ(handle->finish_reason(), FinishReason::kCancelled);
  for (int i = 0; i < 100 && scheduler.stats().running > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(scheduler.stats().running, 0);
  EXPECT_EQ(scheduler.stats().kv_blocks_in_use, 0);
}

TEST(Scheduler, AFullQueueRejectsAndShutdownEndsEveryone) {
  SharedModel& m = shared();
  SchedulerConfig c = config(1, 512);
  c.max_queue = 1;
  Scheduler scheduler(*m.model, m.pool, c);
  auto running = scheduler.submit(request_for("Once upon a time", -1));
  for (int i = 0; i < 500 && scheduler.stats().running == 0; ++i) std::this_thread::sleep_for(2ms);
  ASSERT_EQ(scheduler.stats().running, 1);
  auto queued = scheduler.submit(request_for("The machine", 4));
  EXPECT_THROW(scheduler.submit(request_for("The sun", 4)), QueueFullError);

  scheduler.shutdown();
  EXPECT_EQ(running->finish_reason(), FinishReason::kShutdown);
  EXPECT_EQ(queued->finish_reason(), FinishReason::kShutdown);
  EXPECT_THROW(scheduler.submit(request_for("The sun", 4)), ShuttingDownError);
}

TEST(Scheduler, RejectsRequestsThatCannotRun) {
  SharedModel& m = shared();
  Scheduler scheduler(*m.model, m.pool, config(1, 256));
  GenerationRequest empty;
  EXPECT_THROW(scheduler.submit(empty), Error);
  GenerationRequest too_long;
  too_long.prompt.assign(128, 5);
  EXPECT_THROW(scheduler.submit(too_long), Error);
  GenerationRequest bad_token;
  bad_token.prompt = {1, 512};
  EXPECT_THROW(scheduler.submit(bad_token), Error);
  GenerationRequest bad_sampling = request_for("x", 4);
  bad_sampling.sampling.top_p = 2.0f;
  EXPECT_THROW(scheduler.submit(bad_sampling), Error);
}

}  // namespace
}  // namespace bottega
