#include "backend/cpu/moe.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"

namespace bottega::backend::cpu {
namespace {

using ServedTokens = std::vector<std::pair<int64_t, float>>;  // (token, router weight)

// The experts a token's router logits choose and their weights, in expert order. Ties between
// equal logits go to the lower expert index, in every path.
void route(const float* logits, const MoeConfig& moe, std::vector<int>& chosen,
           std::vector<float>& weights) {
  std::vector<int> order(static_cast<size_t>(moe.n_expert));
  for (int e = 0; e < moe.n_expert; ++e) order[static_cast<size_t>(e)] = e;
  std::partial_sort(order.begin(), order.begin() + moe.n_used, order.end(), [&](int x, int y) {
    return logits[x] > logits[y] || (logits[x] == logits[y] && x < y);
  });
  chosen.assign(order.begin(), order.begin() + moe.n_used);
  std::sort(chosen.begin(), chosen.end());
  // Both gatings are a softmax with the best logit subtracted; they differ in the denominator.
  const float best = logits[order.front()];
  double total = 0.0;
  if (moe.gating == Gating::kSoftmaxThenTopK && !moe.normalize) {
    for (int e = 0; e < moe.n_expert; ++e) total += std::exp(static_cast<double>(logits[e] - best));
  } else {
    for (int e : chosen) total += std::exp(static_cast<double>(logits[e] - best));
  }
  weights.clear();
  for (int e : chosen) {
    weights.push_back(static_cast<float>(std::exp(static_cast<double>(logits[e] - best)) / total));
  }
}

// Rows of one expert's slice of a stacked expert tensor: expert e's n_rows rows follow e-1's.
WeightMatrix expert_matrix(const WeightMatrix& experts, int e, int64_t n_rows) {
  WeightMatrix w = experts;
  w.n_out = n_rows;
  w.data = experts.data + static_cast<size_t>(e) * static_cast<size_t>(n_rows) * w.row_stride();
  return w;
}

// Rows [begin, end) of a stored matrix.
WeightMatrix row_range(const WeightMatrix& w, int64_t begin, int64_t end) {
  WeightMatrix rows = w;
  rows.n_out = end - begin;
  rows.data = w.data + static_cast<size_t>(begin) * w.row_stride();
  return rows;
}

void add_bias_rows(float* rows, int64_t n_rows, const float* bias, int64_t width) {
  for (int64_t r = 0; r < n_rows; ++r) kernels::add(rows + r * width, bias, width);
}

void activate(const GluParams& params, float* gate, const float* up, int64_t n_rows, int64_t n_ff,
              float* out, ThreadPool& pool) {
  pool.parallel_for(n_rows, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      glu_row(params, gate + t * n_ff, up + t * n_ff, out + t * n_ff, n_ff);
    }
  });
}

class MixtureRun {
 public:
  MixtureRun(const MoeHostWeights& w, const MoeConfig& moe, const GluParams& activation,
             const float* x, int64_t n_tokens, int64_t n_embd, Scratch& scratch)
      : w_(w),
        moe_(moe),
        activation_(activation),
        x_(x),
        n_tokens_(n_tokens),
        n_embd_(n_embd),
        scratch_(scratch) {}

  void run(float* out, ThreadPool& pool);

 private:
  // One expert's FFN for the tokens routed to it (rows of x), written to out (a row per token).
  void run_expert(int e, const ServedTokens& tokens, Scratch::Thread& s, float* out,
                  ThreadPool& pool) const;
  void experts_across_threads(const std::vector<int>& active,
                              const std::vector<ServedTokens>& served,
                              const std::vector<int64_t>& first_row, float* outputs,
                              ThreadPool& pool) const;
  void add_shared_expert(float* out, ThreadPool& pool) const;

  const MoeHostWeights& w_;
  const MoeConfig& moe_;
  const GluParams& activation_;
  const float* x_;
  int64_t n_tokens_;
  int64_t n_embd_;
  Scratch& scratch_;
};

