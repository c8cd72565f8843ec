#include "testutil/testutil.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace bottega::testing {

namespace fs = std::filesystem;

fs::path shared_dir() {
  if (const char* env = std::getenv("BOTTEGA_SHARED"); env != nullptr && *env != '\0') return env;
  return fs::path(BOTTEGA_SOURCE_DIR).parent_path() / "shared";
}

fs::path source_dir() {
  return BOTTEGA_SOURCE_DIR;
}

fs::path shared_file(const std::string& relative) {
  const fs::path path = shared_dir() / relative;
  if (!fs::exists(path)) {
    throw std::runtime_error("missing shared fixture " + path.string() +
                             " (set BOTTEGA_SHARED to the shared/ directory)");
  }
  return path;
}

TempDir::TempDir() {
  std::random_device seed;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const fs::path candidate =
        fs::temp_directory_path() / ("bottega-test-" + std::to_string(seed()));
    if (fs::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("could not create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

namespace {

std::string drain(int fd) {
  std::string text;
  std::array<char, 65536> buffer{};
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n <= 0) break;
    text.append(buffer.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// The parent's environment with ENV's names replaced or added, built before fork: the child of a
// threaded process should only exec.
std::vector<std::string> child_environment(const EnvVars& env) {
  std::vector<std::string> vars;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string var = *entry;
    const std::string name = var.substr(0, var.find('='));
    const bool replaced =
        std::any_of(env.begin(), env.end(), [&](const auto& e) { return e.first == name; });
    if (!replaced) vars.push_back(var);
  }
  for (const auto& [name, value] : env) vars.push_back(name + "=" + value);
  return vars;
}

}  // namespace

CommandResult run_bottega(const std::vector<std::string>& args, const std::string& stdin_text) {
  return run_bottega(args, EnvVars{}, stdin_text);
}

CommandResult run_bottega(const std::vector<std::string>& args, const EnvVars& env,
                          const std::string& stdin_text) {
  // A child that exits without reading its stdin must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  const char* bin = std::getenv("BOTTEGA_BIN");
  if (bin == nullptr)
    throw std::runtime_error("BOTTEGA_BIN is not set (run the tests through ctest)");
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(bin));
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const std::vector<std::string> env_vars = child_environment(env);
  std::vector<char*> envp;
  for (const auto& var : env_vars) envp.push_back(const_cast<char*>(var.c_str()));
  envp.push_back(nullptr);
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    throw std::runtime_error("pipe failed");
  }
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      close(fd);
    }
    execve(bin, argv.data(), envp.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  std::thread writer([&] {
    size_t written = 0;
    while (written < stdin_text.size()) {
      const ssize_t n =
          ::write(in_pipe[1], stdin_text.data() + written, stdin_text.size() - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    close(in_pipe[1]);
  });
  CommandResult result;
  std::thread err_reader([&] { result.err = drain(err_pipe[0]); });
  result.out = drain(out_pipe[0]);
  err_reader.join();
  writer.join();
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

bool vulkan_tests_skipped() {
  const char* setting = std::getenv("BOTTEGA_VULKAN_TESTS");
  return setting != nullptr && std::string(setting) == "skip";
}

EnvVars hw_env(EnvVars env) {
  env.emplace_back("ASAN_OPTIONS", "detect_leaks=0");
  return env;
}

}  // namespace bottega::testing
