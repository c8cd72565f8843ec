// Shared helpers for tests: where the shared fixtures live, temporary directories, running the CLI.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace bottega::testing {

// $BOTTEGA_SHARED, else ../shared beside the source checkout. A missing fixture fails the test
// (never a skip): CI always has shared/.
std::filesystem::path shared_dir();
std::filesystem::path shared_file(const std::string& relative);
// The repository checkout the tests were built from (for scripts and tests/npm/node_modules).
std::filesystem::path source_dir();

// BOTTEGA_VULKAN_TESTS=skip: a machine without a Vulkan device opts out of the tests that need one
// (CI has lavapipe, so there a missing device fails them).
bool vulkan_tests_skipped();

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the bottega binary ($BOTTEGA_BIN, set by the build) with the arguments, no shell involved.
CommandResult run_bottega(const std::vector<std::string>& args, const std::string& stdin_text = "");
// The same, with environment variables set (or replaced) in the child: {{"BOTTEGA_HOME", dir}}.
using EnvVars = std::vector<std::pair<std::string, std::string>>;
CommandResult run_bottega(const std::vector<std::string>& args, const EnvVars& env,
                          const std::string& stdin_text = "");

// ENV plus what `bottega hw` needs under the sanitizers: hw loads the system's Vulkan drivers,
// whose own allocations (lavapipe's LLVM) are never freed and, the driver being unloaded by then,
// cannot be told apart from ours at exit; so the leak check is off for that command only.
EnvVars hw_env(EnvVars env = {});

}  // namespace bottega::testing
