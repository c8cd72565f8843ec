// The subcommands of the bottega binary. Each registers its options on the app and returns the
// action to run when it was chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace bottega::cli {

using Action = std::function<int()>;

Action add_run(CLI::App& app);
Action add_tokenize(CLI::App& app);
Action add_show(CLI::App& app);
Action add_convert(CLI::App& app);
Action add_perplexity(CLI::App& app);
Action add_quantize(CLI::App& app);
Action add_synth(CLI::App& app);
Action add_bench(CLI::App& app);
Action add_hw(CLI::App& app);
Action add_fit(CLI::App& app);
Action add_pull(CLI::App& app);
Action add_list(CLI::App& app);
Action add_rm(CLI::App& app);
Action add_template(CLI::App& app);
Action add_chat(CLI::App& app);
Action add_serve(CLI::App& app);
Action add_embed(CLI::App& app);

}  // namespace bottega::cli
