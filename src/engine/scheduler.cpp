#include "engine/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace bottega {

// ---- SequenceHandle ----

bool SequenceHandle::wait(std::vector<GeneratedToken>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout,
                    [&] { return !pending_.empty() || finish_ != FinishReason::kNone; });
  for (auto& token : pending_) out.push_back(std::move(token));
  pending_.clear();
  return finish_ == FinishReason::kNone;
}

void SequenceHandle::cancel() {
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex_);
    if (cancel_requested_ || finish_ != FinishReason::kNone) return;
    cancel_requested_ = true;
    wake = wake_scheduler_;
  }
  if (wake) wake();
}

bool SequenceHandle::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancel_requested_;
}

FinishReason SequenceHandle::finish_reason() const {
  std::lock_guard lock(mutex_);
  return finish_;
}

int32_t SequenceHandle::n_cached_prompt() const {
  std::lock_guard lock(mutex_);
  return n_cached_prompt_;
}

void SequenceHandle::push(GeneratedToken token) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(token));
  }
  changed_.notify_all();
}

void SequenceHandle::finish(FinishReason reason) {
  {
    std::lock_guard lock(mutex_);
    if (finish_ != FinishReason::kNone) return;
    finish_ =
        cancel_requested_ && reason != FinishReason::kShutdown ? FinishReason::kCancelled : reason;
    wake_scheduler_ = nullptr;  // the scheduler may be gone before this handle
  }
  changed_.notify_all();
}

void SequenceHandle::set_cached_prompt(int32_t n) {
  std::lock_guard lock(mutex_);
  n_cached_prompt_ = n;
}

// ---- Scheduler ----

struct Scheduler::Sequence {
  Sequence(GenerationRequest request, int32_t n_vocab)
      : tokens(std::move(request.prompt)),
        sampler(request.sampling, n_vocab),
        max_tokens(request.max_tokens),
        top_logprobs(request.top_logprobs),
        stop_tokens(std::move(request.stop_tokens)),
        constraint(std::move(request.constraint)) {
    for (int32_t token : tokens) sampler.accept(token);
  }

  // The next token, or none when the constraint leaves none (or cannot be followed: a grammar
  // too ambiguous); the sequence then ends with what it has.
  std::optional<int32_t> next_token(std::span<const float> logits) {
    if (!constraint) return sampler.sample(logits);
    try {
      const std::optional<int32_t> token = sampler.sample(logits, *constraint);
      if (token) constraint->accept(*token);
      return token;
    } catch (const Error&) {
      return std::nullopt;
    }
  }

  // Tokens still to evaluate; the last of them produces the logits of the next token.
  int32_t pending() const { return static_cast<int32_t>(tokens.size()) - n_computed; }

  std::shared_ptr<SequenceHandle> handle;
  std::vector<int32_t> tokens;  // the prompt, then every generated token
  int32_t n_computed = 0;       // positions whose keys and values are in the cache
  int32_t n_published = 0;      // leading blocks offered to the prefix cache
  std::vector<int32_t> blocks;  // block table
  Sampler sampler;
  int32_t n_generated = 0;
  int32_t max_tokens;
  int32_t top_logprobs;
  std::vector<int32_t> stop_tokens;
  std::shared_ptr<TokenConstraint> constraint;
};

namespace {
int32_t blocks_for(int64_t positions, int32_t block_size) {
  return static_cast<int32_t>((positions + block_size - 1) / block_size);
}
}  // namespace

