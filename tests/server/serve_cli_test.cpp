// `bottega serve` refuses configurations that cannot work, before serving anything.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil/testutil.h"

namespace bottega::testing {
namespace {

std::string model() {
  return shared_file("models/aidreams260K.gguf").string();
}

TEST(ServeCli, AKvBudgetSmallerThanOneContextIsAnError) {
  const auto r =
      run_bottega({"serve", "-m", model(), "--port", "0", "-c", "1024", "--kv-budget", "100"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--kv-budget 100 is smaller than the context 1024"), std::string::npos)
      << r.err;
}

TEST(ServeCli, BadFlagsAndMissingModels) {
  EXPECT_EQ(run_bottega({"serve", "-m", model(), "--port", "70000"}).exit_code, 2);
  EXPECT_EQ(run_bottega({"serve", "-m", model(), "--parallel", "0"}).exit_code, 2);
  EXPECT_EQ(run_bottega({"serve", "-m", model(), "-ctk", "q9_9"}).exit_code, 2);
  const auto missing = run_bottega({"serve", "-m", "/nonexistent/model.gguf"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
  const auto template_missing =
      run_bottega({"serve", "-m", model(), "--port", "0", "--chat-template", "no-such-template"});
  EXPECT_EQ(template_missing.exit_code, 1);
  EXPECT_NE(template_missing.err.find("chatml"), std::string::npos)
      << "the message lists the built-in templates: " << template_missing.err;
}

TEST(ServeCli, APortInUseIsNamed) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  const auto r = run_bottega({"serve", "-m", model(), "--port", port});
  close(fd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + port), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bottega::testing
