// End to end through the binary: greedy continuations of the shared aidreams260K model must equal
// the reference implementation's, token for token, as decoded text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testutil/testutil.h"

namespace bottega {
namespace {

using testing::run_bottega;

struct GoldenCase {
  std::string prompt;
  int n_predict;
  std::string continuation;
};

std::vector<GoldenCase> golden_cases() {
  const auto json = nlohmann::json::parse(
      testing::read_file(testing::shared_file("models/golden/aidreams260K.greedy.json")));
  std::vector<GoldenCase> cases;
  for (const auto& c : json.at("cases")) {
    cases.push_back({c.at("prompt").get<std::string>(), c.at("n_predict").get<int>(),
                     c.at("continuation").get<std::string>()});
  }
  return cases;
}

void expect_golden(const std::string& model) {
  const auto cases = golden_cases();
  ASSERT_EQ(cases.size(), 5u);
  for (const auto& c : cases) {
    for (const char* threads : {"1", "2"}) {
      const auto result = run_bottega({"run", "-m", model, "-p", c.prompt, "-n",
                                       std::to_string(c.n_predict), "--temp", "0", "-t", threads});
      ASSERT_EQ(result.exit_code, 0) << result.err;
      EXPECT_EQ(result.out, c.continuation)
          << "prompt '" << c.prompt << "' with " << threads << " threads";
      EXPECT_NE(result.err.find("generation " + std::to_string(c.n_predict) + " tokens"),
                std::string::npos)
          << result.err;
    }
  }
}

TEST(RunGolden, SharedGgufReproducesReferenceContinuations) {
  expect_golden(testing::shared_file("models/aidreams260K.gguf").string());
}

TEST(RunGolden, ConvertedLlama2cReproducesReferenceContinuations) {
  testing::TempDir dir;
  const auto out = (dir / "converted.gguf").string();
  const auto convert =
      run_bottega({"convert", "llama2c", testing::shared_file("models/aidreams260K.bin").string(),
                   testing::shared_file("models/aidreams260K.tok512.bin").string(), out});
  ASSERT_EQ(convert.exit_code, 0) << convert.err;
  expect_golden(out);
}

TEST(RunGolden, SameSeedSameTextDifferentSeedDifferentText) {
  const auto model = testing::shared_file("models/aidreams260K.gguf").string();
  auto sample = [&](const std::string& seed) {
    const auto r =
        run_bottega({"run", "-m", model, "-p", "The machine", "-n", "60", "--temp", "1.0",
                     "--top-k", "0", "--top-p", "1", "--min-p", "0", "--seed", seed});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  const std::string first = sample("1234");
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, sample("1234"));
  EXPECT_NE(first, sample("99"));
}

TEST(RunGolden, PromptLongerThanContextIsAClearError) {
  const auto model = testing::shared_file("models/aidreams260K.gguf").string();
  const auto r =
      run_bottega({"run", "-m", model, "-p", "The machine dreams of vectors and probability", "-c",
                   "8", "-n", "4"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("context holds 8"), std::string::npos) << r.err;
}

TEST(RunGolden, GenerationStopsAtTheContextEnd) {
  const auto model = testing::shared_file("models/aidreams260K.gguf").string();
  const auto r = run_bottega(
      {"run", "-m", model, "-p", "The machine", "-c", "16", "-n", "100", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The prompt fills n_prompt positions; each generated token but the last needs one more, so a
  // 16-token context yields 16 - n_prompt + 1 tokens.
  const auto at = r.err.find("prompt ");
  ASSERT_NE(at, std::string::npos) << r.err;
  const int n_prompt = std::stoi(r.err.substr(at + 7));
  EXPECT_NE(r.err.find("generation " + std::to_string(16 - n_prompt + 1) + " tokens"),
            std::string::npos)
      << r.err;
}

TEST(Tokenize, IdsMatchTheLlamaSpmVectorsThroughTheCli) {
  const auto vocab = testing::shared_file("vocab/ggml-vocab-llama-spm.gguf").string();
  const auto r = run_bottega({"tokenize", "-m", vocab, "-p", " Hello world", "--ids", "--no-bos"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // From ggml-vocab-llama-spm.gguf.out: " Hello world" -> 29871 15043 3186... checked below by
  // value.
  EXPECT_EQ(r.out, "[29871, 15043, 3186]\n");
  const auto with_bos = run_bottega({"tokenize", "-m", vocab, "--stdin", "--ids"}, " Hello world");
  EXPECT_EQ(with_bos.out, "[1, 29871, 15043, 3186]\n");
}

}  // namespace
}  // namespace bottega
