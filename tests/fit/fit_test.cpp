// bottega fit, hw and the KV cache flags through the CLI: the predicted peak memory against the
// peak resident memory `bottega run` measures, on synthetic models of three shapes and four
// weight types; the roofline cache; clear errors for bad files and impossible flags.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testutil/testutil.h"

namespace bottega {
namespace {

using nlohmann::json;
using testing::EnvVars;
using testing::hw_env;
using testing::run_bottega;
using testing::TempDir;

struct Shape {
  int dim, layers, heads, kv_heads, ffn;
};

// One bottega home per test binary run, with the roofline measured once on a small buffer so that
// `fit` never measures the machine itself.
class FitCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = new TempDir();
    const auto r = run_bottega({"hw", "--json", "--buffer-mib", "32", "-r", "1"}, hw_env(env()));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete home_;
    home_ = nullptr;
  }
  static EnvVars env() { return {{"BOTTEGA_HOME", home_->path().string()}}; }

  static std::string synth(const Shape& s, const std::string& type, const std::string& name,
                           const std::string& arch = "llama",
                           const std::vector<std::string>& extra = {}) {
    const std::string out = (*home_ / name).string();
    const std::string vocab = testing::shared_file("vocab/ggml-vocab-llama-spm.gguf").string();
    std::vector<std::string> args = {"synth",
                                     "--arch",
                                     arch,
                                     "--type",
                                     type,
                                     "-o",
                                     out,
                                     "--vocab-from",
                                     vocab,
                                     "--dim",
                                     std::to_string(s.dim),
                                     "--layers",
                                     std::to_string(s.layers),
                                     "--heads",
                                     std::to_string(s.heads),
                                     "--kv-heads",
                                     std::to_string(s.kv_heads),
                                     "--ffn",
                                     std::to_string(s.ffn)};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_bottega(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }

  static json fit_json(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"fit", "--json"};
    all.insert(all.end(), args.begin(), args.end());
    const auto r = run_bottega(all, env());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }

  static TempDir* home_;
};
TempDir* FitCli::home_ = nullptr;

uint64_t peak_from_stderr(const std::string& err) {
  const std::string label = "peak resident memory: ";
  const size_t at = err.find(label);
  if (at == std::string::npos) return 0;
  const size_t digits = at + label.size();
  const size_t end = err.find_first_not_of("0123456789", digits);
  if (end == digits || err.compare(end, 6, " bytes") != 0) return 0;
  return std::stoull(err.substr(digits, end - digits));
}

// AddressSanitizer's shadow memory and quarantine make resident memory meaningless, so the
// sanitizer build runs two cases for memory errors and compares sizes only in optimised builds.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

constexpr char kPrompt[] =
    "The quick brown fox jumps over the lazy dog while the cat watches from the warm window "
    "and the birds sing in the tall old trees beside the quiet river";

TEST_F(FitCli, PredictedMemoryWithinTenPercentOfMeasuredPeak) {
  struct Case {
    Shape shape;
    std::string type;
    std::string cache;
  };
  const std::vector<Case> cases = {
      {{256, 8, 4, 2, 1024}, "F16", "f16"},   {{256, 8, 4, 2, 1024}, "Q4_0", "q8_0"},
      {{512, 4, 8, 8, 1536}, "Q8_0", "f16"},  {{512, 4, 8, 8, 1536}, "Q4_K_M", "q4_0"},
      {{768, 2, 12, 4, 2048}, "Q4_0", "f16"}, {{768, 2, 12, 4, 2048}, "F16", "q8_0"},
  };
  for (size_t i = 0; i < (kSanitized ? 2 : cases.size()); ++i) {
    const Case& c = cases[i];
    const std::string label = std::to_string(c.shape.dim) + " " + c.type + " KV " + c.cache;
    const std::string model = synth(c.shape, c.type, "m.gguf");
    const auto run = run_bottega({"run", "-m", model, "-c", "64", "-n", "12", "--temp", "0", "-t",
                                  "2", "-ctk", c.cache, "-ctv", c.cache, "-p", kPrompt},
                                 env());
    ASSERT_EQ(run.exit_code, 0) << label << ": " << run.err;
    const uint64_t measured = peak_from_stderr(run.err);
    ASSERT_GT(measured, 0u) << label << ": " << run.err;
    const json plan = fit_json({model, "--ctx", "64", "-ctk", c.cache, "-ctv", c.cache});
    const auto predicted = plan["memory"]["total_bytes"].get<uint64_t>();
    const double ratio = static_cast<double>(predicted) / static_cast<double>(measured);
    std::printf("%s: predicted %llu, measured %llu, ratio %.3f\n", label.c_str(),
                static_cast<unsigned long long>(predicted),
                static_cast<unsigned long long>(measured), ratio);
    if (kSanitized) continue;
    EXPECT_NEAR(ratio, 1.0, 0.10) << label << ": predicted " << predicted << ", measured "
                                  << measured << "\n"
                                  << plan["memory"].dump();
  }
}

