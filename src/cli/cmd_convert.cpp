// bottega convert: import models from other formats into GGUF.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "convert/llama2c.h"

namespace bottega::cli {
namespace {

struct ConvertOptions {
  std::string model;
  std::string tokenizer;
  std::string out;
};

}  // namespace

Action add_convert(CLI::App& app) {
  auto options = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Convert a model from another format to GGUF");
  cmd->require_subcommand(1);
  CLI::App* llama2c = cmd->add_subcommand("llama2c", "Import a llama2.c checkpoint and tokenizer");
  llama2c->add_option("MODEL", options->model, "llama2.c checkpoint (.bin)")->required();
  llama2c->add_option("TOKENIZER", options->tokenizer, "llama2.c tokenizer (.bin)")->required();
  llama2c->add_option("OUT", options->out, "GGUF file to write")->required();
  return [options] {
    convert::llama2c_to_gguf(options->model, options->tokenizer, options->out);
    std::fprintf(stderr, "bottega: wrote %s\n", options->out.c_str());
    return 0;
  };
}

}  // namespace bottega::cli
