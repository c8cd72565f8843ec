// The OpenAI-compatible HTTP server: routes, authentication, request handling, streaming.
//
// Each HTTP request runs on a thread of the HTTP pool: it checks and parses the request, renders
// the chat template, tokenizes, submits to the Scheduler and then relays the sequence's tokens as
// text (after stop-sequence matching), in one JSON response or as server-sent events. The model
// itself only ever runs on the scheduler's thread. An embedding model is served instead through
// an EmbeddingQueue, whose worker thread batches /v1/embeddings requests; each server answers the
// other kind's routes with a 400 that says which model kind they need.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "engine/embedding_queue.h"
#include "engine/scheduler.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace bottega::server {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;       // 0: any free port (see bound_port())
  std::string api_key;   // empty: no authentication
  std::string model_id;  // the name /v1/models lists and responses carry
  size_t max_body_bytes = 8u << 20;
  int http_threads = 64;  // concurrent connections served
  // A request that gets no token for this long while queued is answered 503.
  std::chrono::seconds queue_timeout{300};
};

class Server {
 public:
  // Everything given must outlive the server.
  Server(ServerConfig config, Scheduler& scheduler, const tokenizer::Tokenizer& tokenizer,
         const ChatTemplate& chat_template);
  // Serves an embedding model: /v1/embeddings; the completion routes answer 400.
  Server(ServerConfig config, EmbeddingQueue& embeddings, const tokenizer::Tokenizer& tokenizer);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; throws Error naming the address when that fails.
  void bind();
  int bound_port() const;
  // Serves until stop(); returns when the listener is closed and every connection has finished.
  void serve();
  // Stops accepting; safe from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bottega::server