void MixtureRun::run(float* out, ThreadPool& pool) {
  float* router = at_least(scratch_.router, static_cast<size_t>(n_tokens_ * moe_.n_expert));
  kernels::matmul(w_.router, x_, n_tokens_, router, pool);
  // The tokens each expert serves, so that its rows are read once for the whole batch.
  std::vector<ServedTokens> served(static_cast<size_t>(moe_.n_expert));
  std::vector<int> chosen;
  std::vector<float> weights;
  for (int64_t t = 0; t < n_tokens_; ++t) {
    float* logits = router + t * moe_.n_expert;
    if (w_.router_bias != nullptr) kernels::add(logits, w_.router_bias, moe_.n_expert);
    route(logits, moe_, chosen, weights);
    for (size_t i = 0; i < chosen.size(); ++i) {
      served[static_cast<size_t>(chosen[i])].emplace_back(t, weights[i]);
    }
  }
  // Experts run side by side, each on one thread without barriers, when there are enough of them
  // to keep every thread busy (decode with top-4 on a few cores, and prompts); otherwise one after
  // another, each on every thread. Outputs are added in expert order either way, so the result is
  // the same bits.
  std::vector<int> active;
  std::vector<int64_t> first_row(static_cast<size_t>(moe_.n_expert), 0);
  int64_t n_rows = 0;
  for (int e = 0; e < moe_.n_expert; ++e) {
    first_row[static_cast<size_t>(e)] = n_rows;
    const auto m = static_cast<int64_t>(served[static_cast<size_t>(e)].size());
    if (m > 0) active.push_back(e);
    n_rows += m;
  }
  float* outputs = at_least(scratch_.expert_outputs, static_cast<size_t>(n_rows * n_embd_));
  scratch_.grow_threads(pool.size());
  auto run_one = [&](int e, Scratch::Thread& scratch, ThreadPool& threads) {
    run_expert(e, served[static_cast<size_t>(e)], scratch,
               outputs + first_row[static_cast<size_t>(e)] * n_embd_, threads);
  };
  if (static_cast<int>(active.size()) >= 2 * pool.size()) {
    // The busiest experts first, so that no long one starts last.
    std::stable_sort(active.begin(), active.end(), [&](int a, int b) {
      return served[static_cast<size_t>(a)].size() > served[static_cast<size_t>(b)].size();
    });
    std::atomic<size_t> next{0};
    pool.run([&](int thread, int) {
      ThreadPool alone(1);
      Scratch::Thread& own = scratch_.threads[static_cast<size_t>(thread)];
      for (size_t i = next.fetch_add(1); i < active.size(); i = next.fetch_add(1)) {
        run_one(active[i], own, alone);
      }
    });
  } else if (pool.size() > 1) {
    experts_across_threads(active, served, first_row, outputs, pool);
  } else {
    for (int e : active) run_one(e, scratch_.threads[0], pool);
  }
  std::fill_n(out, n_tokens_ * n_embd_, 0.0f);
  for (int e = 0; e < moe_.n_expert; ++e) {
    const ServedTokens& tokens = served[static_cast<size_t>(e)];
    const float* rows = outputs + first_row[static_cast<size_t>(e)] * n_embd_;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const auto& [t, weight] = tokens[i];
      float* dst = out + t * n_embd_;
      const float* row = rows + static_cast<int64_t>(i) * n_embd_;
      for (int64_t d = 0; d < n_embd_; ++d) dst[d] += weight * row[d];
    }
  }
  if (moe_.n_ff_shared > 0) add_shared_expert(out, pool);
}

