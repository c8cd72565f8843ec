// bottega quantize: re-encode a model's weights, printing each tensor and the sizes before and
// after.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "convert/quantize.h"
#include "core/thread_pool.h"
#include "store/pull.h"

namespace bottega::cli {
namespace {

struct QuantizeOptions {
  std::string in;
  std::string out;
  std::string type;
  int threads = 0;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

int quantize(const QuantizeOptions& options) {
  ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
  open_gguf(options.in);  // a missing or non-GGUF input fails here with the usual message
  const std::string input =
      store::resolve_or_pull(options.in);  // a file, a pulled model, or a reference to pull
  size_t index = 0;
  const auto summary = convert::quantize_model(
      input, options.out, options.type, pool, [&](const convert::QuantizedTensor& t) {
        std::fprintf(stderr, "[%4zu] %-32s %-6s -> %-6s %-20s %10s -> %10s\n", ++index,
                     t.name.c_str(), std::string(type_name(t.from)).c_str(),
                     std::string(type_name(t.to)).c_str(), shape_text(t.shape).c_str(),
                     human_bytes(t.bytes_before).c_str(), human_bytes(t.bytes_after).c_str());
      });
  std::printf("quantized %zu tensors to %s: %s -> %s (%.1f%%), wrote %s\n", summary.n_tensors,
              options.type.c_str(), human_bytes(summary.bytes_before).c_str(),
              human_bytes(summary.bytes_after).c_str(),
              summary.bytes_before ? 100.0 * static_cast<double>(summary.bytes_after) /
                                         static_cast<double>(summary.bytes_before)
                                   : 0.0,
              options.out.c_str());
  return 0;
}

}  // namespace

Action add_quantize(CLI::App& app) {
  auto options = std::make_shared<QuantizeOptions>();
  CLI::App* cmd =
      app.add_subcommand("quantize", "Re-encode a GGUF model's weights in another type");
  cmd->add_option("IN", options->in, "input GGUF")->required();
  cmd->add_option("OUT", options->out, "output GGUF")->required();
  cmd->add_option("TYPE", options->type,
                  "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_M, Q5_K_M, Q6_K, Q4_K, Q5_K, BF16, F16, F32")
      ->required();
  add_threads_option(*cmd, options->threads);
  return [options] { return quantize(*options); };
}

}  // namespace bottega::cli
