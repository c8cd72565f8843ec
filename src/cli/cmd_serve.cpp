// bottega serve: the OpenAI-compatible HTTP server over one model, with continuous batching (or,
// for an embedding model, batched /v1/embeddings).
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/embedding_queue.h"
#include "engine/scheduler.h"
#include "hw/memory.h"
#include "model/encoder.h"
#include "model/model.h"
#include "server/server.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace bottega::cli {
namespace {

struct ServeOptions {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 16;
  int64_t n_ctx = 0;
  int64_t kv_budget = 0;
  int threads = 0;
  int max_queue = 64;
  int batch = 512;
  std::string api_key;
  std::string alias;
  std::string chat_template;
  bool no_prefix_cache = false;
  int shutdown_grace = 10;
  CacheTypeOptions cache;
  DeviceOptions device;
};

// Headroom left to the system and to activations when the KV pool is sized from free memory.
constexpr uint64_t kMemoryReserve = 512ull << 20;
// Without --kv-budget the pool holds at most this many positions per parallel slot (and at least
// one full context), so that a long-context model does not grab all memory up front.
constexpr int64_t kDefaultTokensPerSlot = 4096;

// The KV pool in tokens. Without -c, a training context too long for free memory is shortened to
// what fits (n_ctx is updated, with a note); an explicit -c that does not fit is an error.
int64_t choose_kv_budget(const ServeOptions& options, const Model& model, int64_t& n_ctx,
                         KvCacheTypes types) {
  const ModelInfo& info = model.info();
  const uint64_t per_token = kv_bytes_per_token(info.n_layer, info.n_kv_dim(), types);
  if (options.kv_budget > 0) {
    if (options.kv_budget < n_ctx) {
      throw Error(str("--kv-budget ", options.kv_budget, " is smaller than the context ", n_ctx,
                      "; one sequence must fit: raise --kv-budget or lower -c"));
    }
    return options.kv_budget;
  }
  const int64_t cap = std::max(n_ctx, options.parallel * std::min(n_ctx, kDefaultTokensPerSlot));
  const hw::MemoryInfo memory = hw::read_memory_info();
  if (memory.available_bytes == 0) return cap;
  // The weights are mapped, not yet read: count them as still to come out of available memory.
  const uint64_t need = model.weight_bytes() + kMemoryReserve;
  const int64_t fits = memory.available_bytes > need
                           ? static_cast<int64_t>((memory.available_bytes - need) / per_token)
                           : 0;
  if (fits < n_ctx && options.n_ctx == 0 && fits >= 256) {
    const int64_t shorter = fits / 256 * 256;
    std::fprintf(stderr,
                 "bottega: note: the model's context of %lld tokens does not fit in free memory; "
                 "serving with -c %lld\n",
                 static_cast<long long>(n_ctx), static_cast<long long>(shorter));
    n_ctx = shorter;
    return std::min(std::max(n_ctx, options.parallel * std::min(n_ctx, kDefaultTokensPerSlot)),
                    fits);
  }
  if (fits < n_ctx) {
    throw Error(str("the KV cache for a context of ", n_ctx, " tokens needs ",
                    human_bytes(per_token * static_cast<uint64_t>(n_ctx)), " but only ",
                    human_bytes(memory.available_bytes), " of memory is available for weights (",
                    human_bytes(model.weight_bytes()),
                    ") and cache; lower -c, use -ctk/-ctv q8_0, or a smaller model"));
  }
  return std::min(cap, fits);
}

// Blocks SIGINT/SIGTERM in every thread started after this, so one thread can wait for them.
sigset_t block_shutdown_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

server::ServerConfig server_config(const ServeOptions& options) {
  server::ServerConfig config;
  config.host = options.host;
  config.port = options.port;
  config.api_key = options.api_key;
  if (config.api_key.empty()) {
    if (const char* key = std::getenv("BOTTEGA_API_KEY")) config.api_key = key;
  }
  config.model_id = !options.alias.empty()
                        ? options.alias
                        : std::filesystem::path(options.model).filename().string();
  config.http_threads = options.parallel + options.max_queue + 8;
  return config;
}

// Serves until SIGINT/SIGTERM; `drain` lets running work finish within the grace period.
void serve_until_signalled(server::Server& server, const sigset_t& signals,
                           const ServeOptions& options, const std::function<void()>& drain) {
  std::thread waiter([&] {
    int received = 0;
    sigwait(&signals, &received);
    std::fprintf(stderr, "bottega: %s received, finishing requests (at most %d s)\n",
                 received == SIGINT ? "SIGINT" : "SIGTERM", options.shutdown_grace);
    drain();
    server.stop();
  });
  server.serve();
  // serve() only returns once stop() ran (or the listener failed): make sure the waiter ends.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  std::fprintf(stderr, "bottega: server stopped\n");
}

// An embedding model needs no KV cache and no scheduler: /v1/embeddings requests are batched by
// an EmbeddingQueue, up to --batch-size tokens per forward pass (at least one whole request).
int serve_encoder(const ServeOptions& options, gguf::File file, const sigset_t& signals) {
  if (options.device.device != "cpu") {
    throw Error(str("--device ", options.device.device,
                    ": embedding models run on the CPU only for now; leave out --device"));
  }
  auto tokenizer = tokenizer::load_tokenizer(file);
  const Encoder encoder(std::move(file));
  ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
  EmbeddingQueueConfig queue_config;
  queue_config.batch_tokens = options.batch;
  queue_config.max_queue = options.max_queue;
  EmbeddingQueue queue(encoder, pool, queue_config);
  const server::ServerConfig config = server_config(options);
  server::Server server(config, queue, *tokenizer);
  server.bind();
  std::fprintf(stderr,
               "bottega: serving %s (%s embedding model, %s weights, %lld dimensions) on "
               "http://%s:%d\n"
               "bottega: inputs up to %lld tokens, %d tokens per batch, queue %d, %d threads%s\n",
               config.model_id.c_str(), encoder.info().architecture.c_str(),
               human_bytes(encoder.weight_bytes()).c_str(),
               static_cast<long long>(encoder.info().n_embd), options.host.c_str(),
               server.bound_port(), static_cast<long long>(encoder.max_tokens()), options.batch,
               options.max_queue, pool.size(), config.api_key.empty() ? "" : ", API key required");
  std::fflush(stderr);
  serve_until_signalled(server, signals, options, [&] { queue.shutdown(); });
  return 0;
}

int serve(const ServeOptions& options) {
  const sigset_t signals = block_shutdown_signals();
  gguf::File file = open_gguf_or_pull(options.model);
  if (is_encoder_file(file)) return serve_encoder(options, std::move(file), signals);
  auto tokenizer = tokenizer::load_tokenizer(file);
  const ChatTemplate chat_template = choose_chat_template(options.chat_template, file, *tokenizer);
  std::unique_ptr<Model> model =
      load_model_on_device(std::move(file), options.n_ctx, options.device);
  const ModelInfo& info = model->info();

  const KvCacheTypes types = options.cache.types();
  int64_t n_ctx = std::min<int64_t>(options.n_ctx > 0 ? options.n_ctx : info.n_ctx_train, 1 << 24);
  SchedulerConfig config;
  config.kv_tokens = static_cast<int32_t>(choose_kv_budget(options, *model, n_ctx, types));
  config.max_context = static_cast<int32_t>(n_ctx);
  config.max_running = options.parallel;
  config.max_queue = options.max_queue;
  config.batch_tokens = options.batch;
  config.prefix_caching = !options.no_prefix_cache;
  config.kv_types = types;

  ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
  Scheduler scheduler(*model, pool, config);

  const server::ServerConfig http_config = server_config(options);
  server::Server server(http_config, scheduler, *tokenizer, chat_template);
  server.bind();

  const uint64_t kv_bytes = kv_bytes_per_token(info.n_layer, info.n_kv_dim(), types) *
                            static_cast<uint64_t>(config.kv_tokens);
  std::fprintf(stderr,
               "bottega: serving %s (%s, %s weights) on http://%s:%d\n"
               "bottega: context %d per sequence, KV pool %d tokens (%s, K %s, V %s), %d parallel, "
               "queue %d, %d threads, chat template %s%s\n",
               http_config.model_id.c_str(), info.architecture.c_str(),
               human_bytes(model->weight_bytes()).c_str(), options.host.c_str(),
               server.bound_port(), config.max_context, config.kv_tokens,
               human_bytes(kv_bytes).c_str(), std::string(type_name(types.key)).c_str(),
               std::string(type_name(types.value)).c_str(), config.max_running, config.max_queue,
               pool.size(), chat_template.name().c_str(),
               http_config.api_key.empty() ? "" : ", API key required");
  std::fflush(stderr);
  serve_until_signalled(server, signals, options,
                        [&] { scheduler.shutdown(std::chrono::seconds(options.shutdown_grace)); });
  return 0;
}

}  // namespace

