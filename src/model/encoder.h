// The encoder of embedding models: token ids in, one pooled (and by default L2-normalised) vector
// per input out. Several inputs run as one forward pass: each token attends to every token of its
// own input and to nothing else, and every matrix multiply is batch-invariant, so an input's
// embedding is bit for bit what it gets alone.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "kernels/cpu/matmul.h"
#include "model/encoder_config.h"

namespace bottega {

struct EmbedOptions {
  std::optional<Pooling> pooling;  // nullopt: the file's pooling_type
  bool normalize = true;           // divide by the L2 norm, so that dot products are cosines
};

class Encoder {
 public:
  // Binds the file's tensors (the file stays mapped for the encoder's life). Throws Error naming
  // the file and the key or tensor for anything missing or misshapen.
  explicit Encoder(gguf::File file);
  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  const EncoderConfig& config() const { return config_; }
  const ModelInfo& info() const { return config_.info; }
  // The longest input in tokens: the rows of the position table.
  int64_t max_tokens() const { return config_.info.n_ctx_train; }
  uint64_t weight_bytes() const { return weight_bytes_; }
  // The pooling a request without one gets: the file's, or mean when the file asks for none.
  Pooling default_pooling() const;

  // One embedding of n_embd floats per input, in order, from one forward pass. Throws Error for an
  // empty input, one longer than max_tokens() or a token id outside the vocabulary, naming the
  // input's index.
  std::vector<std::vector<float>> embed(std::span<const std::vector<int32_t>> inputs,
                                        const EmbedOptions& options, ThreadPool& pool) const;

  // The last layer's state of every token of every input, input after input (n_embd floats a
  // token): what pooling reads.
  std::vector<float> hidden_states(std::span<const std::vector<int32_t>> inputs,
                                   ThreadPool& pool) const;

  // The Error embed would throw for these inputs, thrown without computing anything.
  void check_inputs(std::span<const std::vector<int32_t>> inputs) const;

 private:
  struct Weights;

  gguf::File file_;  // owns the mapping the matrices point into
  EncoderConfig config_;
  std::unique_ptr<Weights> weights_;
  uint64_t weight_bytes_ = 0;
};

}  // namespace bottega
