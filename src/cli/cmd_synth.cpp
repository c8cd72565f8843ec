// bottega synth: write a model of a chosen shape with random weights, for benchmarks and tests.
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "convert/synth.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "model/architecture.h"
#include "model/encoder_config.h"

namespace bottega::cli {
namespace {

struct SynthCliOptions {
  convert::SynthOptions synth;
  int threads = 0;
};

int synth(const SynthCliOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
  const convert::SynthSummary summary = convert::synth_model(options.synth, pool);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr,
               "bottega: wrote %s: %s, %s params, %s of %s weights in %zu tensors, "
               "vocabulary %lld, in %.1f s\n",
               options.synth.out.string().c_str(), summary.arch.c_str(),
               human_count(summary.n_params).c_str(), human_bytes(summary.tensor_bytes).c_str(),
               options.synth.type.c_str(), summary.n_tensors,
               static_cast<long long>(summary.n_vocab), seconds);
  return 0;
}

}  // namespace

Action add_synth(CLI::App& app) {
  // Upper bounds and divisibility are checked by synth_model, which names the flag at fault.
  const CLI::Range kPositive(int64_t{1}, std::numeric_limits<int64_t>::max(), "POSITIVE");
  auto options = std::make_shared<SynthCliOptions>();
  convert::SynthOptions& s = options->synth;
  CLI::App* cmd = app.add_subcommand("synth", "Write a model of a given shape with random weights");
  std::string arch_names;
  for (const Architecture& a : architectures()) {
    arch_names += str(arch_names.empty() ? "" : ", ", a.name, " (", a.families, ")");
  }
  for (const EncoderArchitecture& a : encoder_architectures()) {
    arch_names += str(", ", a.name, " (", a.families, ")");
  }
  cmd->add_option("--arch", s.arch, "Architecture: " + arch_names)->capture_default_str();
  cmd->add_option("--dim", s.dim, "Embedding width")->required()->check(kPositive);
  cmd->add_option("--layers", s.layers, "Transformer blocks")->required()->check(kPositive);
  cmd->add_option("--heads", s.heads, "Attention heads")->required()->check(kPositive);
  cmd->add_option("--kv-heads", s.kv_heads, "Key/value heads (default: --heads)")->check(kPositive);
  cmd->add_option("--head-dim", s.head_dim, "Values per attention head (default: --dim / --heads)")
      ->check(kPositive);
  cmd->add_option("--ffn", s.ffn, "Feed-forward width")->required()->check(kPositive);
  cmd->add_option("--window", s.window,
                  "Sliding window of the layers that have one (default: the family's; llama and "
                  "phi3: none)")
      ->check(kPositive);
  cmd->add_option("--ctx", s.ctx, "Trained context length to record")
      ->capture_default_str()
      ->check(kPositive);
  cmd->add_option("--experts", s.experts,
                  "Experts per layer (mixture-of-experts families; default: the family's)")
      ->check(kPositive);
  cmd->add_option("--experts-used", s.experts_used, "Experts each token uses")->check(kPositive);
  cmd->add_option(
         "--vocab-from", s.vocab_from,
         "GGUF file whose tokenizer to copy, or a Hugging Face tokenizer.json (or its directory) "
         "whose vocabulary to write")
      ->required();
  std::string types;
  for (const auto& t : convert::synth_file_types()) {
    types += (types.empty() ? "" : ", ") + std::string(t.name);
  }
  cmd->add_option("--type", s.type, "Weight type: " + types)->capture_default_str();
  cmd->add_option("--seed", s.seed, "Seed of the random weights")->capture_default_str();
  cmd->add_option("-o,--out", s.out, "GGUF file to write")->required();
  add_threads_option(*cmd, options->threads);
  return [options] { return synth(*options); };
}

}  // namespace bottega::cli
