// The table of model families the decoder runs. Each row comes from one file in model/arch/,
// which maps a GGUF file's keys to a DecoderConfig and says what a random model of the family
// looks like (for `synth`). Adding a family is writing that file and adding its row.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "gguf/gguf.h"
#include "model/decoder_config.h"

namespace bottega {

// The shape `synth` asks for; the family fills in its own quirks around it.
struct SynthShape {
  std::string name;
  int64_t n_embd = 0;
  int n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // need not be n_embd / n_head
  int64_t n_ff = 0;
  int64_t n_ctx = 0;
  int64_t n_vocab = 0;
  int32_t window = 0;  // sliding window of the windowed layers; 0: the family's usual choice
  int n_expert = 0;    // mixture of experts: experts per layer (0: dense) and experts per token
  int n_expert_used = 0;
};

struct Architecture {
  std::string_view name;      // general.architecture
  std::string_view families;  // the models people know it by, for messages and docs
  DecoderConfig (*read)(const gguf::File& file);
  DecoderConfig (*synth)(const SynthShape& shape);
  bool experts = false;  // whether the family has mixture-of-experts models
};

std::span<const Architecture> architectures();
// nullptr when no family is called `name`.
const Architecture* find_architecture(std::string_view name);

// The configuration of a model file; throws Error naming the file for an unsupported architecture
// or a missing, non-positive or inconsistent hyper-parameter.
DecoderConfig read_decoder_config(const gguf::File& file);

// Writes the ARCH.* keys (and general.architecture / general.name) that make read_decoder_config
// give `config` back: how `synth` describes the models it writes.
void write_decoder_config(const DecoderConfig& config, gguf::Writer& writer);

}  // namespace bottega
