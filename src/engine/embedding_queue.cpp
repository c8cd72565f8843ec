#include "engine/embedding_queue.h"

#include <exception>
#include <utility>

#include "core/error.h"

namespace bottega {

EmbeddingQueue::EmbeddingQueue(const Encoder& encoder, ThreadPool& pool,
                               EmbeddingQueueConfig config)
    : encoder_(encoder), pool_(pool), config_(std::move(config)), worker_([this] { run(); }) {}

EmbeddingQueue::~EmbeddingQueue() {
  shutdown();
}

std::future<std::vector<std::vector<float>>> EmbeddingQueue::submit(
    std::vector<std::vector<int32_t>> inputs) {
  if (inputs.empty()) throw Error("there are no inputs to embed");
  encoder_.check_inputs(inputs);
  Request request;
  for (const auto& input : inputs) request.tokens += static_cast<int64_t>(input.size());
  request.inputs = std::move(inputs);
  auto future = request.result.get_future();
  {
    const std::lock_guard lock(mutex_);
    if (stopping_) throw ShuttingDownError("the server is shutting down");
    if (static_cast<int>(waiting_.size()) >= config_.max_queue) {
      throw QueueFullError(str(waiting_.size(), " embedding requests are already waiting"));
    }
    waiting_.push_back(std::move(request));
  }
  wake_.notify_one();
  return future;
}

void EmbeddingQueue::shutdown() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

EmbeddingQueueStats EmbeddingQueue::stats() const {
  const std::lock_guard lock(mutex_);
  EmbeddingQueueStats out = stats_;
  out.queued = static_cast<int>(waiting_.size());
  return out;
}

std::vector<EmbeddingQueue::Request> EmbeddingQueue::take_batch(std::unique_lock<std::mutex>&) {
  std::vector<Request> batch;
  int64_t tokens = 0;
  while (!waiting_.empty() &&
         (batch.empty() || tokens + waiting_.front().tokens <= config_.batch_tokens)) {
    tokens += waiting_.front().tokens;
    batch.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return batch;
}

void EmbeddingQueue::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
    if (waiting_.empty()) return;  // stopping, and every queued request was answered
    std::vector<Request> batch = take_batch(lock);
    // Counted before anyone is answered, so that a caller holding its result sees it counted.
    stats_.batches += 1;
    stats_.requests += batch.size();
    for (const Request& r : batch) stats_.tokens += static_cast<uint64_t>(r.tokens);
    lock.unlock();
    answer(batch);
    lock.lock();
  }
}

// One forward pass over every input of the batch; each request gets its own slice back. Should
// the pass fail, each request runs alone, so that one request's error is not another's.
void EmbeddingQueue::answer(std::vector<Request>& batch) {
  std::vector<std::vector<int32_t>> inputs;
  for (const Request& r : batch) inputs.insert(inputs.end(), r.inputs.begin(), r.inputs.end());
  try {
    std::vector<std::vector<float>> all = encoder_.embed(inputs, config_.options, pool_);
    size_t next = 0;
    for (Request& r : batch) {
      std::vector<std::vector<float>> mine;
      for (size_t i = 0; i < r.inputs.size(); ++i) mine.push_back(std::move(all[next++]));
      r.result.set_value(std::move(mine));
    }
    return;
  } catch (...) {
    if (batch.size() == 1) {
      batch.front().result.set_exception(std::current_exception());
      return;
    }
  }
  for (Request& r : batch) {
    try {
      r.result.set_value(encoder_.embed(r.inputs, config_.options, pool_));
    } catch (...) {
      r.result.set_exception(std::current_exception());
    }
  }
}

}  // namespace bottega
