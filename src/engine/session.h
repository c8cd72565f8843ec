// One sequence evaluated against a model: its KV cache, its position, its logits.
// `run` and `chat` use one Session; the server's scheduler drives many sequences instead.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "engine/block_allocator.h"
#include "backend/kv_cache.h"
#include "model/model.h"

namespace bottega {

class Session {
 public:
  static constexpr int32_t kBlockSize = 16;
  // Prompt tokens per forward pass; bounds the activation buffers.
  static constexpr int32_t kDefaultBatch = 512;

  // Throws Error when a cache type cannot store this model's K/V rows.
  Session(Model& model, int32_t n_ctx, ThreadPool& pool, int32_t n_batch = kDefaultBatch,
          KvCacheTypes cache_types = {});

  int32_t n_ctx() const { return n_ctx_; }
  int32_t n_past() const { return n_past_; }
  const Model& model() const { return model_; }
  const KvCache& cache() const { return cache_; }

  // Appends tokens to the sequence and returns the logits after the last one (n_vocab floats,
  // valid until the next call). Throws Error when the tokens would overflow the context.
  std::span<const float> eval(std::span<const int32_t> tokens);
  // Like eval, but keeps the logits after every token: tokens.size() rows of n_vocab floats
  // (perplexity scoring).
  std::span<const float> eval_all(std::span<const int32_t> tokens);

  // Forgets the sequence; the cache is reused.
  void reset() { n_past_ = 0; }

 private:
  std::span<const float> evaluate(std::span<const int32_t> tokens, bool all_logits);

  Model& model_;
  ThreadPool& pool_;
  int32_t n_ctx_;
  int32_t n_batch_;
  int32_t n_past_ = 0;
  KvCache cache_;
  std::vector<int32_t> block_table_;
  std::vector<float> logits_;
};

}  // namespace bottega
