// `bottega template`: prints exactly the rendering of a template file or a model's own template.
#include <gtest/gtest.h>

#include <fstream>

#include "gguf/gguf.h"
#include "template/chat_template.h"
#include "testutil/testutil.h"

namespace bottega {
namespace {

constexpr const char* kTemplate =
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}{{ tools | tojson }}";
constexpr const char* kContext =
    R"({"messages": [{"role": "user", "content": "héllo"}], "add_generation_prompt": true,
        "tools": [{"z": 1, "a": [true, null]}]})";
constexpr const char* kRendering = "<|user|>héllo\n<|assistant|>[{\"z\": 1, \"a\": [true, null]}]";

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(TemplateCli, RendersATemplateFileExactly) {
  testing::TempDir dir;
  write_text(dir / "t.jinja", kTemplate);
  write_text(dir / "c.json", kContext);
  const auto result = testing::run_bottega(
      {"template", "-t", (dir / "t.jinja").string(), "--context", (dir / "c.json").string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, kRendering);  // no newline added, key order kept
}

TEST(TemplateCli, RendersTheModelsOwnTemplate) {
  testing::TempDir dir;
  gguf::Writer writer;
  writer.set("general.architecture", gguf::Value::string("llama"));
  writer.set("tokenizer.chat_template", gguf::Value::string(kTemplate));
  writer.write(dir / "m.gguf");
  write_text(dir / "c.json", kContext);
  EXPECT_EQ(model_chat_template(gguf::File::open(dir / "m.gguf")), std::string(kTemplate));
  const auto result = testing::run_bottega(
      {"template", "-m", (dir / "m.gguf").string(), "--context", (dir / "c.json").string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, kRendering);
}

TEST(TemplateCli, ReportsProblemsOnOneLine) {
  testing::TempDir dir;
  write_text(dir / "bad.jinja", "line one\n{{ messages | shuffle }}");
  write_text(dir / "c.json", kContext);
  auto result = testing::run_bottega(
      {"template", "-t", (dir / "bad.jinja").string(), "--context", (dir / "c.json").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "bottega: error: template line 2: unknown filter 'shuffle'\n");

  write_text(dir / "raise.jinja", "{{ raise_exception('Only user and assistant roles') }}");
  result = testing::run_bottega({"template", "-t", (dir / "raise.jinja").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "bottega: error: template line 1: Only user and assistant roles\n");

  write_text(dir / "list.json", "[1, 2]");
  result = testing::run_bottega(
      {"template", "-t", (dir / "bad.jinja").string(), "--context", (dir / "list.json").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("must hold a JSON object"), std::string::npos) << result.err;

  result = testing::run_bottega(
      {"template", "-m", testing::shared_file("models/aidreams260K.gguf").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("has no chat template"), std::string::npos) << result.err;

  result = testing::run_bottega({"template"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("-t FILE.jinja or -m MODEL"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace bottega
