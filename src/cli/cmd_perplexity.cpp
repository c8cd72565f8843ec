// bottega perplexity: how well a model predicts a text, comparable with llama.cpp's numbers, and
// how far a quantized model drifts from its base (KL divergence).
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "engine/perplexity.h"
#include "model/model.h"

namespace bottega::cli {
namespace {

struct PerplexityCliOptions {
  std::string model;
  std::string file;
  int threads = 0;
  PerplexityOptions engine;
  CacheTypeOptions cache;
  DeviceOptions device;
};

int perplexity(const PerplexityCliOptions& options) {
  std::ifstream in(options.file, std::ios::binary);
  if (!in) throw Error(str("cannot read text file '", options.file, "'"));
  std::ostringstream text;
  text << in.rdbuf();

  gguf::File file = open_gguf(options.model);
  const auto tokenizer = tokenizer::load_tokenizer(file);
  const auto model = load_model_on_device(std::move(file), options.engine.n_ctx, options.device);
  ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
  std::fprintf(stderr, "bottega: perplexity of %s over '%s', context %d, batch %d, %d threads\n",
               model->info().name.c_str(), options.file.c_str(), options.engine.n_ctx,
               options.engine.n_batch, pool.size());
  PerplexityOptions engine = options.engine;
  engine.cache_types = options.cache.types();
  const PerplexityResult result = compute_perplexity(*model, *tokenizer, text.str(), engine, pool,
                                                     [](int32_t chunk, double ppl) {
                                                       std::printf("[%d]%.4f,", chunk, ppl);
                                                       std::fflush(stdout);
                                                     });
  std::printf("\nFinal estimate: PPL = %.4f +/- %.5f (%lld tokens in %d chunks)\n", result.ppl,
              result.ppl_uncertainty, static_cast<long long>(result.n_scored), result.n_chunks);
  if (result.kl) {
    std::printf(
        "Mean KLD: %.6f +/- %.6f\nSame top token: %.3f%%\nBase PPL: %.4f\nPPL ratio: %.6f\n",
        result.kl->mean_kl, result.kl->kl_uncertainty, 100.0 * result.kl->top1_agreement,
        result.kl->base_ppl, result.kl->ppl_ratio);
  }
  if (!options.engine.save_base_path.empty()) {
    std::fprintf(stderr, "bottega: saved log-probabilities to %s\n",
                 options.engine.save_base_path.c_str());
  }
  return 0;
}

}  // namespace

Action add_perplexity(CLI::App& app) {
  auto options = std::make_shared<PerplexityCliOptions>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Measure a model's perplexity on a text");
  cmd->add_option("-m,--model", options->model, "GGUF model file")->required();
  cmd->add_option("-f,--file", options->file, "Text file to score")->required();
  cmd->add_option("-c,--ctx-size", options->engine.n_ctx, "Tokens per chunk (second half scored)")
      ->check(CLI::Range(4, 1 << 20));
  cmd->add_option("-b,--batch-size", options->engine.n_batch, "Tokens per forward pass")
      ->check(CLI::Range(1, 1 << 20));
  add_threads_option(*cmd, options->threads);
  add_device_options(*cmd, options->device);
  auto* save = cmd->add_option("--kl-divergence-base", options->engine.save_base_path,
                               "Save this model's log-probabilities to FILE as a KL base");
  cmd->add_option("--kl-divergence", options->engine.compare_base_path,
                  "Compare against log-probabilities saved with --kl-divergence-base")
      ->excludes(save);
  add_cache_type_options(*cmd, options->cache);
  return [options] { return perplexity(*options); };
}

}  // namespace bottega::cli
