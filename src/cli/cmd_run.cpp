// bottega run: generate text from a prompt. stdout carries exactly the generated text, streamed;
// statistics go to stderr.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/bench.h"
#include "engine/generate.h"
#include "grammar/constraint.h"
#include "grammar/json_schema.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace bottega::cli {
namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  std::string prompt_file;
  int32_t n_predict = 128;
  int64_t n_ctx = 0;
  int threads = 0;
  SamplingParams sampling;
  bool no_special = false;
  CacheTypeOptions cache;
  DeviceOptions device;
  std::string grammar;
  std::string grammar_file;
  std::string json_schema;
  std::string json_schema_file;
};

std::string read_prompt_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(str("cannot read prompt file '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The GBNF text the options ask for (a grammar, or a JSON schema converted); empty for none.
std::string constraint_grammar(const RunOptions& options) {
  if (!options.grammar.empty()) return options.grammar;
  if (!options.grammar_file.empty()) return read_prompt_file(options.grammar_file);
  std::string schema_text = options.json_schema;
  if (!options.json_schema_file.empty()) schema_text = read_prompt_file(options.json_schema_file);
  if (schema_text.empty()) return "";
  const auto schema = nlohmann::ordered_json::parse(schema_text, nullptr, false);
  if (schema.is_discarded()) {
    throw Error("the JSON schema is not valid JSON (check quoting and commas)");
  }
  return grammar::json_schema_to_gbnf(schema);
}

int run(const RunOptions& options) {
  validate(options.sampling);
  // Checked before the model loads, so a broken grammar costs no time.
  const std::string gbnf = constraint_grammar(options);
  std::shared_ptr<const grammar::Grammar> constraint_rules;
  if (!gbnf.empty()) {
    constraint_rules = std::make_shared<const grammar::Grammar>(grammar::parse_gbnf(gbnf));
  }
  const auto load_start = std::chrono::steady_clock::now();
  gguf::File file = open_gguf_or_pull(options.model);
  auto tokenizer = tokenizer::load_tokenizer(file);
  int32_t n_ctx = 0;
  std::unique_ptr<Model> model =
      load_model_for_context(std::move(file), options.n_ctx, n_ctx, options.device);
  ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
  Session session(*model, n_ctx, pool, Session::kDefaultBatch, options.cache.types());
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  GenerateOptions generate_options;
  generate_options.n_predict = options.n_predict;
  generate_options.sampling = options.sampling;
  generate_options.parse_special = !options.no_special;
  const std::string prompt =
      options.prompt_file.empty() ? options.prompt : read_prompt_file(options.prompt_file);
  if (constraint_rules) {
    generate_options.constraint = std::make_shared<grammar::GrammarConstraint>(
        constraint_rules, grammar::TokenVocabulary::from_tokenizer(*tokenizer), prompt.empty());
  }

  const GenerateStats stats =
      generate(session, *tokenizer, prompt, generate_options, [](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        return true;
      });

  if (stats.stop == StopReason::kConstraintEnd) {
    std::fprintf(stderr, "\nbottega: the grammar allows no token the model has here; stopped\n");
  }
  auto rate = [](int32_t n, double seconds) { return seconds > 0 ? n / seconds : 0.0; };
  std::fprintf(
      stderr,
      "\nbottega: model %s (%s params, %s), context %d, %d threads\n"
      "bottega: load %.0f ms | prompt %d tokens, %.1f tok/s | generation %d tokens, %.1f tok/s\n",
      model->info().name.c_str(), human_count(model->n_params()).c_str(),
      human_bytes(model->weight_bytes()).c_str(), n_ctx, pool.size(), load_seconds * 1000.0,
      stats.n_prompt, rate(stats.n_prompt, stats.prompt_seconds), stats.n_generated,
      rate(stats.n_generated, stats.generate_seconds));
  const uint64_t peak = bench::peak_resident_bytes();
  std::fprintf(stderr,
               "bottega: KV cache %s (K %s, V %s) | peak resident memory: %llu bytes (%s)\n",
               human_bytes(session.cache().bytes()).c_str(),
               std::string(type_name(session.cache().key_type())).c_str(),
               std::string(type_name(session.cache().value_type())).c_str(),
               static_cast<unsigned long long>(peak), human_bytes(peak).c_str());
  return 0;
}

}  // namespace

Action add_run(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt");
  auto* model_flag = cmd->add_option(
      "-m,--model", options->model,
      "GGUF file, pulled model name, or Hub reference (OWNER/REPO:QUANT, pulled on first use)");
  cmd->add_option("MODEL", options->model, "The model, as for -m")->excludes(model_flag);
  cmd->callback([options] {
    if (options->model.empty()) throw CLI::RequiredError("a model (-m FILE or MODEL)");
  });
  cmd->add_option("-p,--prompt", options->prompt, "Prompt text");
  cmd->add_option("-f,--file", options->prompt_file, "Read the prompt from a file")->excludes("-p");
  cmd->add_option("-n,--n-predict", options->n_predict,
                  "Tokens to generate (-1: until end of text)")
      ->check(CLI::Range(-1, 1 << 24));
  add_context_option(*cmd, options->n_ctx);
  add_threads_option(*cmd, options->threads);
  add_device_options(*cmd, options->device);
  add_sampling_options(*cmd, options->sampling);
  cmd->add_flag("--no-parse-special", options->no_special,
                "Treat special-token text in the prompt as text");
  add_cache_type_options(*cmd, options->cache);
  auto* grammar_text =
      cmd->add_option("--grammar", options->grammar,
                      "Constrain the output to a GBNF grammar (llama.cpp's notation)");
  auto* grammar_file =
      cmd->add_option("--grammar-file", options->grammar_file, "Read the GBNF grammar from a file")
          ->excludes(grammar_text);
  auto* schema_text = cmd->add_option("-j,--json-schema", options->json_schema,
                                      "Constrain the output to JSON valid for this JSON schema")
                          ->excludes(grammar_text)
                          ->excludes(grammar_file);
  cmd->add_option("--json-schema-file", options->json_schema_file,
                  "Read the JSON schema from a file")
      ->excludes(grammar_text)
      ->excludes(grammar_file)
      ->excludes(schema_text);
  return [options] { return run(*options); };
}

}  // namespace bottega::cli
