// Causal self-attention of one layer over the paged KV cache, for a batch that mixes the prompt
// chunks and decode steps of many sequences, on the CPU. Shared by every architecture that uses
// grouped-query attention with a softmax over scaled dot products.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/batch.h"
#include "backend/cpu/scratch.h"
#include "backend/kv_cache.h"
#include "core/thread_pool.h"

namespace bottega::backend::cpu {

struct AttentionShape {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;  // divides n_head: n_head / n_head_kv query heads share a KV head
  int64_t head_dim = 0;
  float scale = 0.0f;    // of the query-key products
  int32_t window = 0;    // > 0: only the last `window` positions are seen
  float softcap = 0.0f;  // > 0: scores become softcap * tanh(scores / softcap)
  // n_head logits, one per query head, that join the softmax's denominator without a value
  // (gpt-oss's attention sinks: a head may attend to nothing); nullptr for none.
  const float* sinks = nullptr;
};

// q holds each token's query heads (n_head * head_dim floats per token); out receives each
// token's attended values in the same layout. A token at position p attends to the cached
// positions 0..p of its own sequence (p - window + 1..p with a window), which must already hold
// this layer's keys and values.
void paged_attention(std::span<const BatchToken> batch,
                     std::span<const std::span<const int32_t>> tables, const KvCache& cache,
                     int layer, const AttentionShape& shape, const float* q, float* out,
                     ThreadPool& pool, Scratch& scratch);

}  // namespace bottega::backend::cpu
