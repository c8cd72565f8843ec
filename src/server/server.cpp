#include "server/server.h"

#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>

#include "core/error.h"
#include "grammar/constraint.h"
#include "grammar/json_schema.h"
#include "server/client_connection.h"
#include "server/embeddings.h"
#include "server/metrics.h"
#include "server/openai_request.h"
#include "server/relay.h"
#include "server/tool_calls.h"
#include "server/web_assets.h"

namespace bottega::server {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

namespace {

std::string dump(const json& value) {
  // Token pieces may be partial UTF-8; never throw on them.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

const char* finish_reason_name(FinishReason reason, bool stopped_by_text) {
  if (stopped_by_text || reason == FinishReason::kStop) return "stop";
  return "length";
}

// Hands work to the scheduler or the embedding queue; what they refuse becomes the status a client
// can act on: 429 when the queue is full, 503 while shutting down, else 400 (naming `param`).
template <typename Submit>
auto submit_or_reply_error(Submit&& submit, std::optional<std::string> param = std::nullopt) {
  try {
    return submit();
  } catch (const QueueFullError& e) {
    throw ApiError(429, std::string("The server is busy: ") + e.what(), "rate_limit_error",
                   std::nullopt, "rate_limit_exceeded");
  } catch (const ShuttingDownError& e) {
    throw ApiError(503, std::string(e.what()) + "; retry on another server.", "server_error",
                   std::nullopt, "service_unavailable");
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "invalid_request_error", std::move(param));
  }
}

json tool_call_json(const ToolCall& call) {
  return {{"id", call.id},
          {"type", "function"},
          {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
}

// OpenAI lets content be a list of parts; templates expect text. Text parts are joined.
json flatten_content(const json& messages) {
  json out = messages;
  for (size_t i = 0; i < out.size(); ++i) {
    auto content = out[i].find("content");
    if (content == out[i].end() || !content->is_array()) continue;
    std::string text;
    for (const auto& part : *content) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
          !part["text"].is_string()) {
        throw ApiError(400, "Only text content parts are supported.", "invalid_request_error",
                       "messages[" + std::to_string(i) + "].content");
      }
      if (!text.empty()) text += "\n";
      text += part["text"].get<std::string>();
    }
    *content = text;
  }
  return out;
}

// A GET (or HEAD) of one of the chat page's files, which needs no API key.
bool is_page_request(const httplib::Request& req) {
  return (req.method == "GET" || req.method == "HEAD") && find_web_asset(req.path).has_value();
}

// The route of the page file `name`: "/name" as httplib's regular expression (dots escaped).
std::string route_pattern(std::string_view name) {
  std::string pattern = "/";
  for (char c : name) {
    if (c == '.') pattern += '\\';
    pattern += c;
  }
  return pattern;
}

}  // namespace

struct Server::Impl {
  // Exactly one of s and e is given: a text-generating model or an embedding model.
  Impl(ServerConfig c, Scheduler* s, EmbeddingQueue* e, const tokenizer::Tokenizer& t,
       const ChatTemplate* tmpl)
      : config(std::move(c)),
        scheduler(s),
        embeddings(e),
        tokenizer(t),
        chat_template(tmpl),
        created(unix_time()),
        tool_format(tokenizer::HarmonySplitter::for_tokenizer(t) ? ToolFormat::kHarmony
                    : tmpl != nullptr ? detect_tool_format(tmpl->source())
                                      : ToolFormat::kHermes),
        marker_tokens(find_marker_tokens()) {}

