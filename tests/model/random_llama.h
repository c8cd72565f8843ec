// Small llama models with random weights, written through the GGUF writer, for forward-pass tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tensor/types.h"

namespace bottega::testing {

struct LlamaShape {
  int64_t n_vocab = 300;
  int64_t n_embd = 256;
  int n_layer = 2;
  int64_t n_head = 4;
  int64_t n_head_kv = 2;
  int64_t n_ff = 512;
  int64_t n_ctx = 64;
  float rope_base = 10000.0f;
  float rope_linear_factor = 0.0f;  // 0: no scaling
  bool rope_freqs = false;          // write rope_freqs.weight (Llama 3.1 style)
  bool tied_output = false;
};

// The weights as the file stores them after quantization, dequantized again with the reference
// functions: exactly what a correct engine computes with.
struct RandomLlama {
  LlamaShape shape;
  std::map<std::string, std::vector<float>> tensors;  // name -> values, GGML order
  // What matmul quantizes activations to for these weights (kernels::activation_type); the
  // reference rounds its matrix inputs through it too.
  TensorType activation = TensorType::F32;
  // The KV cache types the engine stores keys and values in; the reference rounds every key (after
  // RoPE) and value through them. F32 keeps them exact (in double).
  TensorType cache_key = TensorType::F32;
  TensorType cache_value = TensorType::F32;
};

// Writes a model whose matrices are stored as `type` (norms stay F32) and returns its weights.
RandomLlama write_random_llama(const std::filesystem::path& path, const LlamaShape& shape,
                               TensorType type, uint32_t seed);

// Logits of the last position after evaluating tokens, in double precision, from first principles.
std::vector<double> reference_logits(const RandomLlama& model, const std::vector<int32_t>& tokens);

}  // namespace bottega::testing
