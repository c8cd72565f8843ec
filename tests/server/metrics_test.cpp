#include "server/metrics.h"

#include <gtest/gtest.h>

namespace bottega::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Histogram h({0.1, 1.0});
  h.observe(0.05);
  h.observe(0.1);  // a value on a bound belongs to that bucket (le)
  h.observe(0.5);
  h.observe(7.0);
  const std::string text = h.render("x");
  EXPECT_TRUE(has_line(text, "x_bucket{le=\"0.1\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "x_bucket{le=\"1\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "x_bucket{le=\"+Inf\"} 4")) << text;
  EXPECT_TRUE(has_line(text, "x_sum 7.65")) << text;
  EXPECT_TRUE(has_line(text, "x_count 4")) << text;
}

TEST(Metrics, RenderShowsCountersAndSchedulerGauges) {
  Metrics m;
  m.count_request("/v1/completions", 200);
  m.count_request("/v1/completions", 200);
  m.count_request("/v1/completions", 429);
  m.count_tokens(10, 5);
  m.count_tokens(3, 2);
  m.count_disconnect("/v1/chat/completions");
  m.count_disconnect("/v1/chat/completions");
  SchedulerStats s;
  s.waiting = 2;
  s.running = 3;
  s.kv_blocks_total = 10;
  s.kv_blocks_in_use = 4;
  const std::string text = m.render(s);
  EXPECT_TRUE(
      has_line(text, "bottega_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 2"));
  EXPECT_TRUE(
      has_line(text, "bottega_requests_total{endpoint=\"/v1/completions\",status=\"429\"} 1"));
  EXPECT_TRUE(
      has_line(text, "bottega_client_disconnects_total{endpoint=\"/v1/chat/completions\"} 2"));
  EXPECT_TRUE(has_line(text, "bottega_prompt_tokens_total 13"));
  EXPECT_TRUE(has_line(text, "bottega_generation_tokens_total 7"));
  EXPECT_TRUE(has_line(text, "bottega_queue_depth 2"));
  EXPECT_TRUE(has_line(text, "bottega_running_sequences 3"));
  EXPECT_TRUE(has_line(text, "bottega_kv_cache_blocks_used 4"));
  EXPECT_TRUE(has_line(text, "bottega_kv_cache_usage_ratio 0.4"));
  EXPECT_TRUE(has_line(text, "# TYPE bottega_time_to_first_token_seconds histogram"));
}

TEST(Metrics, RenderShowsTheEmbeddingQueue) {
  EmbeddingQueueStats e;
  e.requests = 24;
  e.batches = 5;
  e.tokens = 300;
  e.queued = 1;
  const std::string text = Metrics::render(e);
  EXPECT_TRUE(has_line(text, "bottega_embedding_requests_total 24"));
  EXPECT_TRUE(has_line(text, "bottega_embedding_batches_total 5"));
  EXPECT_TRUE(has_line(text, "bottega_embedding_tokens_total 300"));
  EXPECT_TRUE(has_line(text, "bottega_embedding_queue_depth 1"));
  EXPECT_TRUE(has_line(text, "# TYPE bottega_embedding_batches_total counter"));
}

}  // namespace
}  // namespace bottega::server