  void install_routes();
  void install_page_routes();
  bool authorized(const httplib::Request& req) const;
  void reply_error(httplib::Response& res, const ApiError& error) const;
  void handle_completion(const httplib::Request& req, httplib::Response& res, bool chat);
  void handle_embeddings(const httplib::Request& req, httplib::Response& res);
  std::vector<std::vector<int32_t>> embedding_inputs(const EmbeddingParams& params) const;
  void abandon(SequenceHandle& handle, httplib::Response& res, const std::string& endpoint);
  // reply_header: text the prompt ends with that opens the model's reply (a harmony channel).
  std::vector<int32_t> prompt_tokens(const CompletionParams& params,
                                     const std::string& reply_header) const;
  // The vocabulary as grammars see it, built on the first request that needs one.
  // with_markers: the tool-call markers count as text (requests with tools).
  std::shared_ptr<const grammar::TokenVocabulary> token_vocabulary(bool with_markers) {
    if (with_markers) {
      std::call_once(marker_vocabulary_once, [this] {
        std::vector<std::pair<int32_t, std::string>> texts;
        const std::vector<std::string> markers = tool_markers(tool_format);
        for (const std::string& marker : markers) {
          const int32_t id = tokenizer.find_token(marker);
          if (std::find(marker_tokens.begin(), marker_tokens.end(), id) != marker_tokens.end()) {
            texts.emplace_back(id, tool_marker_grammar_text(tool_format, marker));
          }
        }
        marker_vocabulary = grammar::TokenVocabulary::from_tokenizer(
            tokenizer, texts, tool_format == ToolFormat::kHarmony);
      });
      return marker_vocabulary;
    }
    std::call_once(vocabulary_once,
                   [this] { vocabulary = grammar::TokenVocabulary::from_tokenizer(tokenizer); });
    return vocabulary;
  }
  // The control tokens among the tool format's markers, which tool requests show as text.
  std::vector<int32_t> find_marker_tokens() const {
    std::vector<int32_t> ids;
    for (const auto& marker : tool_markers(tool_format)) {
      const int32_t id = tokenizer.find_token(marker);
      if (id >= 0 && tokenizer.token_to_piece(id).empty()) ids.push_back(id);
    }
    return ids;
  }
  std::string new_call_id() {
    std::random_device device;
    return new_tool_call_id(tool_format, [&device] { return device(); });
  }
  std::string new_id(bool chat) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%016llx",
                  static_cast<unsigned long long>(id_seed ^ (next_id++ * 0x9E3779B97F4A7C15ull)));
    return (chat ? "chatcmpl-" : "cmpl-") + std::string(buffer);
  }

  ServerConfig config;
  Scheduler* scheduler;        // null for an embedding model
  EmbeddingQueue* embeddings;  // null for a text-generating model
  const tokenizer::Tokenizer& tokenizer;
  const ChatTemplate* chat_template;
  int64_t created;
  Metrics metrics;
  httplib::Server http;
  int port = -1;
  std::atomic<uint64_t> next_id{1};
  uint64_t id_seed = std::random_device{}();
  std::once_flag vocabulary_once;
  std::shared_ptr<const grammar::TokenVocabulary> vocabulary;
  ToolFormat tool_format = ToolFormat::kHermes;
  std::vector<int32_t> marker_tokens;
  std::once_flag marker_vocabulary_once;
  std::shared_ptr<const grammar::TokenVocabulary> marker_vocabulary;
};

Server::Server(ServerConfig config, Scheduler& scheduler, const tokenizer::Tokenizer& tokenizer,
               const ChatTemplate& chat_template)
    : impl_(std::make_unique<Impl>(std::move(config), &scheduler, nullptr, tokenizer,
                                   &chat_template)) {
  impl_->install_routes();
}

Server::Server(ServerConfig config, EmbeddingQueue& embeddings,
               const tokenizer::Tokenizer& tokenizer)
    : impl_(std::make_unique<Impl>(std::move(config), nullptr, &embeddings, tokenizer, nullptr)) {
  impl_->install_routes();
}

Server::~Server() = default;

void Server::bind() {
  auto& http = impl_->http;
  const auto& c = impl_->config;
  if (c.port == 0) {
    impl_->port = http.bind_to_any_port(c.host);
  } else {
    impl_->port = http.bind_to_port(c.host, c.port) ? c.port : -1;
  }
  if (impl_->port < 0) {
    throw Error(str("cannot listen on ", c.host, ":", c.port,
                    " (is another server using the port? choose one with --port)"));
  }
}

int Server::bound_port() const {
  return impl_->port;
}

void Server::serve() {
  impl_->http.listen_after_bind();
}

void Server::stop() {
  impl_->http.stop();
}

bool Server::Impl::authorized(const httplib::Request& req) const {
  if (config.api_key.empty()) return true;
  const std::string header = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  return header.size() > prefix.size() && header.compare(0, prefix.size(), prefix) == 0 &&
         header.substr(prefix.size()) == config.api_key;
}

void Server::Impl::reply_error(httplib::Response& res, const ApiError& error) const {
  res.status = error.status;
  res.set_content(dump(error_body(error)), "application/json");
}