// The shared expert serves every token: a dense gated FFN whose output joins the routed experts'
// sum, scaled by sigmoid(gate . x) when the family gates it.
void MixtureRun::add_shared_expert(float* out, ThreadPool& pool) const {
  const int64_t n_ff = moe_.n_ff_shared;
  std::vector<float> gate(static_cast<size_t>(n_tokens_ * n_ff));
  std::vector<float> up(gate.size());
  std::vector<float> shared(static_cast<size_t>(n_tokens_ * n_embd_));
  kernels::matmul(w_.gate_shared, x_, n_tokens_, gate.data(), pool);
  kernels::matmul(w_.up_shared, x_, n_tokens_, up.data(), pool);
  activate(activation_, gate.data(), up.data(), n_tokens_, n_ff, gate.data(), pool);
  kernels::matmul(w_.down_shared, gate.data(), n_tokens_, shared.data(), pool);
  for (int64_t t = 0; t < n_tokens_; ++t) {
    float scale = 1.0f;
    if (w_.shared_gate != nullptr) {
      const float* x = x_ + t * n_embd_;
      float logit = 0.0f;
      for (int64_t i = 0; i < n_embd_; ++i) logit += w_.shared_gate[i] * x[i];
      scale = 1.0f / (1.0f + std::exp(-logit));
    }
    float* row = out + t * n_embd_;
    const float* from = shared.data() + t * n_embd_;
    for (int64_t d = 0; d < n_embd_; ++d) row[d] += scale * from[d];
  }
}

// Few experts for many threads (decode on a many-core machine): every thread takes shares of every
// expert's rows, claimed one at a time. Gate and up rows, their biases and the activation are one
// step, the down rows a second, so a layer waits twice instead of four times per expert. Shares
// are whole multiples of 16 rows, so each row is computed by the same kernels with the same
// arithmetic as when an expert runs alone: the bits do not change.
void MixtureRun::experts_across_threads(const std::vector<int>& active,
                                        const std::vector<ServedTokens>& served,
                                        const std::vector<int64_t>& first_row, float* outputs,
                                        ThreadPool& pool) const {
  const int64_t n_ff = moe_.n_ff;
  const auto n_active = static_cast<int64_t>(active.size());
  std::vector<std::vector<float>> inputs(active.size()), hidden(active.size());
  for (size_t i = 0; i < active.size(); ++i) {
    const ServedTokens& tokens = served[static_cast<size_t>(active[i])];
    inputs[i].resize(tokens.size() * static_cast<size_t>(n_embd_));
    hidden[i].resize(tokens.size() * static_cast<size_t>(n_ff));
    for (size_t j = 0; j < tokens.size(); ++j) {
      std::copy_n(x_ + tokens[j].first * n_embd_, n_embd_, inputs[i].data() + j * n_embd_);
    }
  }
  // About two shares per thread for the experts together, each a multiple of 16 rows.
  auto share_rows = [&](int64_t rows) {
    const int64_t shares = std::max<int64_t>(1, 2 * pool.size() / n_active);
    return std::max<int64_t>(16, (rows / shares + 15) / 16 * 16);
  };
  // Runs step(i, begin, end, one_thread, scratch) for shares of `rows` rows of every active expert.
  auto across = [&](int64_t rows, const auto& step) {
    const int64_t share = share_rows(rows);
    const int64_t per_expert = (rows + share - 1) / share;
    std::atomic<int64_t> next{0};
    pool.run([&](int, int) {
      ThreadPool one_thread(1);
      std::vector<float> scratch;
      for (int64_t task = next.fetch_add(1); task < n_active * per_expert;
           task = next.fetch_add(1)) {
        const int64_t begin = task % per_expert * share;
        step(static_cast<size_t>(task / per_expert), begin, std::min(rows, begin + share),
             one_thread, scratch);
      }
    });
  };
  across(n_ff, [&](size_t i, int64_t begin, int64_t end, ThreadPool& one_thread,
                   std::vector<float>& scratch) {
    const int e = active[i];
    const auto m = static_cast<int64_t>(served[static_cast<size_t>(e)].size());
    const int64_t width = end - begin;
    scratch.resize(static_cast<size_t>(2 * m * width));
    float* gate = scratch.data();
    float* up = gate + m * width;
    kernels::matmul(row_range(expert_matrix(w_.gate_experts, e, n_ff), begin, end),
                    inputs[i].data(), m, gate, one_thread);
    kernels::matmul(row_range(expert_matrix(w_.up_experts, e, n_ff), begin, end), inputs[i].data(),
                    m, up, one_thread);
    for (int64_t t = 0; t < m; ++t) {
      if (w_.gate_bias != nullptr) {
        kernels::add(gate + t * width, w_.gate_bias + e * n_ff + begin, width);
        kernels::add(up + t * width, w_.up_bias + e * n_ff + begin, width);
      }
      glu_row(activation_, gate + t * width, up + t * width, hidden[i].data() + t * n_ff + begin,
              width);
    }
  });
  across(n_embd_, [&](size_t i, int64_t begin, int64_t end, ThreadPool& one_thread,
                      std::vector<float>& scratch) {
    const int e = active[i];
    const auto m = static_cast<int64_t>(served[static_cast<size_t>(e)].size());
    const int64_t width = end - begin;
    scratch.resize(static_cast<size_t>(m * width));
    kernels::matmul(row_range(expert_matrix(w_.down_experts, e, n_embd_), begin, end),
                    hidden[i].data(), m, scratch.data(), one_thread);
    float* expert_out = outputs + first_row[static_cast<size_t>(e)] * n_embd_;
    for (int64_t t = 0; t < m; ++t) {
      float* row = expert_out + t * n_embd_ + begin;
      std::copy_n(scratch.data() + t * width, width, row);
      if (w_.down_bias != nullptr) kernels::add(row, w_.down_bias + e * n_embd_ + begin, width);
    }
  });
}

