// bottega chat: multi-turn chat with a model through its chat template (or a named built-in one),
// streaming each answer. Each turn re-renders the whole conversation and evaluates it afresh, so
// what the model sees is always exactly what the template produces; the oldest turns are dropped
// when the conversation no longer fits the context. Ctrl-C stops the answer being written.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/generate.h"
#include "model/model.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace bottega::cli {
namespace {

using nlohmann::ordered_json;

struct ChatOptions {
  std::string model;
  std::string chat_template;
  std::string prompt;
  std::string system;
  int32_t n_predict = 512;
  int64_t n_ctx = 0;
  int threads = 0;
  SamplingParams sampling;
  DeviceOptions device;
};

// The one piece of process-wide state: a signal handler can reach nothing else.
std::atomic<bool> g_interrupted{false};

void on_sigint(int) {
  g_interrupted.store(true);
}

// SIGINT interrupts the answer (and a pending read) instead of ending the process.
class InterruptGuard {
 public:
  InterruptGuard() {
    struct sigaction action {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: a read at the prompt returns so the loop can go on
    sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptGuard() { sigaction(SIGINT, &previous_, nullptr); }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction previous_ {};
};

class Chat {
 public:
  Chat(const ChatOptions& options, const ChatTemplate& chat_template,
       const tokenizer::Tokenizer& tok, Session& session)
      : options_(options),
        template_(chat_template),
        tokenizer_(tok),
        session_(session),
        system_(options.system) {}

  void set_system(const std::string& text) {
    system_ = text;
    std::fprintf(stderr, "bottega: system prompt %s\n", text.empty() ? "cleared" : "set");
  }
  void reset() { turns_ = ordered_json::array(); }

  // Streams the answer to stdout and adds the exchange to the history.
  void answer(const std::string& user_text) {
    turns_.push_back({{"role", "user"}, {"content", user_text}});
    std::string prompt;
    try {
      prompt = fitting_prompt();
    } catch (const Error&) {
      turns_.erase(turns_.end() - 1);
      throw;
    }
    GenerateOptions generate_options;
    generate_options.n_predict = options_.n_predict;
    generate_options.sampling = options_.sampling;
    generate_options.add_special = false;  // the template writes BOS where the model wants it
    generate_options.parse_special = true;
    std::string reply;
    // Reasoning (gpt-oss's analysis channel) goes to stderr, dimmed on a terminal, so stdout and
    // the conversation's history hold the answer alone.
    bool in_reasoning = false;
    const bool dim = isatty(fileno(stderr)) != 0;
    auto end_reasoning = [&] {
      if (!in_reasoning) return;
      in_reasoning = false;
      std::fputs(dim ? "\x1b[0m\n" : "\n", stderr);
      std::fflush(stderr);
    };
    generate_options.on_reasoning = [&](std::string_view text) {
      if (g_interrupted.load()) return false;
      if (!in_reasoning && dim) std::fputs("\x1b[2m", stderr);
      in_reasoning = true;
      std::fwrite(text.data(), 1, text.size(), stderr);
      std::fflush(stderr);
      return true;
    };
    g_interrupted.store(false);
    session_.reset();
    const GenerateStats stats =
        generate(session_, tokenizer_, prompt, generate_options, [&](std::string_view text) {
          if (g_interrupted.load()) return false;
          end_reasoning();
          reply += text;
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
          return true;
        });
    end_reasoning();
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (stats.stop == StopReason::kCancelled) std::fprintf(stderr, "bottega: [stopped]\n");
    turns_.push_back({{"role", "assistant"}, {"content", reply}});
  }

 private:
  ordered_json messages() const {
    ordered_json all = ordered_json::array();
    if (!system_.empty()) all.push_back({{"role", "system"}, {"content", system_}});
    for (const auto& turn : turns_) all.push_back(turn);
    return all;
  }

  // Drops the oldest exchanges until the prompt leaves room for the answer.
  std::string fitting_prompt() {
    const int32_t room = options_.n_predict > 0 ? options_.n_predict : session_.n_ctx() / 4;
    while (true) {
      const std::string prompt = template_.apply(messages(), nullptr, true, ordered_json::object());
      const auto n_tokens = static_cast<int32_t>(tokenizer_.encode(prompt, false, true).size());
      if (n_tokens + room <= session_.n_ctx()) return prompt;
      if (turns_.size() <= 1) {
        throw Error(str("the message takes ", n_tokens, " tokens with the template, and with ",
                        room, " for the answer that exceeds the context of ", session_.n_ctx(),
                        "; raise it with -c, lower -n or send a shorter message"));
      }
      turns_.erase(turns_.begin(), turns_.begin() + std::min<ptrdiff_t>(2, turns_.size() - 1));
      std::fprintf(stderr, "bottega: dropped the oldest turn to fit the context of %d tokens\n",
                   session_.n_ctx());
    }
  }

  const ChatOptions& options_;
  const ChatTemplate& template_;
  const tokenizer::Tokenizer& tokenizer_;
  Session& session_;
  std::string system_;
  ordered_json turns_ = ordered_json::array();
};

int chat(const ChatOptions& options) {
  validate(options.sampling);
  gguf::File file = open_gguf_or_pull(options.model);
  auto tok = tokenizer::load_tokenizer(file);
  const ChatTemplate chat_template = choose_chat_template(options.chat_template, file, *tok);
  int32_t n_ctx = 0;
  std::unique_ptr<Model> model =
      load_model_for_context(std::move(file), options.n_ctx, n_ctx, options.device);
  ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
  Session session(*model, n_ctx, pool);
  Chat conversation(options, chat_template, *tok, session);
  InterruptGuard interrupt_guard;

  if (!options.prompt.empty()) {
    conversation.answer(options.prompt);
    return 0;
  }
  std::fprintf(stderr,
               "bottega: chatting with %s (template '%s', context %d). /system TEXT, /reset, "
               "/exit; Ctrl-C stops an answer, Ctrl-D quits.\n",
               model->info().name.c_str(), chat_template.name().c_str(), n_ctx);
  std::string line;
  while (true) {
    std::fputs("> ", stderr);
    g_interrupted.store(false);
    if (!std::getline(std::cin, line)) {
      if (g_interrupted.load() && !std::cin.eof()) {  // Ctrl-C at the prompt: keep going
        std::cin.clear();
        std::fputs("\n", stderr);
        continue;
      }
      return 0;
    }
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") return 0;
    if (line == "/reset") {
      conversation.reset();
      std::fprintf(stderr, "bottega: conversation cleared\n");
    } else if (line.rfind("/system", 0) == 0) {
      const size_t start = line.find_first_not_of(' ', 7);
      conversation.set_system(start == std::string::npos ? "" : line.substr(start));
    } else {
      try {
        conversation.answer(line);
      } catch (const Error& e) {  // one turn failed; the conversation goes on
        std::fprintf(stderr, "bottega: error: %s\n", e.what());
      }
    }
  }
}

}  // namespace

Action add_chat(CLI::App& app) {
  auto options = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat with a model, turn by turn");
  cmd->add_option("-m,--model", options->model, "GGUF model file or pulled model")->required();
  cmd->add_option(
      "--chat-template", options->chat_template,
      "Built-in template name (chatml, llama3, llama2, mistral, gemma, phi3, harmony) or a "
      ".jinja file (default: the model's own)");
  cmd->add_option("-p,--prompt", options->prompt, "Answer this one message and exit");
  cmd->add_option("--system", options->system, "System prompt");
  cmd->add_option("-n,--n-predict", options->n_predict,
                  "Most tokens per answer (-1: until end of turn)")
      ->check(CLI::Range(-1, 1 << 24));
  add_context_option(*cmd, options->n_ctx);
  add_threads_option(*cmd, options->threads);
  add_device_options(*cmd, options->device);
  add_sampling_options(*cmd, options->sampling);
  return [options] { return chat(*options); };
}

}  // namespace bottega::cli