Scheduler::Scheduler(Model& model, ThreadPool& pool, SchedulerConfig config)
    : model_(model),
      pool_(pool),
      config_(config),
      cache_(model.info().n_layer, model.info().n_kv_dim(),
             blocks_for(std::max(config.kv_tokens, config.max_context), config.block_size),
             config.block_size, config.kv_types, static_cast<int>(model.info().n_head_kv)),
      blocks_(cache_.n_blocks(), config.block_size) {
  if (config_.max_context < 2) throw Error("the context must hold at least 2 tokens");
  if (config_.max_running < 1) throw Error("--parallel must be at least 1");
  if (config_.max_queue < 0) throw Error("--max-queue must not be negative");
  if (config_.batch_tokens < config_.max_running) {
    config_.batch_tokens = config_.max_running;  // every running sequence decodes each step
  }
  stats_.kv_blocks_total = blocks_.n_blocks();
  stats_.block_size = config_.block_size;
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  shutdown();
}

std::shared_ptr<SequenceHandle> Scheduler::submit(GenerationRequest request) {
  const auto n_prompt = static_cast<int64_t>(request.prompt.size());
  if (n_prompt == 0) throw Error("the prompt is empty");
  if (n_prompt >= config_.max_context) {
    throw Error(str("the prompt is ", n_prompt, " tokens but the context holds ",
                    config_.max_context, " (including at least one generated token)"));
  }
  const int64_t n_vocab = model_.info().n_vocab;
  for (int32_t token : request.prompt) {
    if (token < 0 || token >= n_vocab) {
      throw Error(str("token id ", token, " is outside the vocabulary (0..", n_vocab - 1, ")"));
    }
  }
  auto seq = std::make_unique<Sequence>(std::move(request), static_cast<int32_t>(n_vocab));
  auto handle = std::make_shared<SequenceHandle>();
  handle->n_prompt_ = static_cast<int32_t>(n_prompt);
  handle->wake_scheduler_ = [this] { work_.notify_one(); };
  seq->handle = handle;
  {
    std::lock_guard lock(mutex_);
    if (draining_) throw ShuttingDownError("the server is shutting down");
    // Requests about to take a free slot do not count against the queue.
    const int32_t free_slots = std::max(0, config_.max_running - stats_.running);
    if (static_cast<int32_t>(waiting_.size()) >= config_.max_queue + free_slots) {
      throw QueueFullError(
          str("too many requests: ", waiting_.size(), " are already waiting; retry later"));
    }
    waiting_.push_back(std::move(seq));
    stats_.waiting = static_cast<int32_t>(waiting_.size());
  }
  work_.notify_one();
  return handle;
}

void Scheduler::shutdown(std::chrono::milliseconds grace) {
  {
    std::unique_lock lock(mutex_);
    draining_ = true;
    const auto deadline = std::chrono::steady_clock::now() + grace;
    work_.wait_until(lock, deadline, [&] { return waiting_.empty() && stats_.running == 0; });
    stopping_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Scheduler::loop() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      work_.wait_for(lock, std::chrono::milliseconds(100),
                     [&] { return stopping_ || !waiting_.empty() || !running_.empty(); });
      if (stopping_) break;
    }
    drop_cancelled();
    admit();
    if (!step()) {
      std::unique_lock lock(mutex_);
      work_.wait_for(lock, std::chrono::milliseconds(5));
    }
  }
  std::deque<std::unique_ptr<Sequence>> waiting;
  {
    std::lock_guard lock(mutex_);
    waiting.swap(waiting_);
  }
  for (auto& seq : waiting) seq->handle->finish(FinishReason::kShutdown);
  for (auto& seq : running_) finish(*seq, FinishReason::kShutdown);
  running_.clear();
}

void Scheduler::drop_cancelled() {
  for (auto& seq : running_) {
    if (seq->handle->cancelled()) finish(*seq, FinishReason::kCancelled);
  }
  std::erase_if(running_, [](const auto& seq) {
    return seq->handle->finish_reason() != FinishReason::kNone;
  });
  std::lock_guard lock(mutex_);
  std::erase_if(waiting_, [](const auto& seq) {
    if (!seq->handle->cancelled()) return false;
    seq->handle->finish(FinishReason::kCancelled);
    return true;
  });
}