void MixtureRun::run_expert(int e, const ServedTokens& tokens, Scratch::Thread& s, float* out,
                            ThreadPool& pool) const {
  const int64_t n_ff = moe_.n_ff;
  const auto m = static_cast<int64_t>(tokens.size());
  float* in = at_least(s.expert_in, static_cast<size_t>(m * n_embd_));
  float* gate = at_least(s.expert_gate, static_cast<size_t>(m * n_ff));
  float* up = at_least(s.expert_up, static_cast<size_t>(m * n_ff));
  for (int64_t i = 0; i < m; ++i) {
    std::copy_n(x_ + tokens[static_cast<size_t>(i)].first * n_embd_, n_embd_, in + i * n_embd_);
  }
  kernels::matmul(expert_matrix(w_.gate_experts, e, n_ff), in, m, gate, pool);
  kernels::matmul(expert_matrix(w_.up_experts, e, n_ff), in, m, up, pool);
  if (w_.gate_bias != nullptr) {
    add_bias_rows(gate, m, w_.gate_bias + e * n_ff, n_ff);
    add_bias_rows(up, m, w_.up_bias + e * n_ff, n_ff);
  }
  activate(activation_, gate, up, m, n_ff, gate, pool);
  kernels::matmul(expert_matrix(w_.down_experts, e, n_embd_), gate, m, out, pool);
  if (w_.down_bias != nullptr) add_bias_rows(out, m, w_.down_bias + e * n_embd_, n_embd_);
}

}  // namespace

void glu_row(const GluParams& params, const float* gate, const float* up, float* out, int64_t n) {
  switch (params.activation) {
    case Activation::kSilu:
      kernels::swiglu(gate, up, out, n);
      break;
    case Activation::kGeluTanh:
      kernels::geglu(gate, up, out, n);
      break;
    case Activation::kSwigluClamped:
      kernels::swiglu_clamped(gate, up, out, n, params.alpha, params.limit);
      break;
  }
}

void mixture_of_experts(const MoeHostWeights& weights, const MoeConfig& moe,
                        const GluParams& activation, const float* x, int64_t n_tokens,
                        int64_t n_embd, float* out, ThreadPool& pool, Scratch& scratch) {
  MixtureRun(weights, moe, activation, x, n_tokens, n_embd, scratch).run(out, pool);
}

}  // namespace bottega::backend::cpu
