#include "server/metrics.h"

#include <algorithm>
#include <sstream>

namespace bottega::server {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[static_cast<size_t>(bucket)];
  ++count_;
  sum_ += value;
}

std::string Histogram::render(const std::string& name) const {
  std::ostringstream out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out << name << "_bucket{le=\"" << bounds_[i] << "\"} " << cumulative << "\n";
  }
  out << name << "_bucket{le=\"+Inf\"} " << count_ << "\n";
  out << name << "_sum " << sum_ << "\n";
  out << name << "_count " << count_ << "\n";
  return out.str();
}

Metrics::Metrics()
    : time_to_first_token_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      inter_token_latency_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::observe_time_to_first_token(double seconds) {
  std::lock_guard lock(mutex_);
  time_to_first_token_.observe(seconds);
}

void Metrics::observe_inter_token_latency(double seconds) {
  std::lock_guard lock(mutex_);
  inter_token_latency_.observe(seconds);
}

void Metrics::count_tokens(uint64_t prompt, uint64_t generated) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += prompt;
  generated_tokens_ += generated;
}

void Metrics::count_disconnect(const std::string& endpoint) {
  std::lock_guard lock(mutex_);
  ++disconnects_[endpoint];
}

namespace {
void metric(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
}
}  // namespace

std::string Metrics::render(const SchedulerStats& s) const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  metric(out, "bottega_requests_total", "counter", "HTTP requests by endpoint and status.");
  for (const auto& [key, count] : requests_) {
    out << "bottega_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second
        << "\"} " << count << "\n";
  }
  metric(out, "bottega_client_disconnects_total", "counter",
         "Requests whose client went away before the answer was complete; their sequences were "
         "cancelled.");
  for (const auto& [endpoint, count] : disconnects_) {
    out << "bottega_client_disconnects_total{endpoint=\"" << endpoint << "\"} " << count << "\n";
  }
  metric(out, "bottega_prompt_tokens_total", "counter", "Prompt tokens of finished requests.");
  out << "bottega_prompt_tokens_total " << prompt_tokens_ << "\n";
  metric(out, "bottega_generation_tokens_total", "counter",
         "Tokens generated for finished requests.");
  out << "bottega_generation_tokens_total " << generated_tokens_ << "\n";
  metric(out, "bottega_prompt_tokens_cached_total", "counter",
         "Prompt tokens whose KV cache came from the prefix cache.");
  out << "bottega_prompt_tokens_cached_total " << s.prompt_tokens_cached << "\n";
  metric(out, "bottega_preemptions_total", "counter",
         "Sequences preempted (to be recomputed) because KV blocks ran out.");
  out << "bottega_preemptions_total " << s.preemptions << "\n";
  metric(out, "bottega_queue_depth", "gauge", "Requests waiting for a slot or for KV memory.");
  out << "bottega_queue_depth " << s.waiting << "\n";
  metric(out, "bottega_running_sequences", "gauge", "Sequences being evaluated.");
  out << "bottega_running_sequences " << s.running << "\n";
  metric(out, "bottega_kv_cache_blocks_total", "gauge", "KV cache blocks in the pool.");
  out << "bottega_kv_cache_blocks_total " << s.kv_blocks_total << "\n";
  metric(out, "bottega_kv_cache_blocks_used", "gauge", "KV cache blocks held by sequences.");
  out << "bottega_kv_cache_blocks_used " << s.kv_blocks_in_use << "\n";
  metric(out, "bottega_kv_cache_usage_ratio", "gauge", "Share of KV cache blocks in use (0..1).");
  out << "bottega_kv_cache_usage_ratio "
      << (s.kv_blocks_total > 0 ? static_cast<double>(s.kv_blocks_in_use) / s.kv_blocks_total : 0.0)
      << "\n";
  metric(out, "bottega_time_to_first_token_seconds", "histogram",
         "From request arrival to the first generated token.");
  out << time_to_first_token_.render("bottega_time_to_first_token_seconds");
  metric(out, "bottega_inter_token_latency_seconds", "histogram",
         "Time between consecutive generated tokens of a request.");
  out << inter_token_latency_.render("bottega_inter_token_latency_seconds");
  return out.str();
}

std::string Metrics::render(const EmbeddingQueueStats& e) {
  std::ostringstream out;
  metric(out, "bottega_embedding_requests_total", "counter",
         "Embedding requests taken into a forward pass.");
  out << "bottega_embedding_requests_total " << e.requests << "\n";
  metric(
      out, "bottega_embedding_batches_total", "counter",
      "Encoder forward passes started; fewer than requests when requests were batched together.");
  out << "bottega_embedding_batches_total " << e.batches << "\n";
  metric(out, "bottega_embedding_tokens_total", "counter", "Tokens of answered embedding inputs.");
  out << "bottega_embedding_tokens_total " << e.tokens << "\n";
  metric(out, "bottega_embedding_queue_depth", "gauge", "Embedding requests waiting.");
  out << "bottega_embedding_queue_depth " << e.queued << "\n";
  return out.str();
}

}  // namespace bottega::server