void Server::Impl::install_routes() {
  http.new_task_queue = [n = config.http_threads] {
    return new httplib::ThreadPool(static_cast<size_t>(n));
  };
  http.set_payload_max_length(config.max_body_bytes);
  http.set_read_timeout(std::chrono::seconds(30));

  // The chat page's own files hold no secret and no data, so a browser can load them without the
  // key; every API call the page makes then carries the key its user typed in.
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/health" || is_page_request(req) || authorized(req))
      return httplib::Server::HandlerResponse::Unhandled;
    reply_error(res, ApiError(401,
                              "Incorrect API key provided. Pass it as 'Authorization: Bearer KEY' "
                              "(the server's --api-key or BOTTEGA_API_KEY).",
                              "invalid_request_error", std::nullopt, "invalid_api_key"));
    metrics.count_request(req.path, 401);
    return httplib::Server::HandlerResponse::Handled;
  });

  // Statuses httplib produces itself (unknown route, oversized body) get OpenAI's error shape too.
  http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      reply_error(res, ApiError(404,
                                "Unknown request URL: " + req.method + " " + req.path +
                                    ". See the OpenAI API reference for the routes.",
                                "invalid_request_error", std::nullopt, "unknown_url"));
    } else if (res.status == 413) {
      reply_error(res, ApiError(413,
                                str("The request body is larger than the limit of ",
                                    config.max_body_bytes, " bytes."),
                                "invalid_request_error", std::nullopt, "request_too_large"));
    } else {
      reply_error(res, ApiError(res.status, "HTTP error " + std::to_string(res.status) + ".",
                                "invalid_request_error"));
    }
    metrics.count_request(req.path, res.status);
  });

  http.set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        reply_error(res, ApiError(500, "Internal server error.", "server_error"));
        metrics.count_request(req.path, 500);
      });

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
    metrics.count_request("/health", 200);
  });

  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::string text = metrics.render(scheduler != nullptr ? scheduler->stats() : SchedulerStats{});
    if (embeddings != nullptr) text += Metrics::render(embeddings->stats());
    res.set_content(text, "text/plain; version=0.0.4");
  });

  auto model_object = [this] {
    return json{{"id", config.model_id},
                {"object", "model"},
                {"created", created},
                {"owned_by", "bottega"},
                {"max_model_len", scheduler != nullptr ? scheduler->config().max_context
                                                       : embeddings->encoder().max_tokens()}};
  };
  http.Get("/v1/models", [this, model_object](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump({{"object", "list"}, {"data", json::array({model_object()})}}),
                    "application/json");
    metrics.count_request("/v1/models", 200);
  });
  http.Get(R"(/v1/models/(.+))",
           [this, model_object](const httplib::Request& req, httplib::Response& res) {
             if (req.matches[1] != config.model_id) {
               reply_error(res, ApiError(404,
                                         "The model '" + std::string(req.matches[1]) +
                                             "' does not exist; this server serves '" +
                                             config.model_id + "'.",
                                         "invalid_request_error", "model", "model_not_found"));
               return;
             }
             res.set_content(dump(model_object()), "application/json");
           });

  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(req, res, true);
  });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(req, res, false);
  });
  http.Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
    handle_embeddings(req, res);
  });
  install_page_routes();
}

// GET / and GET /NAME for each file of the chat page (server/web_assets.h).
void Server::Impl::install_page_routes() {
  auto serve = [this](const httplib::Request& req, httplib::Response& res) {
    const std::optional<WebAsset> asset = find_web_asset(req.path);
    if (!asset) {  // the route patterns only admit the page's paths; this is a safety net
      res.status = 404;
      return;
    }
    // The page loads nothing but its own files and talks only to this server, so even text that
    // slipped past its escaping could not load or send anything elsewhere.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                   "img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                   "frame-ancestors 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-cache");  // a new binary's page is picked up at once
    res.set_content(std::string(asset->body), std::string(asset->content_type));
    metrics.count_request(req.path, 200);
  };
  http.Get("/", serve);
  for (const EmbeddedFile& file : embedded_web_files()) {
    http.Get(route_pattern(file.name), serve);
  }
}

