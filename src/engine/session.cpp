#include "engine/session.h"

#include <algorithm>

#include "core/error.h"

namespace bottega {

namespace {
int32_t blocks_for(int32_t n_ctx) {
  return (n_ctx + Session::kBlockSize - 1) / Session::kBlockSize;
}
}  // namespace

Session::Session(Model& model, int32_t n_ctx, ThreadPool& pool, int32_t n_batch,
                 KvCacheTypes cache_types)
    : model_(model),
      pool_(pool),
      n_ctx_(n_ctx),
      n_batch_(n_batch),
      cache_(model.info().n_layer, model.info().n_kv_dim(), blocks_for(n_ctx), kBlockSize,
             cache_types, static_cast<int>(model.info().n_head_kv)),
      logits_(static_cast<size_t>(model.info().n_vocab)) {
  BOTTEGA_CHECK(n_ctx > 0 && n_batch > 0);
  // A single sequence owns the whole cache, so its block table is simply every block in order.
  BlockAllocator allocator(cache_.n_blocks());
  for (int32_t i = 0; i < cache_.n_blocks(); ++i) block_table_.push_back(*allocator.allocate());
}

std::span<const float> Session::eval(std::span<const int32_t> tokens) {
  return evaluate(tokens, false);
}

std::span<const float> Session::eval_all(std::span<const int32_t> tokens) {
  return evaluate(tokens, true);
}

std::span<const float> Session::evaluate(std::span<const int32_t> tokens, bool all_logits) {
  BOTTEGA_CHECK(!tokens.empty());
  if (n_past_ + static_cast<int64_t>(tokens.size()) > n_ctx_) {
    throw Error(str("context is full: ", n_past_, " tokens so far + ", tokens.size(),
                    " new exceed the context of ", n_ctx_, " tokens (raise it with -c)"));
  }
  const auto n_vocab = static_cast<size_t>(model_.info().n_vocab);
  logits_.resize(all_logits ? tokens.size() * n_vocab : n_vocab);
  const std::span<const int32_t> table(block_table_);
  const std::span<const std::span<const int32_t>> tables(&table, 1);
  std::vector<BatchToken> batch;
  for (size_t start = 0; start < tokens.size(); start += static_cast<size_t>(n_batch_)) {
    const size_t end = std::min(tokens.size(), start + static_cast<size_t>(n_batch_));
    const bool last_chunk = end == tokens.size();
    batch.clear();
    for (size_t i = start; i < end; ++i) {
      const bool wants_logits = all_logits || i + 1 == tokens.size();
      batch.push_back({tokens[i], n_past_ + static_cast<int32_t>(i - start), 0, wants_logits});
    }
    std::span<float> out;
    if (all_logits) {
      out = std::span<float>(logits_).subspan(start * n_vocab, (end - start) * n_vocab);
    } else if (last_chunk) {
      out = std::span<float>(logits_);
    }
    model_.forward(batch, tables, cache_, out, pool_);
    n_past_ += static_cast<int32_t>(end - start);
  }
  return logits_;
}

}  // namespace bottega
