// What most families share: the standard ARCH.* hyper-parameter keys, and a default shape for
// `synth`. Family files start from these and set their quirks.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gguf/gguf.h"
#include "model/architecture.h"
#include "model/decoder_config.h"
#include "model/encoder_config.h"

namespace bottega::arch {

// Reads ARCH.* keys of one file, with errors that name the file and the key.
class Keys {
 public:
  Keys(const gguf::File& file, std::string_view arch) : file_(file), arch_(arch) {}
  std::string key(std::string_view suffix) const { return arch_ + "." + std::string(suffix); }
  int64_t positive(std::string_view suffix) const;
  std::optional<int64_t> integer(std::string_view suffix) const;
  std::optional<double> real(std::string_view suffix) const;
  std::optional<std::string> text(std::string_view suffix) const;
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const gguf::File& file_;
  std::string arch_;
};

// Shape, norm epsilon and RoPE (base, rotated dimensions, linear scaling; "llama3" scaling is
// carried by rope_freqs.weight) of a decoder, every layer global and without window.
DecoderConfig read_standard(const gguf::File& file, std::string_view arch);

// ARCH.attention.sliding_window, when the file sets it (positive), else 0.
int32_t sliding_window(const gguf::File& file, std::string_view arch);

// A llama-like configuration of the shape synth asks for, named `arch`.
DecoderConfig synth_standard(const SynthShape& shape, std::string_view arch);

// The shape with n_expert experts, n_used of them per token, unless it names its own.
SynthShape with_default_experts(SynthShape shape, int n_expert, int n_used);

// An encoder's shape, LayerNorm epsilon and pooling from the ARCH.* keys every BERT-like family
// writes (the vocabulary size from token_embd.weight); BERT's layout otherwise.
EncoderConfig read_encoder_standard(const gguf::File& file, std::string_view arch);
// A BERT-layout encoder of the shape synth asks for, named `arch`.
EncoderConfig synth_encoder_standard(const SynthShape& shape, std::string_view arch);

}  // namespace bottega::arch