std::vector<int32_t> Server::Impl::prompt_tokens(const CompletionParams& params,
                                                 const std::string& reply_header) const {
  if (!params.chat) {
    if (params.prompt_tokens) {
      for (int32_t id : *params.prompt_tokens) {
        if (id >= tokenizer.n_vocab()) {
          throw ApiError(400,
                         str("Token id ", id, " is outside the vocabulary (", tokenizer.n_vocab(),
                             " tokens)."),
                         "invalid_request_error", "prompt", "invalid_value");
        }
      }
      return *params.prompt_tokens;
    }
    return tokenizer.encode(params.prompt, true, true);
  }
  std::string text;
  json messages = flatten_content(params.messages);
  // tool_choice "none" still shows the tools (the conversation may mention them); no call is read.
  json tools = params.tools;
  if (!tools.is_null() && !template_renders_tools(chat_template->source())) {
    // A template that knows no tools still gets them: as (part of) the system message.
    const std::string listing = tools_system_prompt(tools);
    if (!messages.empty() && messages[0]["role"] == "system" &&
        messages[0]["content"].is_string()) {
      messages[0]["content"] = messages[0]["content"].get<std::string>() + "\n\n" + listing;
    } else {
      messages.insert(messages.begin(), json{{"role", "system"}, {"content", listing}});
    }
    tools = nullptr;
  }
  try {
    text = chat_template->apply(messages, tools, true, json::object());
  } catch (const Error& e) {
    throw ApiError(400, std::string("The chat template rejected the messages: ") + e.what(),
                   "invalid_request_error", "messages");
  }
  // The template normally writes BOS itself; add it only when the vocabulary wants one and the
  // rendering does not start with it.
  const auto& vocab = tokenizer.vocab();
  std::vector<int32_t> tokens = tokenizer.encode(text, false, true);
  if (vocab.add_bos && vocab.bos >= 0 && (tokens.empty() || tokens.front() != vocab.bos)) {
    tokens.insert(tokens.begin(), vocab.bos);
  }
  const std::vector<int32_t> header = tokenizer.encode(reply_header, false, true);
  tokens.insert(tokens.end(), header.begin(), header.end());
  return tokens;
}

namespace {

// Everything one completion request carries between its handler and its stream.
struct Exchange {
  CompletionParams params;
  std::shared_ptr<SequenceHandle> handle;
  std::unique_ptr<Relay> relay;
  std::unique_ptr<ToolCallParser> tools;  // chats offering tools
  int n_calls_sent = 0;                   // streamed tool calls so far
  std::vector<int32_t> reply_header;      // the prompt's last tokens, opening the reply
  std::string id;
  int64_t created = 0;
  Clock::time_point arrived;
  Clock::time_point last_token;
  std::vector<GeneratedToken> first_tokens;  // received before the response began
  bool saw_token = false;
};

// Thrown while a request waits for its first token and its client has closed the connection.
struct ClientGone {};

}  // namespace

// The client closed its connection before the answer was ready: nobody will read it, so the
// sequence stops now and its KV blocks return at the scheduler's next step. 499 is nginx's
// "client closed request", kept apart from the statuses a client actually received.
void Server::Impl::abandon(SequenceHandle& handle, httplib::Response& res,
                           const std::string& endpoint) {
  handle.cancel();
  reply_error(res, ApiError(499, "The client closed the connection before the answer was ready.",
                            "invalid_request_error", std::nullopt, "client_closed_request"));
  metrics.count_request(endpoint, 499);
  metrics.count_disconnect(endpoint);
}

