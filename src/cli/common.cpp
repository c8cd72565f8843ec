#include "cli/common.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "backend/device.h"
#include "core/error.h"
#include "kernels/cpu/matmul.h"
#include "model/architecture.h"
#include "store/pull.h"

namespace bottega::cli {

namespace {
gguf::File open_resolved(const std::string& file, const std::string& name) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    throw Error(str("'", name, "' is a directory, not a GGUF file"));
  }
  return gguf::File::open(file);
}
}  // namespace

gguf::File open_gguf(const std::string& path) {
  return open_resolved(store::resolve_model(path), path);  // a path, else a pulled model
}

gguf::File open_gguf_or_pull(const std::string& path) {
  return open_resolved(store::resolve_or_pull(path), path);
}

int32_t choose_context(int64_t requested, int64_t n_ctx_train) {
  // Without -c, use the trained context but cap it: a 128K context would reserve gigabytes of KV
  // cache that a quick run never touches.
  constexpr int64_t kDefaultCap = 4096;
  if (requested > 0) return static_cast<int32_t>(std::min<int64_t>(requested, 1 << 24));
  return static_cast<int32_t>(std::min(n_ctx_train, kDefaultCap));
}

void add_device_options(CLI::App& cmd, DeviceOptions& options) {
  cmd.add_option("--device", options.device,
                 "Where the model runs: cpu, or vulkanN for the Nth Vulkan GPU (`bottega hw`)")
      ->capture_default_str();
  cmd.add_option("--n-gpu-layers", options.offload_layers,
                 "-ngl N: with a GPU --device, run the last N layers there and the rest on the CPU "
                 "(default: all)")
      ->check(CLI::Range(-1, 1 << 20));
  add_f16_as_bf16_flag(cmd, options.f16_as_bf16);
}

void add_f16_as_bf16_flag(CLI::App& cmd, bool& flag) {
  cmd.add_flag("--f16-as-bf16", flag,
               "Round F16 weights to BF16 at load (8 significant bits instead of 11) to use the "
               "CPU's BF16 dot products (AVX512_BF16): prompts about twice as fast, results "
               "slightly different; no effect on CPUs without them");
}

backend::CpuOptions cpu_options(bool f16_as_bf16) {
  if (f16_as_bf16 && !kernels::bf16_dot_products()) {
    std::fprintf(stderr,
                 "bottega: --f16-as-bf16 changes nothing here: the instruction set in use has no "
                 "BF16 dot products (AVX512_BF16; see `bottega hw`, BOTTEGA_ISA); F16 weights "
                 "stay F16\n");
  }
  return backend::CpuOptions{f16_as_bf16};
}

std::unique_ptr<Model> load_model_on_device(gguf::File file, int64_t n_ctx,
                                            const DeviceOptions& device) {
  LoadOptions options{n_ctx};
  options.cpu = cpu_options(device.f16_as_bf16);
  options.backend = backend::open_device(device.device, true, options.cpu);
  options.offload_layers = device.offload_layers;
  std::unique_ptr<Model> model = load_model(std::move(file), options);
  if (device.device != "cpu") std::fprintf(stderr, "bottega: %s\n", model->placement().c_str());
  return model;
}

std::unique_ptr<Model> load_model_for_context(gguf::File file, int64_t requested, int32_t& n_ctx,
                                              const DeviceOptions& device) {
  n_ctx = choose_context(requested, read_decoder_config(file).info.n_ctx_train);
  return load_model_on_device(std::move(file), n_ctx, device);
}

std::vector<std::string> long_form_flags(int argc, char** argv) {
  static constexpr std::pair<std::string_view, std::string_view> kLongForms[] = {
      {"-ctk", "--cache-type-k"},
      {"-ctv", "--cache-type-v"},
      {"-np", "--parallel"},
      {"-ngl", "--n-gpu-layers"},
      {"-dev", "--device"}};
  std::vector<std::string> args(argv, argv + argc);
  for (std::string& arg : args) {
    for (const auto& [short_form, long_form] : kLongForms) {
      if (arg == short_form || arg.rfind(std::string(short_form) + "=", 0) == 0) {
        arg = std::string(long_form) + arg.substr(short_form.size());
      }
    }
  }
  return args;
}

