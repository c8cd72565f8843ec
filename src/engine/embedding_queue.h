// Batching of embedding requests: callers on any thread submit their inputs; one worker thread
// takes every request waiting (up to a token budget per forward pass) and runs them through the
// encoder together, so concurrent requests share forward passes instead of queueing behind a lock.
// Results are what each request would get alone (Encoder::embed is batch-invariant).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "core/thread_pool.h"
#include "engine/scheduler.h"
#include "model/encoder.h"

namespace bottega {

struct EmbeddingQueueConfig {
  int64_t batch_tokens = 2048;  // tokens per forward pass; one request larger than this runs alone
  int max_queue = 64;           // requests waiting beyond this are refused (QueueFullError)
  EmbedOptions options;         // pooling and normalisation of every request
};

struct EmbeddingQueueStats {
  uint64_t batches = 0;   // forward passes started
  uint64_t requests = 0;  // requests taken into them (answered, or about to be)
  uint64_t tokens = 0;
  int queued = 0;
};

class EmbeddingQueue {
 public:
  // The encoder and pool must outlive the queue; the pool is the worker's alone.
  EmbeddingQueue(const Encoder& encoder, ThreadPool& pool, EmbeddingQueueConfig config);
  ~EmbeddingQueue();
  EmbeddingQueue(const EmbeddingQueue&) = delete;
  EmbeddingQueue& operator=(const EmbeddingQueue&) = delete;

  // Queues one request (its inputs stay together in one forward pass) and returns its embeddings,
  // one per input, when ready. Throws Error at once for an input the encoder cannot read (empty,
  // too long, an id outside the vocabulary), QueueFullError when max_queue requests wait, and
  // ShuttingDownError after shutdown(); the future carries any error of the forward pass.
  std::future<std::vector<std::vector<float>>> submit(std::vector<std::vector<int32_t>> inputs);

  // Refuses new requests, answers the queued ones, and stops the worker. Idempotent; call it from
  // one thread at a time.
  void shutdown();
  EmbeddingQueueStats stats() const;
  const Encoder& encoder() const { return encoder_; }

 private:
  struct Request {
    std::vector<std::vector<int32_t>> inputs;
    int64_t tokens = 0;
    std::promise<std::vector<std::vector<float>>> result;
  };
  void run();
  // The requests of the next forward pass: the oldest, then more while they fit the budget.
  std::vector<Request> take_batch(std::unique_lock<std::mutex>& lock);
  void answer(std::vector<Request>& batch);

  const Encoder& encoder_;
  ThreadPool& pool_;
  EmbeddingQueueConfig config_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> waiting_;
  bool stopping_ = false;
  EmbeddingQueueStats stats_;
  std::thread worker_;  // last: starts once everything above exists
};

}  // namespace bottega
