// bottega tokenize: text to token ids, as the model's tokenizer sees it.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace bottega::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string prompt;
  std::string file;
  bool from_stdin = false;
  bool ids_only = false;
  bool no_bos = false;
  bool no_parse_special = false;
};

std::string input_text(const TokenizeOptions& options) {
  std::ostringstream text;
  if (options.from_stdin) {
    text << std::cin.rdbuf();
  } else if (!options.file.empty()) {
    std::ifstream in(options.file, std::ios::binary);
    if (!in) throw Error(str("cannot read '", options.file, "'"));
    text << in.rdbuf();
  } else {
    return options.prompt;
  }
  return text.str();
}

// A tokenizer.json (or a directory holding one) is read as a Hugging Face tokenizer; anything else
// is a GGUF file or a model in the store.
std::unique_ptr<tokenizer::Tokenizer> open_tokenizer(const std::string& model) {
  if (tokenizer::is_tokenizer_json_path(model)) return tokenizer::load_tokenizer_json(model);
  gguf::File file = open_gguf(model);
  return tokenizer::load_tokenizer(file);
}

int tokenize(const TokenizeOptions& options) {
  const auto tok = open_tokenizer(options.model);
  const std::vector<int32_t> ids =
      tok->encode(input_text(options), !options.no_bos, !options.no_parse_special);
  if (options.ids_only) {
    std::string line = "[";
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? ", " : "") + std::to_string(ids[i]);
    std::printf("%s]\n", line.c_str());
    return 0;
  }
  for (int32_t id : ids) {
    std::printf("%6d -> '%s'\n", id, tok->token_to_piece(id, true).c_str());
  }
  return 0;
}

}  // namespace

Action add_tokenize(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Show how a model's tokenizer splits text");
  cmd->add_option(
         "-m,--model", options->model,
         "GGUF model or vocabulary file, or a Hugging Face tokenizer.json (or its directory)")
      ->required();
  auto* prompt = cmd->add_option("-p,--prompt", options->prompt, "Text to tokenize");
  auto* file =
      cmd->add_option("-f,--file", options->file, "Read the text from a file")->excludes(prompt);
  cmd->add_flag("--stdin", options->from_stdin, "Read the text from standard input")
      ->excludes(prompt, file);
  cmd->add_flag("--ids", options->ids_only, "Print only the ids, as [id, id, ...]");
  cmd->add_flag("--no-bos", options->no_bos, "Do not add BOS/EOS tokens");
  cmd->add_flag("--no-parse-special", options->no_parse_special,
                "Treat special-token text as text");
  return [options] { return tokenize(*options); };
}

}  // namespace bottega::cli
