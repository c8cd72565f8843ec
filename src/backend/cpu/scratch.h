// Buffers the CPU backend's ops keep from one pass to the next, one set per thread pool: a pool
// runs one loop at a time, so a set is never in use twice at once. Allocated per call instead,
// large ones went back to the C library after each layer and came back as fresh zeroed pages:
// about 400 page faults per decoded token of a 1B model at a few hundred positions (attention),
// and 8,000 per layer of a 512-token prompt through a mixture of experts (a quarter of its time).
#pragma once

#include <cstddef>
#include <vector>

namespace bottega::backend::cpu {

// The first n floats of v, grown when too short and never shrunk or cleared: a shorter request
// leaves the rest in place, so a longer one later does not zero it again.
inline float* at_least(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

struct Scratch {
  // What one thread of the pool works in.
  struct Thread {
    // attention: one KV head's keys as floats, [n_pos][head_dim] (query by query) or a chunk of
    // positions (in lanes, keys then values)
    std::vector<float> keys;
    std::vector<float> values;  // the values as floats, [n_pos][head_dim] (query by query)
    std::vector<float> scores;  // one query's probabilities over the positions, or a block's
    std::vector<float> queries_t, outputs_t;  // a block of queries and their outputs, transposed
    std::vector<float> folded_t;  // attention: the blocks' outputs over the segments folded so far
    std::vector<float> decode;    // a covering block range of a row (quantized cache types)
    std::vector<float> expert_in, expert_gate, expert_up;  // one expert's rows
  };
  std::vector<Thread> threads;            // one per thread of the pool (grow_threads)
  std::vector<float> router;              // a mixture's router logits, a row per token
  std::vector<float> attention_partials;  // every query's results per segment, to be combined
  std::vector<float> expert_outputs;      // each expert's output rows, expert after expert

  // Makes room for n threads; call before handing threads[i] to thread i.
  void grow_threads(int n) {
    if (threads.size() < static_cast<size_t>(n)) threads.resize(static_cast<size_t>(n));
  }
};

}  // namespace bottega::backend::cpu
