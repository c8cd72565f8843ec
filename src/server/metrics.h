// Counters and latency histograms of the server, rendered in the Prometheus text format together
// with the scheduler's gauges.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/embedding_queue.h"
#include "engine/scheduler.h"

namespace bottega::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // The _bucket, _sum and _count lines for `name`.
  std::string render(const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0.0;
};

class Metrics {
 public:
  Metrics();

  void count_request(const std::string& endpoint, int status);
  void observe_time_to_first_token(double seconds);
  void observe_inter_token_latency(double seconds);
  void count_tokens(uint64_t prompt, uint64_t generated);
  // A client that went away before its answer was complete (its sequence was cancelled).
  void count_disconnect(const std::string& endpoint);

  std::string render(const SchedulerStats& scheduler) const;
  // The embedding queue's counters and depth, appended to render()'s text by an embedding server.
  static std::string render(const EmbeddingQueueStats& embeddings);

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> disconnects_;  // by endpoint
  uint64_t prompt_tokens_ = 0;
  uint64_t generated_tokens_ = 0;
  Histogram time_to_first_token_;
  Histogram inter_token_latency_;
};

}  // namespace bottega::server
