// Bad input to the CLI: one clear line on stderr, exit 1 for errors and 2 for wrong usage, and
// nothing on stdout.
#include <gtest/gtest.h>

#include <fstream>

#include "gguf/gguf.h"
#include "testutil/testutil.h"

namespace bottega {
namespace {

using testing::run_bottega;

void expect_error(const std::vector<std::string>& args, int code, const std::string& needle) {
  const auto r = run_bottega(args);
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(CliErrors, MissingModelFile) {
  expect_error({"run", "-m", "/nonexistent/model.gguf", "-p", "hi"}, 1,
               "'/nonexistent/model.gguf' does not exist");
}

TEST(CliErrors, NotAGguf) {
  testing::TempDir dir;
  std::ofstream(dir / "notes.txt") << "these are not weights, just some text that is long enough";
  expect_error({"run", "-m", (dir / "notes.txt").string(), "-p", "hi"}, 1, "magic");
  expect_error({"show", (dir / "notes.txt").string()}, 1, "magic");
}

TEST(CliErrors, UnsupportedArchitecture) {
  testing::TempDir dir;
  gguf::Writer writer;
  writer.set("general.architecture", gguf::Value::string("rwkv6"));
  writer.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  writer.set("tokenizer.ggml.tokens", gguf::Value::strings({"<unk>", "<s>", "</s>", "a"}));
  writer.set("tokenizer.ggml.scores", gguf::Value::f32s({0, 0, 0, 0}));
  writer.set("tokenizer.ggml.token_type", gguf::Value::i32s({2, 3, 3, 1}));
  writer.write(dir / "rwkv.gguf");
  expect_error({"run", "-m", (dir / "rwkv.gguf").string(), "-p", "a"}, 1,
               "architecture 'rwkv6' is not supported");
}

TEST(CliErrors, WrongUsageExitsWithTwo) {
  expect_error({"run", "-p", "no model given"}, 2, "a model (-m FILE or MODEL) is required");
  expect_error({"frobnicate"}, 2, "frobnicate");
  expect_error({"run", "-m", "x.gguf", "-n", "many"}, 2, "many");
  expect_error({}, 2, "subcommand");
}

TEST(CliErrors, BadSamplingValueNamesTheParameter) {
  const auto model = testing::shared_file("models/aidreams260K.gguf").string();
  expect_error({"run", "-m", model, "-p", "x", "--top-p", "1.5"}, 1, "top_p");
}

// BOTTEGA_ISA caps the kernels at an ISA the CPU runs; a name it does not run must not be
// ignored silently (a benchmark would then measure another path than the one asked for).
TEST(CliErrors, UnknownIsaInTheEnvironmentIsNamed) {
  const auto model = testing::shared_file("models/aidreams260K.gguf").string();
  const auto r = run_bottega({"run", "-m", model, "-p", "x", "-n", "2"}, {{"BOTTEGA_ISA", "mmx"}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("BOTTEGA_ISA=mmx is not an instruction set this CPU runs (ref"),
            std::string::npos)
      << r.err;
}

TEST(CliErrors, ErrorIsOneLine) {
  const auto r = run_bottega({"show", "/nonexistent.gguf"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace bottega