// The families differ in what the decoder allocates (fused QKV and gate+up buffers, heads wider
// than n_embd / n_head) and in what stays resident (a tied head, bias and norm vectors).
TEST_F(FitCli, EveryFamilyPredictedWithinTenPercentOfMeasuredPeak) {
  struct Case {
    std::string arch;
    std::string type;
    std::vector<std::string> extra;
  };
  const std::vector<Case> cases = {
      {"qwen2", "Q4_0", {}},
      {"qwen3", "Q8_0", {"--head-dim", "128"}},
      {"gemma2", "F16", {"--window", "16"}},
      {"gemma3", "Q4_K_M", {"--window", "16"}},
      {"phi3", "Q4_0", {}},
      {"gpt-oss", "MXFP4_MOE", {"--experts", "8", "--experts-used", "4"}},
      {"qwen3moe", "Q4_K_M", {"--experts", "16", "--experts-used", "4"}},
      {"qwen2moe", "Q8_0", {"--experts", "8", "--experts-used", "2"}},
  };
  const Shape shape{512, 6, 8, 4, 1536};
  for (size_t i = 0; i < (kSanitized ? 1 : cases.size()); ++i) {
    const Case& c = cases[i];
    const std::string label = c.arch + " " + c.type;
    const std::string model = synth(shape, c.type, c.arch + ".gguf", c.arch, c.extra);
    const auto run = run_bottega(
        {"run", "-m", model, "-c", "64", "-n", "12", "--temp", "0", "-t", "2", "-p", kPrompt},
        env());
    ASSERT_EQ(run.exit_code, 0) << label << ": " << run.err;
    const uint64_t measured = peak_from_stderr(run.err);
    ASSERT_GT(measured, 0u) << label << ": " << run.err;
    const json plan = fit_json({model, "--ctx", "64"});
    EXPECT_EQ(plan["model"]["architecture"], c.arch);
    // The cache keeps every position of every layer, windowed or not (the window limits what a
    // layer reads, not what is stored), so K and V of all 6 layers count: 4 KV heads, F16.
    const int head_dim = c.arch == "qwen3" ? 128 : 64;
    EXPECT_EQ(plan["memory"]["kv_bytes_per_token"], 6 * 2 * 4 * head_dim * 2) << label;
    const auto predicted = plan["memory"]["total_bytes"].get<uint64_t>();
    const double ratio = static_cast<double>(predicted) / static_cast<double>(measured);
    std::printf("%s: predicted %llu, measured %llu, ratio %.3f\n", label.c_str(),
                static_cast<unsigned long long>(predicted),
                static_cast<unsigned long long>(measured), ratio);
    if (kSanitized) continue;
    EXPECT_NEAR(ratio, 1.0, 0.10) << label << "\n" << plan["memory"].dump();
  }
}

