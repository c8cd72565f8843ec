// An independent, double-precision forward pass of BERT and nomic-bert read straight from a GGUF
// file: the ground truth the engine's embeddings are checked against.
//
// It shares nothing with src/model: hyper-parameters come from the bert.* keys, weights are
// dequantized with the reference functions of the type table, and the math runs in double, token
// by token, as written in Hugging Face's BertModel (post-LayerNorm blocks, exact GELU) and
// nomic's NomicBertModel (rotary positions, fused QKV, SwiGLU, no biases). The one
// rounding it imitates is the engine's matmul input: rounded to float and, when round_activations,
// through kernels::activation_type(the weight's type) (Q8_0 for Q8_0 weights).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tensor/types.h"

namespace bottega::testing {

// BERT's pieces; a test switches one off to prove the comparison sees it.
struct EncoderQuirks {
  bool positions = true;   // add position_embd.weight row `pos` (bert), rotate q and k (nomic)
  bool neox = true;        // nomic: rotate pairs (i, i + head_dim/2); off: (2i, 2i + 1)
  bool token_type = true;  // add token_types.weight row 0
  bool post_norms = true;  // LayerNorm after each residual add (off: no block norms at all)
  bool gelu_erf = true;    // exact GELU; off: the tanh approximation
  bool attention_within_input = true;  // off: tokens of all inputs attend to each other
};

struct ReferenceEncoder {
  std::string arch;  // bert or nomic-bert
  double rope_base = 10000.0;
  int64_t n_embd = 0, n_layer = 0, n_head = 0, n_ff = 0, n_ctx = 0, n_vocab = 0;
  double eps = 1e-12;
  int64_t pooling = 2;  // bert.pooling_type
  EncoderQuirks quirks;
  bool round_activations = true;
  struct Tensor {
    TensorType type = TensorType::F32;
    std::vector<int64_t> shape;
    std::vector<float> values;
  };
  std::map<std::string, Tensor> tensors;
};

ReferenceEncoder load_reference_encoder(const std::filesystem::path& path);

// Pooled embeddings (mean when mean_pooling, else the first token's state), L2-normalised when
// normalize, of each input; inputs are embedded together (they matter to each other only when
// quirks.attention_within_input is off).
std::vector<std::vector<double>> reference_embeddings(const ReferenceEncoder& m,
                                                      const std::vector<std::vector<int32_t>>& in,
                                                      bool mean_pooling, bool normalize = true);

}  // namespace bottega::testing