void Scheduler::admit() {
  std::lock_guard lock(mutex_);
  while (!waiting_.empty() && static_cast<int32_t>(running_.size()) < config_.max_running) {
    Sequence& seq = *waiting_.front();
    // Keep at least the last token to compute: its logits start the generation.
    std::span<const int32_t> reusable(seq.tokens.data(), seq.tokens.size() - 1);
    std::vector<int32_t> matched;
    if (config_.prefix_caching) matched = blocks_.match_prefix(reusable);
    const int32_t needed = blocks_for(static_cast<int64_t>(seq.tokens.size()), config_.block_size) -
                           static_cast<int32_t>(matched.size());
    if (needed > blocks_.n_available()) {
      for (int32_t block : matched) blocks_.release(block);
      break;  // first come, first served: later requests wait behind this one
    }
    seq.blocks = std::move(matched);
    seq.n_computed = static_cast<int32_t>(seq.blocks.size()) * config_.block_size;
    seq.n_published = static_cast<int32_t>(seq.blocks.size());
    stats_.prompt_tokens_cached += static_cast<uint64_t>(seq.n_computed);
    seq.handle->set_cached_prompt(seq.n_computed);
    for (int32_t i = 0; i < needed; ++i) seq.blocks.push_back(*blocks_.allocate());
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  stats_.waiting = static_cast<int32_t>(waiting_.size());
  stats_.running = static_cast<int32_t>(running_.size());
  stats_.kv_blocks_in_use = blocks_.n_in_use();
  stats_.kv_blocks_cached = blocks_.n_cached();
}

bool Scheduler::reserve_decode_blocks() {
  for (size_t i = 0; i < running_.size(); ++i) {
    Sequence& seq = *running_[i];
    if (seq.pending() != 1) continue;
    const int32_t needed = blocks_for(seq.n_computed + 1, config_.block_size);
    while (static_cast<int32_t>(seq.blocks.size()) < needed) {
      if (auto block = blocks_.allocate()) {
        seq.blocks.push_back(*block);
        continue;
      }
      const bool preempting_self = i + 1 == running_.size();
      preempt_last();
      if (preempting_self) return true;
    }
  }
  return true;
}

void Scheduler::preempt_last() {
  std::unique_ptr<Sequence> seq = std::move(running_.back());
  running_.pop_back();
  release_blocks(*seq);
  seq->n_computed = 0;
  seq->n_published = 0;
  std::lock_guard lock(mutex_);
  ++stats_.preemptions;
  waiting_.push_front(std::move(seq));
}

void Scheduler::release_blocks(Sequence& seq) {
  // Release the tail first, so the blocks a later prompt could share stay cached longest.
  for (auto it = seq.blocks.rbegin(); it != seq.blocks.rend(); ++it) blocks_.release(*it);
  seq.blocks.clear();
}

void Scheduler::publish_full_blocks(Sequence& seq) {
  if (!config_.prefix_caching) return;
  const int32_t full = seq.n_computed / config_.block_size;
  for (; seq.n_published < full; ++seq.n_published) {
    const auto i = static_cast<size_t>(seq.n_published);
    const int32_t previous = i == 0 ? -1 : seq.blocks[i - 1];
    blocks_.publish(seq.blocks[i], previous,
                    std::span<const int32_t>(seq.tokens)
                        .subspan(i * static_cast<size_t>(config_.block_size),
                                 static_cast<size_t>(config_.block_size)));
  }
}

void Scheduler::finish(Sequence& seq, FinishReason reason) {
  release_blocks(seq);
  {
    // Before the client wakes: whoever reads the stats after a finish sees the blocks returned.
    // The end of the step recounts exactly; until then one fewer is running.
    std::lock_guard lock(mutex_);
    stats_.running = std::max(0, stats_.running - 1);
    stats_.kv_blocks_in_use = blocks_.n_in_use();
    stats_.kv_blocks_cached = blocks_.n_cached();
  }
  seq.handle->finish(reason);
}

bool Scheduler::step() {
  if (running_.empty()) return false;
  reserve_decode_blocks();
  if (running_.empty()) return false;

  // Decode tokens first: one per decoding sequence, then prompt chunks in admission order.
  std::vector<BatchToken> batch;
  std::vector<std::span<const int32_t>> tables;
  std::vector<Sequence*> with_logits;
  std::vector<std::pair<Sequence*, int32_t>> advanced;  // sequence, tokens evaluated this step
  int32_t budget = config_.batch_tokens;
  auto add = [&](Sequence& seq, int32_t n) {
    const auto index = static_cast<int32_t>(tables.size());
    tables.emplace_back(seq.blocks);
    const bool completes = n == seq.pending();
    for (int32_t j = 0; j < n; ++j) {
      const int32_t pos = seq.n_computed + j;
      batch.push_back({seq.tokens[static_cast<size_t>(pos)], pos, index, completes && j == n - 1});
    }
    if (completes) with_logits.push_back(&seq);
    advanced.emplace_back(&seq, n);
    budget -= n;
  };
  for (auto& seq : running_) {
    if (seq->pending() == 1) add(*seq, 1);
  }
  for (auto& seq : running_) {
    if (seq->pending() > 1 && budget > 0) add(*seq, std::min(seq->pending(), budget));
  }
  if (batch.empty()) return false;

  logits_.resize(with_logits.size() * static_cast<size_t>(model_.info().n_vocab));
  model_.forward(batch, tables, cache_, logits_, pool_);

  uint64_t computed_prompt = 0;
  for (auto& [seq, n] : advanced) {
    const int32_t n_prompt = seq->handle->n_prompt();
    computed_prompt += static_cast<uint64_t>(
        std::max(0, std::min(seq->n_computed + n, n_prompt) - seq->n_computed));
    seq->n_computed += n;
    publish_full_blocks(*seq);
  }

  const auto n_vocab = static_cast<size_t>(model_.info().n_vocab);
  uint64_t generated = 0;
  for (size_t r = 0; r < with_logits.size(); ++r) {
    Sequence& seq = *with_logits[r];
    const std::span<const float> row(logits_.data() + r * n_vocab, n_vocab);
    const std::optional<int32_t> sampled = seq.next_token(row);
    if (!sampled) {
      finish(seq, FinishReason::kLength);
      continue;
    }
    const int32_t token = *sampled;
    seq.sampler.accept(token);
    if (std::find(seq.stop_tokens.begin(), seq.stop_tokens.end(), token) != seq.stop_tokens.end()) {
      finish(seq, FinishReason::kStop);
      continue;
    }
    GeneratedToken out{token, 0.0f, {}};
    if (seq.top_logprobs >= 0) {
      out.logprob = Sampler::logprob(row, token);
      if (seq.top_logprobs > 0) out.top = Sampler::top_logprobs(row, seq.top_logprobs);
    }
    seq.tokens.push_back(token);
    ++seq.n_generated;
    ++generated;
    seq.handle->push(std::move(out));
    if ((seq.max_tokens >= 0 && seq.n_generated >= seq.max_tokens) ||
        static_cast<int32_t>(seq.tokens.size()) >= config_.max_context) {
      finish(seq, FinishReason::kLength);
    }
  }
  std::erase_if(running_, [](const auto& seq) {
    return seq->handle->finish_reason() != FinishReason::kNone;
  });

  std::lock_guard lock(mutex_);
  stats_.prompt_tokens_computed += computed_prompt;
  stats_.generated_tokens += generated;
  ++stats_.forward_passes;
  stats_.running = static_cast<int32_t>(running_.size());
  stats_.kv_blocks_in_use = blocks_.n_in_use();
  stats_.kv_blocks_cached = blocks_.n_cached();
  work_.notify_all();  // shutdown() may be waiting for the last sequence
  return true;
}

}  // namespace bottega