// With layers on a Vulkan device (lavapipe: its buffers are system memory, the weights it runs
// read in place from the file), the system memory fit predicts against the run's measured peak,
// for a full offload and for half the layers; the device's share of the KV cache follows -ngl.
TEST_F(FitCli, WithADevicePredictedSystemMemoryWithinTenPercentOfMeasuredPeak) {
  if (kSanitized) GTEST_SKIP() << "resident memory is meaningless under the sanitizers";
  if (testing::vulkan_tests_skipped()) GTEST_SKIP() << "BOTTEGA_VULKAN_TESTS=skip";
  const std::string model = synth({512, 8, 8, 4, 1536}, "Q8_0", "device.gguf");
  for (const char* ngl : {"99", "4"}) {
    const std::string label = std::string("-ngl ") + ngl;
    EnvVars vars = hw_env(env());
    const auto run = run_bottega({"run", "-m", model, "-c", "64", "-n", "12", "--temp", "0", "-t",
                                  "2", "-p", kPrompt, "--device", "vulkan0", "-ngl", ngl},
                                 vars);
    ASSERT_EQ(run.exit_code, 0) << label << ": " << run.err;
    const uint64_t measured = peak_from_stderr(run.err);
    ASSERT_GT(measured, 0u) << run.err;
    const json plan = fit_json({model, "--ctx", "64", "--device", "vulkan0", "-ngl", ngl});
    const json& device = plan["device"];
    EXPECT_EQ(device["device"], "vulkan0");
    EXPECT_TRUE(device["shares_system_memory"].get<bool>());
    EXPECT_TRUE(device["weights_read_in_place"].get<bool>());
    const int layers = std::string(ngl) == "99" ? 8 : 4;
    EXPECT_EQ(device["layers"], layers) << label;
    EXPECT_EQ(device["output_head"], layers == 8) << label;
    // 8 layers x (K + V) x 4 heads x 64 x 2 bytes per token, 64 tokens, split by layers.
    const uint64_t kv_all = 8 * 2 * 4 * 64 * 2 * 64;
    EXPECT_EQ(device["kv_cache_bytes"], kv_all / 8 * layers) << label;
    EXPECT_EQ(plan["memory"]["kv_cache_bytes"], kv_all / 8 * (8 - layers)) << label;
    const auto predicted = plan["memory"]["system_bytes"].get<uint64_t>();
    const double ratio = static_cast<double>(predicted) / static_cast<double>(measured);
    std::printf("%s: predicted %llu, measured %llu, ratio %.3f\n", label.c_str(),
                static_cast<unsigned long long>(predicted),
                static_cast<unsigned long long>(measured), ratio);
    EXPECT_NEAR(ratio, 1.0, 0.10) << label << "\n" << plan.dump();
  }
}

TEST_F(FitCli, JsonHasVerdictContextAndSpeed) {
  const std::string model = synth({256, 2, 4, 2, 512}, "Q8_0", "small.gguf");
  const json plan = fit_json({model, "--ctx", "256", "--parallel", "2", "--available-mib", "4096"});
  EXPECT_TRUE(plan["fits"].get<bool>());
  EXPECT_EQ(plan["context"], 256);
  EXPECT_EQ(plan["parallel"], 2);
  EXPECT_EQ(plan["cache_type_k"], "f16");
  // 2 layers x (K + V) x 128 values x 2 bytes.
  EXPECT_EQ(plan["memory"]["kv_bytes_per_token"], 2 * 2 * 128 * 2);
  EXPECT_EQ(plan["memory"]["kv_cache_bytes"], 2 * 2 * 128 * 2 * 256 * 2);
  // The synthetic model's trained context (4096) fits in 4 GiB.
  EXPECT_EQ(plan["max_context"], plan["model"]["n_ctx_train"]);
  EXPECT_GT(plan["speed"]["pp512_tps"].get<double>(), 0.0);
  EXPECT_GT(plan["speed"]["tg128_tps"].get<double>(), 0.0);
  EXPECT_TRUE(plan["alternatives"].empty());

  const json q8 = fit_json({model, "--ctx", "256", "-ctk", "q8_0", "-ctv", "q4_0"});
  EXPECT_EQ(q8["memory"]["kv_bytes_per_token"], 2 * (136 + 72));
}

