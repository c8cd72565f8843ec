// EmbeddingQueue: concurrent requests are answered with what each gets alone, requests waiting
// together share forward passes up to the token budget, and bad or untimely submissions fail at
// once with the error the server maps to 400, 429 or 503.
#include "engine/embedding_queue.h"

#include <gtest/gtest.h>

#include <thread>

#include "convert/synth.h"
#include "testutil/testutil.h"

namespace bottega {
namespace {

using Inputs = std::vector<std::vector<int32_t>>;

std::filesystem::path write_bert(const testing::TempDir& dir) {
  convert::SynthOptions options;
  options.arch = "bert";
  options.dim = 256;
  options.layers = 2;
  options.heads = 4;
  options.ffn = 512;
  options.ctx = 64;
  options.type = "Q8_0";
  options.vocab_from = testing::shared_file("vocab/ggml-vocab-bert-bge.gguf");
  options.out = dir / "bert.gguf";
  ThreadPool pool(2);
  convert::synth_model(options, pool);
  return options.out;
}

// Request r: 1 + r % 3 inputs of 8 + (r * 7) % 50 tokens.
Inputs request(int r) {
  Inputs inputs;
  for (int i = 0; i <= r % 3; ++i) {
    std::vector<int32_t> ids = {101};
    for (int t = 0; t < 6 + (r * 7 + i) % 50; ++t) ids.push_back(1000 + (r * 31 + t * 17) % 20000);
    ids.push_back(102);
    inputs.push_back(ids);
  }
  return inputs;
}

TEST(EmbeddingQueue, ConcurrentRequestsShareBatchesAndEqualLoneResults) {
  const testing::TempDir dir;
  const Encoder encoder(gguf::File::open(write_bert(dir)));
  ThreadPool worker_pool(2), alone_pool(1);
  EmbeddingQueue queue(encoder, worker_pool, {});
  constexpr int kRequests = 32;
  std::vector<std::future<std::vector<std::vector<float>>>> futures;
  for (int r = 0; r < kRequests; ++r) futures.push_back(queue.submit(request(r)));
  for (int r = 0; r < kRequests; ++r) {
    EXPECT_EQ(futures[static_cast<size_t>(r)].get(), encoder.embed(request(r), {}, alone_pool))
        << "request " << r;
  }
  const EmbeddingQueueStats stats = queue.stats();
  EXPECT_EQ(stats.requests, static_cast<uint64_t>(kRequests));
  // Submitting takes microseconds and a forward pass milliseconds: the requests that arrive while
  // one pass runs go together into the next.
  EXPECT_LT(stats.batches, static_cast<uint64_t>(kRequests / 2));
  std::printf("%d requests in %llu forward passes\n", kRequests,
              static_cast<unsigned long long>(stats.batches));
}

TEST(EmbeddingQueue, SubmittersOnManyThreadsGetTheirOwnResults) {
  const testing::TempDir dir;
  const Encoder encoder(gguf::File::open(write_bert(dir)));
  ThreadPool worker_pool(2);
  EmbeddingQueue queue(encoder, worker_pool, {});
  std::vector<std::vector<std::vector<float>>> results(16);
  std::vector<std::thread> threads;
  for (int r = 0; r < 16; ++r) {
    threads.emplace_back(
        [&, r] { results[static_cast<size_t>(r)] = queue.submit(request(r)).get(); });
  }
  for (auto& t : threads) t.join();
  ThreadPool alone_pool(1);
  for (int r = 0; r < 16; ++r) {
    EXPECT_EQ(results[static_cast<size_t>(r)], encoder.embed(request(r), {}, alone_pool));
  }
}

TEST(EmbeddingQueue, TokenBudgetSplitsBatches) {
  const testing::TempDir dir;
  const Encoder encoder(gguf::File::open(write_bert(dir)));
  ThreadPool worker_pool(1);
  EmbeddingQueueConfig config;
  config.batch_tokens = 15;  // two requests of 8 tokens never fit together
  EmbeddingQueue queue(encoder, worker_pool, config);
  const Inputs eight = {std::vector<int32_t>(8, 1000)};
  const Inputs large = {std::vector<int32_t>(40, 1000)};  // beyond the budget: runs alone
  std::vector<std::future<std::vector<std::vector<float>>>> futures;
  for (int r = 0; r < 6; ++r) futures.push_back(queue.submit(r == 3 ? large : eight));
  for (auto& f : futures) EXPECT_EQ(f.get().size(), 1u);
  EXPECT_EQ(queue.stats().batches, 6u);
}

TEST(EmbeddingQueue, RefusesBadFullAndLateSubmissions) {
  const testing::TempDir dir;
  const Encoder encoder(gguf::File::open(write_bert(dir)));
  ThreadPool worker_pool(1);
  EmbeddingQueueConfig config;
  config.max_queue = 0;
  EmbeddingQueue full(encoder, worker_pool, config);
  EXPECT_THROW(full.submit({{101, 102}}), QueueFullError);
  ThreadPool other_pool(1);
  EmbeddingQueue queue(encoder, other_pool, {});
  EXPECT_THROW(queue.submit({}), Error);
  EXPECT_THROW(queue.submit({{101}, {}}), Error);
  EXPECT_THROW(queue.submit({std::vector<int32_t>(65, 1000)}), Error);
  EXPECT_THROW(queue.submit({{101, 40000}}), Error);
  auto pending = queue.submit({{101, 102}});
  queue.shutdown();  // answers what was queued
  EXPECT_EQ(pending.get().size(), 1u);
  EXPECT_THROW(queue.submit({{101, 102}}), ShuttingDownError);
}

}  // namespace
}  // namespace bottega
