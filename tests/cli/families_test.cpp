// Every model family through the commands a user runs: synth, quantize, show, run, chat, bench,
// fit and perplexity, on small random-weight models (serve: tests/server/families_e2e.test.mjs;
// logits against a reference: tests/model/decoder_forward_test.cpp).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "gguf/gguf.h"
#include "testutil/testutil.h"

namespace bottega {
namespace {

using nlohmann::json;
using testing::run_bottega;
using testing::TempDir;

// A family as a user meets it: its architecture and, for Mixtral (stored as llama), the expert
// counts that make it a mixture.
struct Family {
  std::string name, arch;
  std::vector<std::string> extra_flags;
};

// Under the sanitizers (whose job here is memory errors, at several times the cost) the families
// whose code paths differ most: biases, Q/K norms with post-norms and windows, fused matrices.
#if defined(__SANITIZE_ADDRESS__)
const std::vector<Family> kFamilies = {{"qwen2", "qwen2", {}},
                                       {"gemma3", "gemma3", {}},
                                       {"phi3", "phi3", {}},
                                       {"gpt-oss", "gpt-oss", {}}};
#else
const std::vector<Family> kFamilies = {
    {"llama", "llama", {}},       {"mixtral", "llama", {"--experts", "4", "--experts-used", "2"}},
    {"qwen2", "qwen2", {}},       {"qwen3", "qwen3", {}},
    {"gemma2", "gemma2", {}},     {"gemma3", "gemma3", {}},
    {"phi3", "phi3", {}},         {"qwen2moe", "qwen2moe", {}},
    {"qwen3moe", "qwen3moe", {}}, {"gpt-oss", "gpt-oss", {}},
};
#endif

std::string synth(const TempDir& dir, const Family& family, const std::string& type) {
  const std::string out = (dir / (family.name + "-" + type + ".gguf")).string();
  std::vector<std::string> args = {"synth",
                                   "--arch",
                                   family.arch,
                                   "--type",
                                   type,
                                   "-o",
                                   out,
                                   "--vocab-from",
                                   testing::shared_file("models/aidreams260K.gguf").string(),
                                   "--dim",
                                   "256",
                                   "--layers",
                                   family.arch == "gemma3" ? "6" : "2",
                                   "--heads",
                                   "4",
                                   "--kv-heads",
                                   "2",
                                   "--ffn",
                                   "512",
                                   "--window",
                                   "16",
                                   "--ctx",
                                   "512"};
  args.insert(args.end(), family.extra_flags.begin(), family.extra_flags.end());
  const auto r = run_bottega(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(": " + family.arch + ","), std::string::npos) << r.err;
  return out;
}

const Family kGptOss = {"gpt-oss", "gpt-oss", {}};

std::map<std::string, TensorType> tensor_types(const std::string& path) {
  std::map<std::string, TensorType> types;
  const gguf::File file = gguf::File::open(path);
  for (const auto& info : file.tensors()) types[info.name] = info.type;
  return types;
}

// quantize and synth read the family's tensor list for llama.cpp's per-tensor policy, so a file
// quantized to Q4_K_M has the types of one written as Q4_K_M: phi3's fused QKV gets Q5_K and a
// tied embedding table (Gemma) gets the head's Q6_K.
TEST(Families, QuantizeGivesEveryTensorTheTypeSynthGivesIt) {
  TempDir dir;
  for (const Family& family : kFamilies) {
    const std::string& arch = family.arch;
    const std::string f16 = synth(dir, family, "F16");
    const std::string quantized = (dir / (family.name + "-quantized.gguf")).string();
    const auto r = run_bottega({"quantize", f16, quantized, "Q4_K_M"});
    ASSERT_EQ(r.exit_code, 0) << family.name << ": " << r.err;
    const auto expected = tensor_types(synth(dir, family, "Q4_K_M"));
    EXPECT_EQ(tensor_types(quantized), expected) << family.name;
    if (family.name == "mixtral") {
      EXPECT_EQ(expected.count("blk.0.ffn_up_exps.weight"), 1u);
      EXPECT_EQ(expected.count("blk.0.ffn_up.weight"), 0u);
    }
    if (arch == "phi3") {
      EXPECT_EQ(expected.at("blk.0.attn_qkv.weight"), TensorType::Q5_K);
    }
    if (arch == "gemma2" || arch == "gemma3") {
      EXPECT_EQ(expected.count("output.weight"), 0u);
      EXPECT_EQ(expected.at("token_embd.weight"), TensorType::Q6_K);
    }
  }
}

// gpt-oss files come with MXFP4 experts and Q8_0 elsewhere (llama.cpp's MXFP4_MOE); routers and
// expert biases stay F32.
TEST(Families, QuantizeToMxfp4KeepsRoutersAndBiasesInFloat) {
  TempDir dir;
  const std::string f16 = synth(dir, kGptOss, "F16");
  const std::string quantized = (dir / "gpt-oss-mxfp4.gguf").string();
  const auto r = run_bottega({"quantize", f16, quantized, "MXFP4_MOE"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto types = tensor_types(quantized);
  EXPECT_EQ(types, tensor_types(synth(dir, kGptOss, "MXFP4_MOE")));
  EXPECT_EQ(types.at("blk.1.ffn_down_exps.weight"), TensorType::MXFP4);
  EXPECT_EQ(types.at("blk.1.ffn_gate_inp.weight"), TensorType::F32);
  EXPECT_EQ(types.at("blk.1.ffn_up_exps.bias"), TensorType::F32);
  EXPECT_EQ(types.at("blk.1.attn_q.weight"), TensorType::Q8_0);
  EXPECT_EQ(types.at("output.weight"), TensorType::Q8_0);
  const auto run = run_bottega({"run", "-m", quantized, "-p", "Once", "-n", "8", "--temp", "0"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

// What a token reads: every tensor, a mixture's expert tensors (stacked, and their biases) at
// expert_used_count of expert_count; what bench's GB/s counts.
double active_bytes(const std::string& path, const std::string& arch) {
  const gguf::File file = gguf::File::open(path);
  const auto used = static_cast<double>(file.get_int(arch + ".expert_used_count").value_or(1));
  const auto count = static_cast<double>(file.get_int(arch + ".expert_count").value_or(1));
  double bytes = 0.0;
  for (const auto& t : file.tensors()) {
    const bool expert = t.name.find("_exps.") != std::string::npos;
    bytes +=
        expert ? static_cast<double>(t.n_bytes) / count * used : static_cast<double>(t.n_bytes);
  }
  return bytes;
}

// A gpt-oss file without a chat template (as synth writes one, here with gpt-oss's own o200k
// vocabulary from its tokenizer.json) chats through the built-in harmony template, which the run
// says on stderr.
TEST(Families, GptOssChatsThroughTheHarmonyTemplate) {
  TempDir dir;
  const std::string model = (dir / "gpt-oss-o200k.gguf").string();
  const std::string vocab = (testing::source_dir() / "tests" / "npm" / "node_modules" / "@lenml" /
                             "tokenizer-gptoss" / "models" / "tokenizer.json")
                                .string();
  const auto made = run_bottega(
      {"synth", "--arch",       "gpt-oss", "--dim", "64", "--layers",  "2", "--heads",
       "4",     "--kv-heads",   "2",       "--ffn", "64", "--experts", "4", "--experts-used",
       "2",     "--vocab-from", vocab,     "-o",    model});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const auto chat =
      run_bottega({"chat", "-m", model, "-p", "Hello", "-n", "8", "--temp", "0", "-t", "2"});
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_NE(chat.err.find("using the built-in 'harmony'"), std::string::npos) << chat.err;
  EXPECT_FALSE(chat.out.empty());
}

TEST(Families, RunChatBenchFitAndPerplexityWork) {
  TempDir dir;
  const std::string text_path = (dir / "text.txt").string();
  {
    std::ofstream text(text_path);
    for (int i = 0; i < 12; ++i)
      text << "Once upon a time there was a little girl. She liked to play. ";
  }
  // fit reads the roofline `hw` measured (once, on a small buffer) from the bottega home.
  const testing::EnvVars home = {{"BOTTEGA_HOME", (dir / "home").string()}};
  const auto hw =
      run_bottega({"hw", "--json", "--buffer-mib", "32", "-r", "1"}, testing::hw_env(home));
  ASSERT_EQ(hw.exit_code, 0) << hw.err;
  // Every family in Q8_0, and gpt-oss also as its files come, with MXFP4 experts.
  std::vector<std::pair<Family, std::string>> models;
  for (const Family& family : kFamilies) models.emplace_back(family, "Q8_0");
  models.emplace_back(kGptOss, "MXFP4_MOE");
  for (const auto& [family, type] : models) {
    const std::string arch = family.name + " " + type;  // named in failure messages
    const std::string model = synth(dir, family, type);

    const auto show = run_bottega({"show", model});
    ASSERT_EQ(show.exit_code, 0) << arch << ": " << show.err;
    EXPECT_NE(show.out.find("architecture: " + family.arch), std::string::npos) << show.out;
    if (type == "MXFP4_MOE") {
      EXPECT_NE(show.out.find("MXFP4 x"), std::string::npos) << show.out;
    }

    const auto run = run_bottega(
        {"run", "-m", model, "-p", "Once upon a time", "-n", "24", "--temp", "0", "-t", "2"});
    ASSERT_EQ(run.exit_code, 0) << arch << ": " << run.err;
    EXPECT_NE(run.err.find("generation 24 tokens"), std::string::npos) << arch << ": " << run.err;

    const auto chat = run_bottega({"chat", "-m", model, "-p", "Hello", "-n", "8", "--temp", "0",
                                   "-t", "2", "--chat-template", "chatml"});
    ASSERT_EQ(chat.exit_code, 0) << arch << ": " << chat.err;
    EXPECT_FALSE(chat.out.empty()) << arch;

    const auto bench = run_bottega({"bench", "-m", model, "-p", "32", "-n", "8", "-r", "1", "-t",
                                    "2", "-o", "json", "--bandwidth", "10"});
    ASSERT_EQ(bench.exit_code, 0) << arch << ": " << bench.err;
    const json rows = json::parse(bench.out);
    ASSERT_EQ(rows.size(), 2u) << bench.out;
    for (const json& row : rows) EXPECT_GT(row["avg_ts"].get<double>(), 0.0) << arch;
    // GB/s of decode from the bytes a token reads: a mixture's active experts only.
    const json& tg = rows[1];
    ASSERT_EQ(tg["n_gen"], 8) << bench.out;
    const double read = tg["gb_per_s"].get<double>() * 1e9 / tg["avg_ts"].get<double>();
    const double expected = active_bytes(model, family.arch);
    EXPECT_NEAR(read, expected, 0.001 * expected) << arch;
    if (!family.extra_flags.empty() || family.arch.find("moe") != std::string::npos ||
        family.arch == "gpt-oss") {
      EXPECT_LT(expected, 0.8 * tg["model_size"].get<double>()) << arch;
    }

    const auto fit = run_bottega({"fit", model, "--ctx", "256", "--json"}, home);
    ASSERT_EQ(fit.exit_code, 0) << arch << ": " << fit.err;
    const json plan = json::parse(fit.out);
    EXPECT_EQ(plan["model"]["architecture"], family.arch);
    EXPECT_GT(plan["speed"]["pp512_tps"].get<double>(), 0.0) << arch;

    const auto ppl =
        run_bottega({"perplexity", "-m", model, "-f", text_path, "-c", "64", "-t", "2"});
    ASSERT_EQ(ppl.exit_code, 0) << arch << ": " << ppl.err;
    // A random model is about as good as chance over the 512-token vocabulary, never perfect.
    const std::string report = ppl.out + ppl.err;
    const size_t at = report.find("PPL = ");
    ASSERT_NE(at, std::string::npos) << arch << ": " << report;
    const double perplexity = std::stod(report.substr(at + 6));
    EXPECT_GT(perplexity, 10.0) << arch;
    EXPECT_LT(perplexity, 5000.0) << arch;
  }
}

}  // namespace
}  // namespace bottega
