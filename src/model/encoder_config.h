// What the encoder needs to know to run an embedding model (BERT-style: bidirectional attention,
// post-LayerNorm blocks, a pooled and normalised output instead of logits), the table of encoder
// families, and the list of tensors a file of a family holds.
//
// Encoders are their own table beside the decoders' (architecture.h): they share no forward pass
// and most of DecoderConfig's fields mean nothing to them. A family is a file in model/arch/ with
// `read` (GGUF keys to an EncoderConfig) and `synth` (a random model's config), and one row here;
// the loader, `synth --arch` and the tests read it from there.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "model/architecture.h"
#include "model/decoder_config.h"

namespace bottega {

// ARCH.pooling_type, as llama.cpp numbers it: how per-token states become one embedding.
enum class Pooling { kNone = 0, kMean = 1, kCls = 2, kLast = 3 };

// BERT (bge, MiniLM) and nomic-bert (nomic-embed-text) share the post-LayerNorm block; they differ
// in how positions enter, in the Q/K/V layout, in biases and in the FFN.
struct EncoderConfig {
  ModelInfo info;           // n_head_kv == n_head: encoders have no grouped-query attention
  float norm_eps = 1e-12f;  // ARCH.attention.layer_norm_epsilon
  Pooling pooling = Pooling::kCls;
  int64_t n_token_types = 2;  // rows of token_types.weight; every input uses type 0
  // Learned absolute positions (position_embd, BERT); otherwise NeoX-style RoPE over whole heads
  // with rope_base (nomic-bert).
  bool position_embeddings = true;
  float rope_base = 10000.0f;
  bool fused_qkv = false;  // one attn_qkv matrix: q rows, then k, then v
  bool biases = true;      // attn_q/k/v, attn_output, ffn_up and ffn_down biases
  bool gated_ffn = false;  // SiLU(ffn_gate x) * ffn_up x (nomic-bert); else GELU(ffn_up x)
};

// The tensors of a file of this configuration, all required, in the order llama.cpp's converter
// writes them.
std::vector<TensorDesc> encoder_tensors(const EncoderConfig& config);

struct EncoderArchitecture {
  std::string_view name;      // general.architecture
  std::string_view families;  // the models people know it by
  EncoderConfig (*read)(const gguf::File& file);
  EncoderConfig (*synth)(const SynthShape& shape);
};

std::span<const EncoderArchitecture> encoder_architectures();
// nullptr when no encoder family is called `name`.
const EncoderArchitecture* find_encoder_architecture(std::string_view name);
// Whether the file's general.architecture is an encoder family (an embedding model).
bool is_encoder_file(const gguf::File& file);

// The configuration of an encoder file; throws Error naming the file and the key.
EncoderConfig read_encoder_config(const gguf::File& file);

// Writes the ARCH.* keys that make read_encoder_config give `config` back (for `synth`).
void write_encoder_config(const EncoderConfig& config, gguf::Writer& writer);

}  // namespace bottega