void Server::Impl::handle_completion(const httplib::Request& req, httplib::Response& res,
                                     bool chat) {
  const std::string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
  ClientConnection client(req);
  auto ex = std::make_shared<Exchange>();
  ex->arrived = Clock::now();
  ex->created = unix_time();
  ex->id = new_id(chat);
  try {
    if (scheduler == nullptr) {
      throw ApiError(400,
                     str("This model is an embedding model (", config.model_id,
                         "): it does not generate text; use /v1/embeddings."),
                     "invalid_request_error", "model", "model_not_supported");
    }
    const json body = parse_body(req.body);
    ex->params = chat ? parse_chat_request(body) : parse_completion_request(body);
    std::string reply_header;
    const bool tools_active =
        chat && !ex->params.tools.is_null() && ex->params.tool_choice != "none";
    if (tools_active && ex->params.tool_choice != "auto") {
      // A call must come: the grammar of the format's calls, arguments valid for their schemas.
      json selected = json::array();
      for (const auto& tool : ex->params.tools) {
        if (ex->params.tool_choice == "required" ||
            tool["function"]["name"] == ex->params.tool_choice_name) {
          selected.push_back(tool);
        }
      }
      try {
        ex->params.grammar = std::make_shared<const grammar::Grammar>(grammar::parse_gbnf(
            tool_call_grammar(tool_format, selected, ex->params.parallel_tool_calls)));
        if (tool_format == ToolFormat::kHarmony) reply_header = harmony_call_prefix(selected);
      } catch (const grammar::SchemaError& e) {
        throw ApiError(400, std::string("Invalid tool parameters: ") + e.what(),
                       "invalid_request_error", "tools", "invalid_schema");
      }
    }
    if (tools_active) {
      ex->tools = std::make_unique<ToolCallParser>(tool_format, ex->params.parallel_tool_calls,
                                                   [this] { return new_call_id(); });
    }
    // A harmony model (gpt-oss) reasons before it answers; under a grammar its reply starts in the
    // final channel, so the constrained text is the answer.
    if (chat && ex->params.grammar && reply_header.empty() && tool_format == ToolFormat::kHarmony) {
      reply_header = "<|channel|>final<|message|>";
    }
    ex->reply_header = tokenizer.encode(reply_header, false, true);
    GenerationRequest request;
    request.prompt = prompt_tokens(ex->params, reply_header);
    if (request.prompt.empty()) {
      throw ApiError(400, "The prompt is empty.", "invalid_request_error",
                     chat ? "messages" : "prompt");
    }
    if (static_cast<int64_t>(request.prompt.size()) >= scheduler->config().max_context) {
      throw ApiError(400,
                     str("This model's maximum context length is ", scheduler->config().max_context,
                         " tokens. However, your ", chat ? "messages resulted in " : "prompt has ",
                         request.prompt.size(),
                         " tokens (at least one more is needed for the completion). Please reduce "
                         "the length of the ",
                         chat ? "messages." : "prompt."),
                     "invalid_request_error", chat ? "messages" : "prompt",
                     "context_length_exceeded");
    }
    request.sampling = ex->params.sampling;
    request.max_tokens = ex->params.max_tokens;
    request.top_logprobs = ex->params.top_logprobs;
    request.stop_tokens = tokenizer.vocab().eog;
    if (ex->params.grammar) {
      const bool at_text_start = chat || (!ex->params.prompt_tokens && ex->params.prompt.empty());
      request.constraint = std::make_shared<grammar::GrammarConstraint>(
          ex->params.grammar, token_vocabulary(ex->tools != nullptr), at_text_start);
    }
    ex->handle = submit_or_reply_error([&] { return scheduler->submit(std::move(request)); });
    // Wait for the first token (or the end) before answering, so that a request that never got
    // to run can still be answered with an error status.
    while (ex->handle->wait(ex->first_tokens, std::chrono::milliseconds(200)) &&
           ex->first_tokens.empty()) {
      if (client.closed()) throw ClientGone{};
      if (Clock::now() - ex->arrived > config.queue_timeout) {
        ex->handle->cancel();
        throw ApiError(503, "The server is overloaded: the request waited too long for a slot.",
                       "server_error", std::nullopt, "service_unavailable");
      }
    }
    if (ex->first_tokens.empty() && ex->handle->finish_reason() == FinishReason::kShutdown) {
      throw ApiError(503, "The server is shutting down; retry on another server.", "server_error",
                     std::nullopt, "service_unavailable");
    }
  } catch (const ApiError& e) {
    reply_error(res, e);
    metrics.count_request(endpoint, e.status);
    return;
  } catch (const ClientGone&) {
    abandon(*ex->handle, res, endpoint);
    return;
  }

  if (!ex->first_tokens.empty()) {
    metrics.observe_time_to_first_token(seconds_between(ex->arrived, Clock::now()));
    ex->saw_token = true;
    ex->last_token = Clock::now();
  }
  ex->relay = std::make_unique<Relay>(
      tokenizer, ex->params.stop, chat,
      chat || (!ex->params.prompt_tokens && ex->params.prompt.empty()), ex->params.top_logprobs,
      ex->tools ? marker_tokens : std::vector<int32_t>{},
      ex->tools && tool_format == ToolFormat::kHarmony);
  ex->relay->prime(ex->reply_header);

  // Receives tokens (after the first batch) and keeps the latency histograms.
  auto receive = [this](Exchange& x, std::vector<GeneratedToken>& tokens) {
    const bool more = x.handle->wait(tokens, std::chrono::milliseconds(100));
    const auto now = Clock::now();
    if (!tokens.empty()) {
      if (!x.saw_token) {
        metrics.observe_time_to_first_token(seconds_between(x.arrived, now));
      } else {
        // Tokens that arrive together share the gap.
        const double gap = seconds_between(x.last_token, now) / static_cast<double>(tokens.size());
        for (size_t i = 0; i < tokens.size(); ++i) metrics.observe_inter_token_latency(gap);
      }
      x.saw_token = true;
      x.last_token = now;
    }
    return more;
  };
  auto usage = [](const Exchange& x) {
    const int32_t prompt = x.handle->n_prompt();
    return json{{"prompt_tokens", prompt},
                {"completion_tokens", x.relay->n_tokens()},
                {"total_tokens", prompt + x.relay->n_tokens()},
                {"prompt_tokens_details", {{"cached_tokens", x.handle->n_cached_prompt()}}}};
  };
  auto finish_reason = [](const Exchange& x) {
    if (x.tools && x.tools->called()) return "tool_calls";
    return finish_reason_name(x.handle->finish_reason(), x.relay->stopped());
  };
  auto account = [this](const Exchange& x) {
    metrics.count_tokens(static_cast<uint64_t>(x.handle->n_prompt()),
                         static_cast<uint64_t>(x.relay->n_tokens()));
  };

  if (!ex->params.stream) {
    std::string text, reasoning;
    json entries = json::array();
    std::vector<ToolCall> found;  // harmony calls, read by the relay
    auto add = [&](Relay::Piece piece) {
      for (auto& call : piece.calls) found.push_back(std::move(call));
      text += piece.text;
      reasoning += piece.reasoning;
      if (piece.logprobs.is_null()) return;
      const json& list = chat ? piece.logprobs["content"] : piece.logprobs["tokens"];
      for (size_t i = 0; i < list.size(); ++i) {
        if (chat) {
          entries.push_back(list[i]);
        } else {
          entries.push_back({{"token", list[i]},
                             {"logprob", piece.logprobs["token_logprobs"][i]},
                             {"top", piece.logprobs["top_logprobs"].is_null()
                                         ? json(nullptr)
                                         : piece.logprobs["top_logprobs"][i]},
                             {"offset", piece.logprobs["text_offset"][i]}});
        }
      }
    };
    add(ex->relay->take(ex->first_tokens));
    std::vector<GeneratedToken> tokens;
    while (!ex->relay->stopped()) {
      tokens.clear();
      const bool more = receive(*ex, tokens);
      add(ex->relay->take(tokens));
      if (!more) break;
      // Nothing reaches the client until the whole answer is ready, so no failed write would
      // tell that it left: ask the socket.
      if (client.closed()) {
        abandon(*ex->handle, res, endpoint);
        return;
      }
    }
    if (ex->relay->stopped()) ex->handle->cancel();
    add(ex->relay->finish());
    json tool_calls = json::array();
    if (ex->tools) {
      ToolCallParser::Output out = ex->tools->push(text);
      ToolCallParser::Output rest = ex->tools->finish();
      text = out.content + rest.content;
      out.calls.insert(out.calls.end(), rest.calls.begin(), rest.calls.end());
      for (const auto& call : out.calls) tool_calls.push_back(tool_call_json(call));
      for (auto& call : found) tool_calls.push_back(tool_call_json(ex->tools->add_found(call)));
    }
    json logprobs = nullptr;
    if (ex->params.top_logprobs >= 0) {
      if (chat) {
        logprobs = {{"content", entries}};
      } else {
        json toks = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
        for (const auto& e : entries) {
          toks.push_back(e["token"]);
          lps.push_back(e["logprob"]);
          tops.push_back(e["top"]);
          offs.push_back(e["offset"]);
        }
        logprobs = {{"tokens", toks},
                    {"token_logprobs", lps},
                    {"top_logprobs", ex->params.top_logprobs > 0 ? tops : json(nullptr)},
                    {"text_offset", offs}};
      }
    }
    json choice = {{"index", 0}, {"logprobs", logprobs}, {"finish_reason", finish_reason(*ex)}};
    if (chat) {
      choice["message"] = {
          {"role", "assistant"},
          {"content", text.empty() && !tool_calls.empty() ? json(nullptr) : json(text)},
          {"refusal", nullptr}};
      if (!tool_calls.empty()) choice["message"]["tool_calls"] = tool_calls;
      if (!reasoning.empty()) choice["message"]["reasoning_content"] = reasoning;  // llama-server's
    } else {
      choice["text"] = text;
    }
    const json body = {{"id", ex->id},
                       {"object", chat ? "chat.completion" : "text_completion"},
                       {"created", ex->created},
                       {"model", config.model_id},
                       {"system_fingerprint", "bottega"},
                       {"choices", json::array({choice})},
                       {"usage", usage(*ex)}};
    account(*ex);
    metrics.count_request(endpoint, 200);
    res.set_content(dump(body), "application/json");
    return;
  }

  metrics.count_request(endpoint, 200);

  // Streaming: server-sent events, one chunk per batch of text, as OpenAI sends them.
  auto chunk = [this, chat](const Exchange& x, const Relay::Piece* piece, const char* finish,
                            bool first, const json& tool_calls = json::array()) {
    json choice = {{"index", 0},
                   {"logprobs", piece != nullptr ? piece->logprobs : json(nullptr)},
                   {"finish_reason", finish != nullptr ? json(finish) : json(nullptr)}};
    if (chat) {
      json delta = json::object();
      if (first) delta["role"] = "assistant";
      if (piece != nullptr && !piece->reasoning.empty())
        delta["reasoning_content"] = piece->reasoning;
      if (piece != nullptr &&
          (!piece->text.empty() || (piece->reasoning.empty() && tool_calls.empty()))) {
        delta["content"] = piece->text;
      }
      if (!tool_calls.empty()) delta["tool_calls"] = tool_calls;
      choice["delta"] = delta;
    } else {
      choice["text"] = piece != nullptr ? piece->text : "";
    }
    json body = {{"id", x.id},
                 {"object", chat ? "chat.completion.chunk" : "text_completion"},
                 {"created", x.created},
                 {"model", config.model_id},
                 {"system_fingerprint", "bottega"},
                 {"choices", json::array({choice})}};
    if (x.params.include_usage) body["usage"] = nullptr;
    return "data: " + dump(body) + "\n\n";
  };

  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, ex, chunk, receive, usage, finish_reason, account, chat, endpoint](
          size_t, httplib::DataSink& sink) {
        Exchange& x = *ex;
        auto send = [&](const std::string& data) { return sink.write(data.data(), data.size()); };
        // Answer text goes through the tool-call parser first, when tools were offered: what
        // may start a call waits, and each call goes out whole as one delta.
        auto emit = [&](Relay::Piece piece, bool at_end) {
          json calls = json::array();
          if (x.tools) {
            ToolCallParser::Output out = x.tools->push(piece.text);
            if (at_end) {
              ToolCallParser::Output rest = x.tools->finish();
              out.content += rest.content;
              out.calls.insert(out.calls.end(), rest.calls.begin(), rest.calls.end());
            }
            piece.text = std::move(out.content);
            for (auto& call : piece.calls) out.calls.push_back(x.tools->add_found(std::move(call)));
            for (const auto& call : out.calls) {
              json delta = tool_call_json(call);
              delta["index"] = x.n_calls_sent++;
              calls.push_back(std::move(delta));
            }
          }
          const bool has_logprobs =
              !piece.logprobs.is_null() &&
              !(chat ? piece.logprobs["content"] : piece.logprobs["tokens"]).empty();
          if (piece.text.empty() && piece.reasoning.empty() && !has_logprobs && calls.empty()) {
            return true;
          }
          return send(chunk(x, &piece, nullptr, false, calls));
        };
        if (chat) {  // OpenAI opens with the role and empty content
          const Relay::Piece opening{"", "", nullptr, {}};
          if (!send(chunk(x, &opening, nullptr, true))) {
            x.handle->cancel();
            metrics.count_disconnect(endpoint);
            return false;
          }
        }
        bool ok = emit(x.relay->take(x.first_tokens), false);
        std::vector<GeneratedToken> tokens;
        while (ok && !x.relay->stopped()) {
          tokens.clear();
          const bool more = receive(x, tokens);
          if (!tokens.empty()) ok = emit(x.relay->take(tokens), false);
          if (!more) break;
        }
        if (!ok) {  // the client went away: free its sequence now
          x.handle->cancel();
          metrics.count_disconnect(endpoint);
          return false;
        }
        if (x.relay->stopped()) x.handle->cancel();
        const Relay::Piece rest = x.relay->finish();
        ok = emit(rest, true);
        ok = ok && send(chunk(x, nullptr, finish_reason(x), false));
        if (ok && x.params.include_usage) {
          json body = {{"id", x.id},
                       {"object", chat ? "chat.completion.chunk" : "text_completion"},
                       {"created", x.created},
                       {"model", config.model_id},
                       {"system_fingerprint", "bottega"},
                       {"choices", json::array()},
                       {"usage", usage(x)}};
          ok = send("data: " + dump(body) + "\n\n");
        }
        ok = ok && send("data: [DONE]\n\n");
        account(x);
        if (ok) sink.done();
        return ok;
      },
      [ex](bool) {
        if (ex->handle) ex->handle->cancel();
      });
}

