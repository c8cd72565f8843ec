// `bottega chat` with the shared 260K model, which carries no chat template (a built-in is used).
#include <gtest/gtest.h>

#include "testutil/testutil.h"

namespace bottega {
namespace {

std::string model_path() {
  return testing::shared_file("models/aidreams260K.gguf").string();
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(ChatCli, SingleTurnUsesABuiltinTemplateAndIsDeterministicWhenGreedy) {
  const std::vector<std::string> args = {
      "chat", "-m", model_path(), "-p", "Once upon a time", "-n", "12", "--temp", "0", "-t", "1"};
  const auto first = testing::run_bottega(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("no chat template"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("'chatml'"), std::string::npos) << first.err;
  ASSERT_GT(first.out.size(), 1u);
  EXPECT_EQ(first.out.back(), '\n');
  EXPECT_EQ(testing::run_bottega(args).out, first.out);

  // Another built-in template gives the model another prompt, so another answer.
  auto llama2 = args;
  llama2.insert(llama2.end(), {"--chat-template", "llama2"});
  const auto other = testing::run_bottega(llama2);
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(other.err.find("no chat template"), std::string::npos) << other.err;
}

TEST(ChatCli, InteractiveTurnsCommandsAndHistoryTrimming) {
  const auto result = testing::run_bottega(
      {"chat", "-m", model_path(), "-n", "16", "--temp", "0", "-t", "1", "-c", "128"},
      "Hello there\n/system Be kind.\nTell me a story\nAnd another one\nOne more please\n"
      "/reset\nHi\n" +
          std::string(600, 'x') + "\nStill here?\n/exit\nnever read\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_GE(count(result.out, "\n"), 6u) << result.out;   // each answer ends its line
  EXPECT_EQ(count(result.err, "> "), 10u) << result.err;  // one prompt per line up to /exit
  // A message too long for the context fails alone; the chat goes on.
  EXPECT_NE(result.err.find("exceeds the context of 128"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("system prompt set"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("conversation cleared"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("dropped the oldest turn"), std::string::npos) << result.err;
}

TEST(ChatCli, UnknownTemplateNameListsTheBuiltins) {
  const auto result =
      testing::run_bottega({"chat", "-m", model_path(), "-p", "x", "--chat-template", "nope"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("unknown chat template 'nope'; the built-in ones are: chatml"),
            std::string::npos)
      << result.err;
}

}  // namespace
}  // namespace bottega
