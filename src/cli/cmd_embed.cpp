// bottega embed: the embedding of each input text under an embedding model (BERT-style encoder),
// all inputs in one forward pass.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "model/encoder.h"
#include "tokenizer/tokenizer.h"

namespace bottega::cli {
namespace {

struct EmbedCliOptions {
  std::string model;
  std::string prompt;
  std::string file;
  std::string pooling;  // empty: the model's
  bool no_normalize = false;
  bool json = false;
  int threads = 0;
};

// -p's text, or each non-empty line of -f's file.
std::vector<std::string> input_texts(const EmbedCliOptions& options) {
  if (options.file.empty()) return {options.prompt};
  std::ifstream in(options.file, std::ios::binary);
  if (!in) throw Error(str("cannot read '", options.file, "'"));
  std::vector<std::string> texts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) texts.push_back(line);
  }
  if (texts.empty()) throw Error(str("'", options.file, "' has no lines to embed"));
  return texts;
}

void print_embeddings(const std::vector<std::vector<float>>& embeddings, bool as_json) {
  if (as_json) {
    // One array per input, inside one array: a single JSON document whatever the input count.
    std::printf("%s\n", nlohmann::json(embeddings).dump().c_str());
    return;
  }
  for (const auto& embedding : embeddings) {
    std::string line;
    char value[32];
    for (float v : embedding) {
      std::snprintf(value, sizeof value, "%.9g", static_cast<double>(v));  // round-trips a float
      if (!line.empty()) line += ' ';
      line += value;
    }
    std::printf("%s\n", line.c_str());
  }
}

int embed(const EmbedCliOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  gguf::File file = open_gguf(options.model);
  const auto tokenizer = tokenizer::load_tokenizer(file);
  const Encoder encoder(std::move(file));
  std::vector<std::vector<int32_t>> inputs;
  size_t n_tokens = 0;
  for (const std::string& text : input_texts(options)) {
    // [CLS] text [SEP] as BERT expects; "[SEP]" written in the text stays text.
    inputs.push_back(tokenizer->encode(text, true, false));
    n_tokens += inputs.back().size();
  }
  EmbedOptions embed_options;
  if (options.pooling == "mean") embed_options.pooling = Pooling::kMean;
  if (options.pooling == "cls") embed_options.pooling = Pooling::kCls;
  embed_options.normalize = !options.no_normalize;
  ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
  const auto loaded = std::chrono::steady_clock::now();
  const auto embeddings = encoder.embed(inputs, embed_options, pool);
  const auto done = std::chrono::steady_clock::now();
  print_embeddings(embeddings, options.json);
  std::fprintf(stderr,
               "bottega: %zu input(s), %zu tokens, %lld dimensions: load %.2f s, embed %.3f s\n",
               inputs.size(), n_tokens, static_cast<long long>(encoder.info().n_embd),
               std::chrono::duration<double>(loaded - start).count(),
               std::chrono::duration<double>(done - loaded).count());
  return 0;
}

}  // namespace

Action add_embed(CLI::App& app) {
  auto options = std::make_shared<EmbedCliOptions>();
  CLI::App* cmd = app.add_subcommand("embed", "Embedding vectors of texts (BERT embedding models)");
  cmd->add_option("-m,--model", options->model, "GGUF embedding model or pulled model name")
      ->required();
  auto* prompt = cmd->add_option("-p,--prompt", options->prompt, "Text to embed");
  auto* file = cmd->add_option("-f,--file", options->file, "File with one text to embed per line")
                   ->excludes(prompt);
  prompt->excludes(file);
  cmd->callback([prompt, file] {
    if (prompt->count() == 0 && file->count() == 0) {
      throw CLI::RequiredError("-p or -f: the text to embed");
    }
  });
  cmd->add_option("--pooling", options->pooling,
                  "How token states become one vector (default: the model's pooling_type)")
      ->check(CLI::IsMember({"mean", "cls"}));
  cmd->add_flag("--no-normalize", options->no_normalize,
                "Print the pooled vector as is, not scaled to unit length");
  cmd->add_flag("--json", options->json, "Print one JSON array holding one array per input");
  add_threads_option(*cmd, options->threads);
  return [options] { return embed(*options); };
}

}  // namespace bottega::cli
