#include "server/client_connection.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace bottega::server {
namespace {

struct Endpoint {
  std::string addr;
  int port = -1;
};

// Formats an address as httplib formats Request::remote_addr / local_addr (numeric host).
bool describe(const sockaddr_storage& address, socklen_t length, Endpoint& out) {
  if (address.ss_family == AF_INET) {
    out.port = ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  } else if (address.ss_family == AF_INET6) {
    out.port = ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  } else {
    return false;
  }
  char host[NI_MAXHOST] = "";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host, sizeof host, nullptr,
                  0, NI_NUMERICHOST) != 0) {
    return false;
  }
  out.addr = host;
  return true;
}

bool local_end(int fd, Endpoint& out) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  return getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
         describe(address, length, out);
}

bool remote_end(int fd, Endpoint& out) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  return getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
         describe(address, length, out);
}

bool is_socket(int fd) {
  struct stat info {};
  return fstat(fd, &info) == 0 && S_ISSOCK(info.st_mode);
}

}  // namespace

ClientConnection::ClientConnection(const httplib::Request& request)
    : remote_addr_(request.remote_addr),
      remote_port_(request.remote_port),
      local_addr_(request.local_addr),
      local_port_(request.local_port) {}

int ClientConnection::find_socket() const {
  if (remote_port_ < 0 || local_port_ < 0) return -1;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  const int own = dirfd(dir);
  int found = -1;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == own || !is_socket(static_cast<int>(fd)))
      continue;
    Endpoint local, remote;
    // Ports first: they differ between connections, so most sockets are ruled out cheaply.
    if (!local_end(static_cast<int>(fd), local) || local.port != local_port_ ||
        !remote_end(static_cast<int>(fd), remote) || remote.port != remote_port_) {
      continue;
    }
    if (remote.addr == remote_addr_ && (local_addr_.empty() || local.addr == local_addr_)) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
  return found;
}

bool ClientConnection::closed() {
  if (!searched_) {
    fd_ = find_socket();
    searched_ = true;
  }
  if (fd_ < 0) return false;
  char byte = 0;
  const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;
  if (n == 0) return true;  // the peer shut down its side: nobody will read the answer
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace bottega::server