// Token ids of each input: texts through the tokenizer with [CLS]/[SEP] (as `bottega embed` does),
// ids as given; every input checked against the vocabulary and the model's length.
std::vector<std::vector<int32_t>> Server::Impl::embedding_inputs(
    const EmbeddingParams& params) const {
  std::vector<std::vector<int32_t>> inputs = params.tokens;
  for (const std::string& text : params.texts)
    inputs.push_back(tokenizer.encode(text, true, false));
  const int64_t limit = embeddings->encoder().max_tokens();
  const bool single = inputs.size() == 1 && (params.texts.size() == 1 || params.tokens.size() == 1);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = single ? "input" : str("input[", i, "]");
    for (int32_t id : inputs[i]) {
      if (id >= embeddings->encoder().info().n_vocab) {
        throw ApiError(
            400,
            str("Invalid value for '", name, "': token id ", id, " is outside the vocabulary (",
                embeddings->encoder().info().n_vocab, " tokens)."),
            "invalid_request_error", name, "invalid_value");
      }
    }
    if (inputs[i].empty()) {
      throw ApiError(400, str("Invalid value for '", name, "': it has no tokens."),
                     "invalid_request_error", name, "invalid_value");
    }
    if (static_cast<int64_t>(inputs[i].size()) > limit) {
      throw ApiError(
          400,
          str("This model's maximum input length is ", limit, " tokens. However, '", name, "' has ",
              inputs[i].size(), " tokens. Please shorten it or split it into several inputs."),
          "invalid_request_error", name, "context_length_exceeded");
    }
  }
  return inputs;
}

