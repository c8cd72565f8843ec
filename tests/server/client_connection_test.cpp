// ClientConnection against a real cpp-httplib server on loopback, clients on raw sockets, so that
// closing, resetting and pipelining are exactly what the test says.
#include "server/client_connection.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace bottega::server {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Each request to /watch polls closed() for up to `watch_for` and reports what it saw: to the
// test (the first request's only), and to the client in the body.
class WatchServer {
 public:
  explicit WatchServer(std::chrono::milliseconds watch_for) {
    server_.Get("/watch", [this, watch_for](const httplib::Request& req, httplib::Response& res) {
      ClientConnection client(req);
      const auto until = Clock::now() + watch_for;
      bool closed = false;
      while (!closed && Clock::now() < until) {
        closed = client.closed();
        if (!closed) std::this_thread::sleep_for(5ms);
      }
      if (!reported_.exchange(true)) verdict_.set_value(closed);
      res.set_content(closed ? "closed" : "open", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~WatchServer() {
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  // Whether the first request's handler found its client gone; waits for the handler to finish.
  bool first_verdict() { return verdict_.get_future().get(); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::promise<bool> verdict_;
  std::atomic<bool> reported_{false};
};

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  return fd;
}

void send_all(int fd, const std::string& text) {
  ASSERT_EQ(send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

std::string read_until_closed_or(int fd, const std::string& marker) {
  std::string received;
  char buffer[4096];
  while (received.find(marker) == std::string::npos) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    received.append(buffer, static_cast<size_t>(n));
  }
  return received;
}

const std::string kRequest = "GET /watch HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

TEST(ClientConnection, SeesAClientThatClosedWhileTheHandlerWorks) {
  WatchServer server(5000ms);
  const int fd = connect_to(server.port());
  send_all(fd, kRequest);
  std::this_thread::sleep_for(50ms);  // the handler is polling now
  const auto closed_at = Clock::now();
  close(fd);
  EXPECT_TRUE(server.first_verdict());
  EXPECT_LT(Clock::now() - closed_at, 2s) << "noticed long after the client left";
}

TEST(ClientConnection, SeesAClientThatReset) {
  WatchServer server(5000ms);
  const int fd = connect_to(server.port());
  const linger abort_on_close{1, 0};  // close() sends RST instead of FIN
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close), 0);
  send_all(fd, kRequest);
  std::this_thread::sleep_for(50ms);
  close(fd);
  EXPECT_TRUE(server.first_verdict());
}

TEST(ClientConnection, AClientThatWaitsOrPipelinesIsStillThere) {
  WatchServer server(300ms);
  const int fd = connect_to(server.port());
  // A second request queued behind the first is data to read, not a closed connection.
  send_all(fd, kRequest + kRequest);
  EXPECT_FALSE(server.first_verdict());
  const std::string answer = read_until_closed_or(fd, "open");
  EXPECT_NE(answer.find("200 OK"), std::string::npos) << answer;
  EXPECT_NE(answer.find("open"), std::string::npos) << answer;
  close(fd);
}

}  // namespace
}  // namespace bottega::server
