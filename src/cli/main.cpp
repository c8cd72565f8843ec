// bottega: one binary, many subcommands. Exit codes: 0 success, 1 error, 2 wrong usage.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"bottega: run open-weight models locally", "bottega"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bottega 0.1.0");
  std::map<const CLI::App*, bottega::cli::Action> actions;
  for (auto* add : {bottega::cli::add_run, bottega::cli::add_tokenize, bottega::cli::add_show,
                    bottega::cli::add_convert, bottega::cli::add_synth, bottega::cli::add_bench,
                    bottega::cli::add_hw, bottega::cli::add_fit, bottega::cli::add_perplexity,
                    bottega::cli::add_quantize, bottega::cli::add_pull, bottega::cli::add_list,
                    bottega::cli::add_rm, bottega::cli::add_serve, bottega::cli::add_template,
                    bottega::cli::add_chat, bottega::cli::add_embed}) {
    auto action = add(app);
    actions[app.get_subcommands({}).back()] = std::move(action);
  }

  const auto subcommands = app.get_subcommands({});
  const bool known =
      argc > 1 && std::any_of(subcommands.begin(), subcommands.end(),
                              [&](const CLI::App* c) { return c->check_name(argv[1]); });
  if (argc > 1 && argv[1][0] != '-' && !known) {
    std::fprintf(stderr,
                 "bottega: unknown command '%s'\nRun 'bottega --help' for the list of commands.\n",
                 argv[1]);
    return 2;
  }
  try {
    std::vector<std::string> args = bottega::cli::long_form_flags(argc, argv);
    std::vector<char*> long_argv;
    for (std::string& arg : args) long_argv.push_back(arg.data());
    app.parse(argc, long_argv.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr,
                 "bottega: %s\nRun 'bottega --help' or 'bottega COMMAND --help' for usage.\n",
                 e.what());
    return 2;
  }

  try {
    for (const auto& [command, action] : actions) {
      if (command->parsed()) return action();
    }
    return 2;
  } catch (const bottega::Error& e) {
    std::fprintf(stderr, "bottega: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "bottega: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bottega: error: %s\n", e.what());
    return 1;
  }
}