void Server::Impl::handle_embeddings(const httplib::Request& req, httplib::Response& res) {
  const std::string endpoint = "/v1/embeddings";
  try {
    if (embeddings == nullptr) {
      throw ApiError(400,
                     str("This model (", config.model_id,
                         ") generates text and has no embeddings; serve an embedding model "
                         "(general.architecture bert) for /v1/embeddings."),
                     "invalid_request_error", "model", "model_not_supported");
    }
    const EmbeddingParams params = parse_embedding_request(parse_body(req.body));
    const int64_t width = embeddings->encoder().info().n_embd;
    if (params.dimensions && *params.dimensions != width) {
      throw ApiError(
          400,
          str("Invalid value for 'dimensions': this model's embeddings have ", width,
              " dimensions and cannot be shortened; omit 'dimensions' or pass ", width, "."),
          "invalid_request_error", "dimensions", "invalid_value");
    }
    const std::vector<std::vector<int32_t>> inputs = embedding_inputs(params);
    int64_t n_tokens = 0;
    for (const auto& input : inputs) n_tokens += static_cast<int64_t>(input.size());
    std::future<std::vector<std::vector<float>>> result;
    result = submit_or_reply_error([&] { return embeddings->submit(inputs); }, "input");
    const json body = embedding_response(result.get(), params.base64, config.model_id, n_tokens);
    metrics.count_tokens(static_cast<uint64_t>(n_tokens), 0);
    metrics.count_request(endpoint, 200);
    res.set_content(dump(body), "application/json");
  } catch (const ApiError& e) {
    reply_error(res, e);
    metrics.count_request(endpoint, e.status);
  }
}

}  // namespace bottega::server