KvCacheTypes CacheTypeOptions::types() const {
  return {parse_kv_cache_type(key, "--cache-type-k"), parse_kv_cache_type(value, "--cache-type-v")};
}

void add_threads_option(CLI::App& cmd, int& threads) {
  cmd.add_option("-t,--threads", threads, "Threads (default: physical cores)")
      ->check(CLI::Range(0, 1024));
}

void add_context_option(CLI::App& cmd, int64_t& n_ctx) {
  cmd.add_option("-c,--ctx-size", n_ctx, "Context length (0: the model's, capped at 4096)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
}

void add_cache_type_options(CLI::App& cmd, CacheTypeOptions& options) {
  auto validator = [](std::string_view flag) {
    return CLI::Validator(
        [flag](std::string& text) {
          try {
            parse_kv_cache_type(text, flag);
            return std::string();
          } catch (const Error& e) {
            return std::string(e.what());
          }
        },
        "f32|f16|q8_0|q4_0");
  };
  cmd.add_option("--cache-type-k", options.key,
                 "KV cache type of keys (-ctk): f32, f16, q8_0, q4_0")
      ->capture_default_str()
      ->check(validator("--cache-type-k"));
  cmd.add_option("--cache-type-v", options.value,
                 "KV cache type of values (-ctv): f32, f16, q8_0, q4_0")
      ->capture_default_str()
      ->check(validator("--cache-type-v"));
}

void add_sampling_options(CLI::App& cmd, SamplingParams& params) {
  cmd.add_option("--temp", params.temperature, "Temperature (0: greedy)");
  cmd.add_option("--top-k", params.top_k, "Top-k (0: off)");
  cmd.add_option("--top-p", params.top_p, "Top-p (1: off)");
  cmd.add_option("--min-p", params.min_p, "Min-p (0: off)");
  cmd.add_option("--repeat-penalty", params.repeat_penalty, "Repetition penalty (1: off)");
  cmd.add_option("--repeat-last-n", params.repeat_last_n,
                 "Tokens the penalties look back (-1: all)");
  cmd.add_option("--presence-penalty", params.presence_penalty, "Presence penalty");
  cmd.add_option("--frequency-penalty", params.frequency_penalty, "Frequency penalty");
  cmd.add_option("-s,--seed", params.seed, "Random seed (default: random)");
}

ChatTemplate choose_chat_template(const std::string& choice, const gguf::File& file,
                                  const tokenizer::Tokenizer& tokenizer) {
  const auto& vocab = tokenizer.vocab();
  std::string bos = vocab.bos >= 0 ? tokenizer.token_to_piece(vocab.bos, true) : "";
  std::string eos = vocab.eos >= 0 ? tokenizer.token_to_piece(vocab.eos, true) : "";
  if (choice.empty()) {
    if (auto source = model_chat_template(file)) {
      return ChatTemplate::from_source(std::move(*source), "the model's", std::move(bos),
                                       std::move(eos));
    }
    // gpt-oss was trained on harmony only; other families get the most common format.
    const std::string fallback =
        file.get_string("general.architecture").value_or("") == "gpt-oss" ? "harmony" : "chatml";
    std::fprintf(stderr,
                 "bottega: the model has no chat template (tokenizer.chat_template); using the "
                 "built-in '%s' (choose another with --chat-template)\n",
                 fallback.c_str());
    return ChatTemplate::builtin(fallback, std::move(bos), std::move(eos));
  }
  const auto names = ChatTemplate::builtin_names();
  if (std::find(names.begin(), names.end(), choice) != names.end()) {
    return ChatTemplate::builtin(choice, std::move(bos), std::move(eos));
  }
  std::error_code ec;
  if (!std::filesystem::exists(choice, ec)) {
    return ChatTemplate::builtin(choice, std::move(bos), std::move(eos));  // its error lists them
  }
  std::ifstream in(choice, std::ios::binary);
  if (!in) throw Error(str("cannot read chat template file '", choice, "'"));
  std::ostringstream source;
  source << in.rdbuf();
  return ChatTemplate::from_source(source.str(), choice, std::move(bos), std::move(eos));
}

}  // namespace bottega::cli
