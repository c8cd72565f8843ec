// Helpers shared by the subcommands: opening models with messages a user can act on.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "backend/kv_cache.h"
#include "core/format.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace bottega::cli {

// Opens a GGUF file or a pulled model by name; a missing file or a non-GGUF file becomes an Error
// with a one-line message.
gguf::File open_gguf(const std::string& path);
// The same, but a Hub reference (OWNER/REPO:QUANT, hf://...) that is not in the store yet is
// pulled first, as `ollama run` does: for the commands that run a model.
gguf::File open_gguf_or_pull(const std::string& path);

// Context length to use: the requested one, or the model's capped at a size that fits comfortably.
int32_t choose_context(int64_t requested, int64_t n_ctx_train);

// --device (-dev) and -ngl (--n-gpu-layers), as llama.cpp names them: which backend runs the
// model, and how many of its last layers go there when it is a GPU (the rest run on the CPU).
struct DeviceOptions {
  std::string device = "cpu";
  int offload_layers = -1;   // -1: all of them
  bool f16_as_bf16 = false;  // --f16-as-bf16 (backend::CpuOptions)
};
void add_device_options(CLI::App& cmd, DeviceOptions& options);

// --f16-as-bf16 (in add_device_options; bench registers it on its own), and the CPU backend's
// options it gives, with a note on stderr where the CPU cannot use it.
void add_f16_as_bf16_flag(CLI::App& cmd, bool& flag);
backend::CpuOptions cpu_options(bool f16_as_bf16);

// Opens the device (an Error naming the accepted devices when it is not one) and loads the model
// on it with the given context (0: the model's); a line on stderr says where the layers went when
// a GPU runs some of them.
std::unique_ptr<Model> load_model_on_device(gguf::File file, int64_t n_ctx,
                                            const DeviceOptions& device);

// Loads the model for a run with the context choose_context picks for `requested` (returned in
// n_ctx): families whose RoPE depends on the context (Phi-3's LongRoPE) are set up for it.
std::unique_ptr<Model> load_model_for_context(gguf::File file, int64_t requested, int32_t& n_ctx,
                                              const DeviceOptions& device);

// argv with llama.cpp's single-dash long flags (-ctk, -ctv, -np, -ngl, -dev), which CLI11 cannot
// declare, spelled as their long forms; every other argument unchanged.
std::vector<std::string> long_form_flags(int argc, char** argv);

// -ctk/--cache-type-k and -ctv/--cache-type-v, as llama.cpp names them: the KV cache storage types.
struct CacheTypeOptions {
  std::string key = "f16";
  std::string value = "f16";
  KvCacheTypes types() const;
};
// Registers both flags on a subcommand; a value that is not a cache type is a usage error.
void add_cache_type_options(CLI::App& cmd, CacheTypeOptions& options);

// -t/--threads: 0 (the default) means the machine's physical cores.
void add_threads_option(CLI::App& cmd, int& threads);

// -c/--ctx-size for generating commands: 0 (the default) means the model's training context,
// capped at 4096 (choose_context).
void add_context_option(CLI::App& cmd, int64_t& n_ctx);

// --temp, --top-k, --top-p, --min-p, the penalties and --seed, with llama.cpp's names.
void add_sampling_options(CLI::App& cmd, SamplingParams& params);

// The chat template to use: `choice` names a built-in or a .jinja file; empty means the model's
// own (tokenizer.chat_template), else "chatml" with a note on stderr.
ChatTemplate choose_chat_template(const std::string& choice, const gguf::File& file,
                                  const tokenizer::Tokenizer& tokenizer);

}  // namespace bottega::cli