TEST_F(FitCli, TooLittleMemoryGivesVerdictLargestContextAndAlternatives) {
  const std::string model = synth({256, 2, 4, 2, 512}, "F16", "tight.gguf");
  auto total_at_4096 = [&](const std::string& cache) {
    return fit_json({model, "--ctx", "4096", "-ctk", cache, "-ctv", cache, "--available-mib",
                     "65536"})["memory"]["total_bytes"]
        .get<uint64_t>();
  };
  // Room for 4096 tokens of q4_0 KV cache but not of f16 (1 KiB per token).
  const uint64_t budget_mib = (total_at_4096("q4_0") + total_at_4096("f16")) / 2 >> 20;
  const json plan =
      fit_json({model, "--ctx", "4096", "--available-mib", std::to_string(budget_mib)});
  EXPECT_FALSE(plan["fits"].get<bool>());
  const auto max_context = plan["max_context"].get<int64_t>();
  EXPECT_GT(max_context, 64);
  EXPECT_LT(max_context, 4096);
  ASSERT_FALSE(plan["alternatives"].empty()) << plan.dump(2);
  bool shorter = false, smaller_kv = false;
  for (const json& a : plan["alternatives"]) {
    EXPECT_LE(a["total_bytes"].get<uint64_t>(), budget_mib << 20) << a.dump();
    shorter = shorter || a["context"] == max_context;
    smaller_kv = smaller_kv || a["cache_type_k"] != "f16";
  }
  EXPECT_TRUE(shorter) << plan["alternatives"].dump(2);
  EXPECT_TRUE(smaller_kv) << plan["alternatives"].dump(2);

  // --ctx max plans the largest context that fits.
  const json max = fit_json({model, "--ctx", "max", "--available-mib", std::to_string(budget_mib)});
  EXPECT_TRUE(max["fits"].get<bool>());
  EXPECT_EQ(max["context"], max_context);

  const auto text = run_bottega(
      {"fit", model, "--ctx", "4096", "--available-mib", std::to_string(budget_mib)}, env());
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("does NOT fit"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("nearest configurations that fit"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("tg128"), std::string::npos) << text.out;
}

TEST_F(FitCli, BadFilesAndImpossibleFlagsAreClearErrors) {
  const std::string model = synth({256, 2, 4, 2, 512}, "Q4_0", "errors.gguf");
  const struct {
    std::vector<std::string> args;
    int exit_code;
    std::string needle;
  } cases[] = {
      {{"fit", model, "--ctx", "-5"}, 2, "--ctx"},
      {{"fit", model, "--ctx", "lots"}, 2, "'max'"},
      {{"fit", model, "--parallel", "0"}, 2, "--parallel"},
      {{"fit", model, "-ctk", "q5_1"}, 2, "f32, f16, q8_0, q4_0"},
      {{"fit", (*home_ / "missing.gguf").string()}, 1, "missing.gguf"},
      {{"run", "-m", model, "-ctv", "bf16", "-p", "x"}, 2, "--cache-type-v"},
  };
  for (const auto& c : cases) {
    const auto r = run_bottega(c.args, env());
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args[1] << " " << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
  }

  // Truncated inside the tensor table, and not GGUF at all: errors naming the file, exit 1.
  const std::string bytes = testing::read_file(model);
  const std::string truncated = (*home_ / "truncated.gguf").string();
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  const std::string text = (*home_ / "text.gguf").string();
  std::ofstream(text) << "not a model\n";
  for (const std::string& path : {truncated, text}) {
    const auto r = run_bottega({"fit", path}, env());
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("bottega: error:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(path.substr(path.rfind('/') + 1)), std::string::npos) << r.err;
  }
}

TEST_F(FitCli, HwCachesTheRooflineAndReportsMemoryAndGpus) {
  const auto r = run_bottega({"hw", "--json"}, hw_env(env()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json hw = json::parse(r.out);
  EXPECT_TRUE(hw["cached"].get<bool>()) << "the suite's first hw run measured; this one reuses it";
  EXPECT_EQ(hw["bandwidth"]["buffer_bytes"], 32 << 20);
  EXPECT_GT(hw["bandwidth"]["read_gb_per_s"].get<double>(), 0.0);
  EXPECT_GT(hw["compute"]["f32_gflops"].get<double>(), 0.0);
  EXPECT_GT(hw["compute"]["int8_gops"].get<double>(), 0.0);
  EXPECT_GT(hw["memory"]["total_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(hw["memory"]["available_bytes"].get<uint64_t>(), 0u);
  EXPECT_LE(hw["memory"]["available_bytes"], hw["memory"]["total_bytes"]);
  EXPECT_FALSE(hw["vulkan"]["status"].get<std::string>().empty());
  EXPECT_TRUE(hw["vulkan"]["gpus"].is_array());

  const auto text = run_bottega({"hw"}, hw_env(env()));
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("(cached; --refresh measures again)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("gpu:"), std::string::npos) << text.out;
}

// A cache entry written before the int8 peak was measured is measured again, not half used.
// Runs `hw --json` once to fill a cache, lets `edit` change the one entry, and returns the JSON
// of the next run together with the cache file it left.
struct CacheRerun {
  json report;
  json cache;
};
CacheRerun rerun_after_editing_cache(const std::function<void(json&)>& edit) {
  const testing::TempDir home;
  const EnvVars vars = hw_env({{"BOTTEGA_HOME", home.path().string()}});
  const std::vector<std::string> args = {"hw", "--json", "--buffer-mib", "32", "-r", "1"};
  EXPECT_EQ(run_bottega(args, vars).exit_code, 0);
  const std::filesystem::path cache = home / "hw.json";
  json doc = json::parse(std::ifstream(cache));
  EXPECT_EQ(doc["machines"].size(), 1u) << doc.dump();
  for (auto& entry : doc["machines"]) edit(entry);
  std::ofstream(cache) << doc.dump();
  const auto r = run_bottega(args, vars);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return {json::parse(r.out), json::parse(std::ifstream(cache))};
}

TEST(HwCache, EntryWithoutTheInt8PeakIsMeasuredAgain) {
  const CacheRerun rerun = rerun_after_editing_cache([](json& entry) {
    ASSERT_TRUE(entry.contains("int8_ops_per_second")) << entry.dump();
    entry.erase("int8_ops_per_second");
  });
  EXPECT_FALSE(rerun.report["cached"].get<bool>());
  EXPECT_GT(rerun.report["compute"]["int8_gops"].get<double>(), 0.0);
  for (const auto& entry : rerun.cache["machines"]) {
    EXPECT_GT(entry.value("int8_ops_per_second", 0.0), 0.0) << entry.dump();
  }
}

// fit's decode shares are calibrated against the median-window probe: a bandwidth measured the old
// way (the best whole-buffer pass, up to twice as high on a shared host) must not be used with
// them.
TEST(HwCache, BandwidthFromAnotherProbeIsMeasuredAgain) {
  const CacheRerun rerun = rerun_after_editing_cache([](json& entry) {
    ASSERT_EQ(entry.value("read_probe", ""), "median of 64 MiB windows, huge pages")
        << entry.dump();
    entry.erase("read_probe");
    entry["read_bytes_per_second"] = 1e15;  // what no probe of this machine can read
  });
  EXPECT_FALSE(rerun.report["cached"].get<bool>());
  EXPECT_LT(rerun.report["bandwidth"]["read_gb_per_s"].get<double>(), 1e5);
  for (const auto& entry : rerun.cache["machines"]) {
    EXPECT_EQ(entry.value("read_probe", ""), "median of 64 MiB windows, huge pages")
        << entry.dump();
    EXPECT_LT(entry.value("read_bytes_per_second", 0.0), 1e14) << entry.dump();
  }
}

// fit's decode shares are calibrated against the decode-kernel probe: an entry from before it
// (no decode rate) or from another probe must be measured again, not used.
TEST(HwCache, DecodeStreamFromAnotherProbeIsMeasuredAgain) {
  const CacheRerun rerun = rerun_after_editing_cache([](json& entry) {
    ASSERT_GT(entry.value("decode_bytes_per_second", 0.0), 0.0) << entry.dump();
    ASSERT_FALSE(entry.value("decode_probe", "").empty()) << entry.dump();
    entry.erase("decode_probe");
    entry["decode_bytes_per_second"] = 1e15;
  });
  EXPECT_FALSE(rerun.report["cached"].get<bool>());
  const double decode = rerun.report["bandwidth"]["decode_gb_per_s"].get<double>();
  EXPECT_GT(decode, 0.0);
  EXPECT_LT(decode, 1e5);
  for (const auto& entry : rerun.cache["machines"]) {
    EXPECT_FALSE(entry.value("decode_probe", "").empty()) << entry.dump();
    EXPECT_LT(entry.value("decode_bytes_per_second", 0.0), 1e14) << entry.dump();
  }
}

TEST(HwCache, EntryWithoutTheDecodeStreamIsMeasuredAgain) {
  const CacheRerun rerun =
      rerun_after_editing_cache([](json& entry) { entry.erase("decode_bytes_per_second"); });
  EXPECT_FALSE(rerun.report["cached"].get<bool>());
  for (const auto& entry : rerun.cache["machines"]) {
    EXPECT_GT(entry.value("decode_bytes_per_second", 0.0), 0.0) << entry.dump();
  }
}

// The Vulkan probe against a real loader and driver: Mesa's lavapipe, a CPU implementation that
// scripts/setup installs, stands in for a GPU (it reports itself as a CPU device in system memory).
TEST_F(FitCli, HwListsTheLavapipeVulkanDevice) {
  std::string icd;
  const std::filesystem::path icd_dir = "/usr/share/vulkan/icd.d";
  if (std::filesystem::is_directory(icd_dir)) {
    for (const auto& entry : std::filesystem::directory_iterator(icd_dir)) {
      if (entry.path().filename().string().rfind("lvp_icd", 0) == 0) icd = entry.path().string();
    }
  }
  ASSERT_FALSE(icd.empty()) << "lavapipe's ICD is missing: install libvulkan1 and "
                               "mesa-vulkan-drivers (scripts/setup does)";
  EnvVars vars = hw_env(env());
  vars.emplace_back("VK_ICD_FILENAMES", icd);
  const auto r = run_bottega({"hw", "--json"}, vars);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json vulkan = json::parse(r.out)["vulkan"];
  EXPECT_TRUE(vulkan["loader_found"].get<bool>());
  ASSERT_EQ(vulkan["gpus"].size(), 1u) << vulkan.dump();
  const json& gpu = vulkan["gpus"][0];
  EXPECT_NE(gpu["name"].get<std::string>().find("llvmpipe"), std::string::npos) << gpu.dump();
  EXPECT_EQ(gpu["vendor"], "Mesa");
  EXPECT_EQ(gpu["type"], "cpu");
  EXPECT_TRUE(gpu["shares_system_memory"].get<bool>());
  EXPECT_GT(gpu["device_local_bytes"].get<uint64_t>(), 0u);
  // What --device takes, and what the shaders may rely on.
  EXPECT_EQ(gpu["device"], "vulkan0");
  EXPECT_GE(gpu["subgroup_size"].get<uint32_t>(), 4u) << gpu.dump();
  EXPECT_EQ(gpu["api_version"].get<std::string>().rfind("1.", 0), 0u) << gpu.dump();
  EXPECT_TRUE(gpu["integer_dot_product"].is_boolean());
  EXPECT_TRUE(gpu["cooperative_matrix"].is_boolean());

  const auto text = run_bottega({"hw"}, vars);
  EXPECT_NE(text.out.find("vulkan0: llvmpipe"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("subgroup "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("shares system memory"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace bottega
