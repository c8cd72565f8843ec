// Continuous batching: many sequences share one model, one KV cache and one thread pool.
//
// Requests queue in submit(); a single scheduler thread loops: drop cancelled sequences, admit
// waiting ones while KV blocks and parallel slots allow, then run one forward pass that packs the
// next token of every decoding sequence together with chunks of waiting prompts, sample, and hand
// each new token to its sequence's handle. The requester (an HTTP handler) reads tokens from the
// handle as they come and may cancel it at any time; its blocks return at the next step.
//
// Memory follows actual lengths: a sequence holds blocks for the positions it has computed plus
// the ones its next chunk needs. When a decoding sequence needs a block and none is free, the most
// recently admitted sequence is preempted: its blocks are released and it goes back to the head of
// the queue, to be recomputed (its tokens so far are its new prompt; cached prefix blocks make that
// cheap). Nothing is ever over-committed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/block_pool.h"
#include "backend/kv_cache.h"
#include "model/model.h"
#include "sampling/sampler.h"

namespace bottega {

struct SchedulerConfig {
  int32_t max_context = 2048;  // positions one sequence may use (prompt + generated)
  int32_t kv_tokens = 8192;    // size of the shared KV pool, in positions (rounded up to blocks)
  int32_t max_running = 16;    // sequences decoding at once
  int32_t max_queue = 64;      // requests waiting for a slot or for memory
  int32_t batch_tokens = 512;  // tokens per forward pass (decode tokens first, then prompt chunks)
  int32_t block_size = 16;
  bool prefix_caching = true;
  KvCacheTypes kv_types;
};

struct GenerationRequest {
  std::vector<int32_t> prompt;  // non-empty, shorter than max_context
  SamplingParams sampling;
  int32_t max_tokens = -1;    // -1: until end of generation or the context is full
  int32_t top_logprobs = -1;  // -1: no log-probabilities; 0: the chosen token's; n: and the top n
  std::vector<int32_t> stop_tokens;  // end generation (the token itself is not emitted)
  // What may be generated (a grammar); none: anything. A sequence it leaves no token for ends
  // with FinishReason::kLength, as the text could not be completed.
  std::shared_ptr<TokenConstraint> constraint;
};

struct GeneratedToken {
  int32_t token = 0;
  float logprob = 0.0f;               // when the request asked for log-probabilities
  std::vector<TokenProbability> top;  // the request's top_logprobs alternatives
};

enum class FinishReason { kNone, kStop, kLength, kCancelled, kShutdown };

// What the requester sees of one sequence. Thread-safe.
class SequenceHandle {
 public:
  // Waits until new tokens arrive or the sequence ends, up to `timeout`; moves the new tokens into
  // `out` (appending). Returns false once the sequence has ended and every token was taken.
  bool wait(std::vector<GeneratedToken>& out, std::chrono::milliseconds timeout);
  // Asks the scheduler to stop this sequence and free its blocks (at its next step, within
  // milliseconds). Idempotent; no effect once the sequence has ended.
  void cancel();
  bool cancelled() const;

  FinishReason finish_reason() const;
  int32_t n_prompt() const { return n_prompt_; }
  // Prompt tokens whose KV came from the prefix cache instead of being computed (the last
  // admission's count).
  int32_t n_cached_prompt() const;

 private:
  friend class Scheduler;
  void push(GeneratedToken token);
  void finish(FinishReason reason);
  void set_cached_prompt(int32_t n);

  int32_t n_prompt_ = 0;
  std::function<void()> wake_scheduler_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<GeneratedToken> pending_;
  FinishReason finish_ = FinishReason::kNone;
  bool cancel_requested_ = false;
  int32_t n_cached_prompt_ = 0;
};

struct SchedulerStats {
  int32_t waiting = 0;
  int32_t running = 0;
  int32_t kv_blocks_total = 0;
  int32_t kv_blocks_in_use = 0;
  int32_t kv_blocks_cached = 0;
  int32_t block_size = 0;
  uint64_t prompt_tokens_computed = 0;  // prompt tokens evaluated (not served from the cache)
  uint64_t prompt_tokens_cached = 0;    // prompt tokens served from the prefix cache
  uint64_t generated_tokens = 0;
  uint64_t preemptions = 0;
  uint64_t forward_passes = 0;
};

// Thrown by submit() when the queue is full (the server answers 429).
class QueueFullError : public Error {
 public:
  using Error::Error;
};

// Thrown by submit() once shutdown() has begun (the server answers 503).
class ShuttingDownError : public Error {
 public:
  using Error::Error;
};

class Scheduler {
 public:
  // The model and pool must outlive the scheduler. Throws Error for a configuration that cannot
  // work (a KV pool smaller than one full context).
  Scheduler(Model& model, ThreadPool& pool, SchedulerConfig config);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  const SchedulerConfig& config() const { return config_; }
  const ModelInfo& model_info() const { return model_.info(); }

  // Queues a request. Throws Error for an invalid one (empty prompt, too long, a token id outside
  // the vocabulary, bad sampling parameters), QueueFullError when max_queue requests already wait
  // and ShuttingDownError after shutdown() began.
  std::shared_ptr<SequenceHandle> submit(GenerationRequest request);

  // Stops admitting (later submits throw ShuttingDownError), lets queued and running sequences
  // finish for up to `grace`, then cancels the rest (their handles finish with kShutdown) and joins
  // the scheduler thread. The destructor calls it with no grace.
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  SchedulerStats stats() const;

 private:
  struct Sequence;

  void loop();
  void drop_cancelled();
  void admit();
  bool step();
  bool reserve_decode_blocks();
  void preempt_last();
  void release_blocks(Sequence& seq);
  void publish_full_blocks(Sequence& seq);
  void finish(Sequence& seq, FinishReason reason);

  Model& model_;
  ThreadPool& pool_;
  SchedulerConfig config_;
  KvCache cache_;
  BlockPool blocks_;

  mutable std::mutex mutex_;  // guards waiting_, stopping_, stats_ and the block pool counters
  std::condition_variable work_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;  // owned by the scheduler thread
  bool draining_ = false;                           // shutdown began: no more submits
  bool stopping_ = false;                           // the loop must end now
  SchedulerStats stats_;

  std::vector<float> logits_;
  std::thread thread_;
};

}  // namespace bottega
