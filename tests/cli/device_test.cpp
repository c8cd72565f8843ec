// --device and -ngl through the binary: the first Vulkan device (lavapipe in CI) and every split
// of the shared model between it and the CPU continue a prompt as the CPU does; bench labels the
// backend and the split as llama-bench does; a device that is not one is refused with the names
// that are.
#include "backend/device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "testutil/testutil.h"

namespace bottega {
namespace {

using testing::hw_env;
using testing::run_bottega;

#define REQUIRE_VULKAN()                                               \
  if (!backend::has_vulkan() || testing::vulkan_tests_skipped()) {     \
    GTEST_SKIP() << "no Vulkan backend, or BOTTEGA_VULKAN_TESTS=skip"; \
  }

std::string model() {
  return testing::shared_file("models/aidreams260K.gguf").string();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(Device, RunOnVulkanAndEverySplitContinuesAsTheCpuDoes) {
  REQUIRE_VULKAN();
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "run by the optimised build: each run starts lavapipe, whose shader compiler is "
                  "slow under the sanitizers";
#endif
  const std::vector<std::string> run = {"run", "-m", model(),  "-p", "Once upon a time",
                                        "-n",  "24", "--temp", "0"};
  const auto on_cpu = run_bottega(run);
  ASSERT_EQ(on_cpu.exit_code, 0) << on_cpu.err;
  ASSERT_GT(on_cpu.out.size(), 40u) << on_cpu.out;
  // aidreams260K has 4 layers: 2 splits them; 4 leaves the head on the CPU; 5 moves it too.
  const std::vector<std::pair<std::vector<std::string>, std::string>> splits = {
      {{"--device", "vulkan0"}, "all 4 layers and the output on vulkan0"},
      {{"-dev", "vulkan0", "-ngl", "2"},
       "2 of 4 layers on vulkan0; the rest and the output on the CPU"},
      {{"--device", "vulkan0", "--n-gpu-layers", "4"},
       "4 of 4 layers on vulkan0; the rest and the output on the CPU"},
      {{"--device", "vulkan0", "-ngl", "5"}, "all 4 layers and the output on vulkan0"},
      {{"--device", "vulkan0", "-ngl", "0"}, "all layers on the CPU"}};
  for (const auto& [flags, placement] : splits) {
    std::vector<std::string> args = run;
    args.insert(args.end(), flags.begin(), flags.end());
    const auto r = run_bottega(args, hw_env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, on_cpu.out) << flags.back();
    EXPECT_NE(r.err.find("bottega: " + placement), std::string::npos) << r.err;
    // lavapipe reads system memory: the weights it runs are read from the mapped file.
    const bool on_device = placement.find("vulkan0") != std::string::npos;
    EXPECT_EQ(r.err.find("of weights read from the mapped file (no copy)") != std::string::npos,
              on_device)
        << r.err;
  }
}

TEST(Device, AnUnknownDeviceIsRefusedNamingTheAcceptedOnes) {
  const std::vector<std::vector<std::string>> commands = {
      {"run", "-m", model(), "-p", "x", "--device", "gpu0"},
      {"bench", "-m", model(), "-p", "8", "--bandwidth", "1", "--device", "gpu0"},
      {"perplexity", "-m", model(), "-f", model(), "--device", "gpu0"}};
  for (const auto& args : commands) {
    const auto r = run_bottega(args);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_NE(r.err.find("--device 'gpu0' is not a device; use cpu or vulkanN"), std::string::npos)
        << r.err;
    EXPECT_EQ(r.out, "") << args[0];
  }
  const auto negative = run_bottega({"run", "-m", model(), "-p", "x", "-ngl", "-2"});
  EXPECT_EQ(negative.exit_code, 2);
  EXPECT_NE(negative.err.find("--n-gpu-layers"), std::string::npos) << negative.err;
}

// perplexity on the GPU, whole and split, scores a text as the CPU does: the shared model's F32
// weights are multiplied in float on both, so only the order of additions differs.
TEST(Device, PerplexityOnVulkanEqualsTheCpus) {
  REQUIRE_VULKAN();
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "run by the optimised build: each run starts lavapipe, whose shader compiler is "
                  "slow under the sanitizers";
#endif
  testing::TempDir dir;
  const auto text_path = (dir / "story.txt").string();
  {
    std::ofstream text(text_path);
    for (int i = 0; i < 12; ++i) {
      text << "Once upon a time there was a little girl who lived in a village near the forest. "
              "She liked to play with her dog and to look at the birds in the tall trees.\n";
    }
  }
  auto perplexity_of = [&](const std::vector<std::string>& device_flags) {
    std::vector<std::string> args = {"perplexity", "-m", model(), "-f", text_path, "-c", "64"};
    args.insert(args.end(), device_flags.begin(), device_flags.end());
    const auto r = run_bottega(args, hw_env());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const size_t at = r.out.find("PPL = ");
    return at == std::string::npos ? -1.0 : std::stod(r.out.substr(at + 6));
  };
  const double on_cpu = perplexity_of({});
  ASSERT_GT(on_cpu, 1.0);
  EXPECT_NEAR(perplexity_of({"--device", "vulkan0"}), on_cpu, 1e-3 * on_cpu);
  EXPECT_NEAR(perplexity_of({"--device", "vulkan0", "-ngl", "2"}), on_cpu, 1e-3 * on_cpu);
}

// A machine whose Vulkan loader finds no driver: --device vulkan0 is a one-line error that says
// what to install, before any output.
TEST(Device, NoVulkanDriverIsAnErrorSayingWhatToInstall) {
  REQUIRE_VULKAN();
  testing::EnvVars vars = hw_env();
  vars.emplace_back("VK_ICD_FILENAMES", "/nonexistent/icd.json");
  vars.emplace_back("VK_DRIVER_FILES", "/nonexistent/icd.json");
  const auto r =
      run_bottega({"run", "-m", model(), "-p", "Once", "-n", "4", "--device", "vulkan0"}, vars);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("no Vulkan driver"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mesa-vulkan-drivers"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// One run per -ngl value with an ngl column, as llama-bench prints them.
TEST(Device, BenchRunsEachSplitAndLabelsIt) {
  REQUIRE_VULKAN();
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "run by the optimised build: each run starts lavapipe, whose shader compiler is "
                  "slow under the sanitizers";
#endif
  const auto r = run_bottega({"bench", "-m", model(), "-p", "8", "-n", "4", "-r", "1",
                              "--bandwidth", "10", "--device", "vulkan0", "-ngl", "0,2,99"},
                             hw_env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 8u) << r.out;
  EXPECT_NE(lines[0].find("| backend    |   ngl | threads |"), std::string::npos) << lines[0];
  auto cells_of = [](const std::string& line) {
    std::vector<std::string> cells;
    std::istringstream in(line.substr(1));
    for (std::string cell; std::getline(in, cell, '|');) {
      const auto first = cell.find_first_not_of(' ');
      cells.push_back(first == std::string::npos
                          ? ""
                          : cell.substr(first, cell.find_last_not_of(' ') - first + 1));
    }
    return cells;
  };
  const char* expected_ngl[] = {"0", "0", "2", "2", "5", "5"};
  for (size_t i = 0; i < 6; ++i) {
    const auto cells = cells_of(lines[2 + i]);
    ASSERT_EQ(cells.size(), 11u) << lines[2 + i];
    EXPECT_EQ(cells[3], "Vulkan") << lines[2 + i];
    EXPECT_EQ(cells[4], expected_ngl[i]) << lines[2 + i];
    EXPECT_EQ(cells[6], i % 2 == 0 ? "pp8" : "tg4") << lines[2 + i];
  }
  // The roofline cell of the tg4 rows: against the CPU's bandwidth with no layer on the device,
  // against the device's own (measured once, said on stderr) with everything there, none for a
  // split.
  EXPECT_GT(std::stod(cells_of(lines[3])[9]), 0.0) << lines[3];
  EXPECT_EQ(cells_of(lines[5])[9], "-") << lines[5];
  EXPECT_GT(std::stod(cells_of(lines[7])[9]), 0.0) << lines[7];
  EXPECT_NE(r.err.find("bottega: vulkan0 read bandwidth "), std::string::npos) << r.err;

  const auto json =
      run_bottega({"bench", "-m", model(), "-p", "0", "-n", "2", "-r", "1", "--bandwidth", "10",
                   "--device", "vulkan0", "-ngl", "3", "-o", "jsonl"},
                  hw_env());
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto row = nlohmann::json::parse(json.out);
  EXPECT_EQ(row["backends"], "Vulkan");
  EXPECT_EQ(row["n_gpu_layers"], 3);
  EXPECT_FALSE(row["gpu_info"].get<std::string>().empty());
  EXPECT_TRUE(row["roofline_pct"].is_null());
}

}  // namespace
}  // namespace bottega