Action add_serve(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server");
  cmd->add_option("-m,--model", options->model, "GGUF model file or pulled model name")->required();
  cmd->add_option("--host", options->host, "Address to listen on (default: loopback only)");
  cmd->add_option("--port", options->port, "Port (0: any free port)")->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", options->parallel, "Sequences evaluated together")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("-c,--ctx-size", options->n_ctx,
                  "Longest context of one sequence (0: the model's training context)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  cmd->add_option("--kv-budget", options->kv_budget,
                  "KV cache pool shared by all sequences, in tokens (0: what fits in free memory, "
                  "at most 4096 per parallel slot)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 28));
  cmd->add_option("-t,--threads", options->threads, "Compute threads (default: physical cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--max-queue", options->max_queue,
                  "Requests that may wait for a slot before the server answers 429")
      ->check(CLI::Range(0, 1 << 16));
  cmd->add_option("-b,--batch-size", options->batch, "Tokens per forward pass")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--api-key", options->api_key,
                  "Require 'Authorization: Bearer KEY' (default: $BOTTEGA_API_KEY, else none)");
  cmd->add_option("--alias", options->alias, "Model name clients see (default: the file name)");
  cmd->add_option("--chat-template", options->chat_template,
                  "Built-in template name or .jinja file (default: the model's own)");
  cmd->add_flag("--no-prefix-cache", options->no_prefix_cache,
                "Do not share KV cache blocks between prompts with the same beginning");
  cmd->add_option("--shutdown-grace", options->shutdown_grace,
                  "Seconds running requests may take to finish after SIGINT/SIGTERM")
      ->check(CLI::Range(0, 3600));
  add_cache_type_options(*cmd, options->cache);
  add_device_options(*cmd, options->device);
  return [options] { return serve(*options); };
}

}  // namespace bottega::cli
