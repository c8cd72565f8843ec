// Whether the client of a request is still connected, for handlers that work long before they
// write: a non-streaming completion, or any request still queued for a slot.
//
// cpp-httplib 0.11 (Debian's) tells a handler nothing about its connection, and its
// DataSink::is_writable() only polls for POLLOUT, which a socket whose peer has closed still
// reports. The request does carry both ends' addresses and ports, which name its TCP connection
// uniquely, so the socket is found among the process's descriptors by matching them, and then
// peeked without blocking. The descriptor cannot be closed or reused while the handler runs: the
// HTTP thread running the handler is the one that closes it afterwards.
#pragma once

#include <string>

namespace httplib {
struct Request;
}

namespace bottega::server {

class ClientConnection {
 public:
  explicit ClientConnection(const httplib::Request& request);

  // True once the peer has closed its side (FIN) or reset the connection. Data the client sent
  // meanwhile (a pipelined request) is left in place. False when the socket cannot be found
  // (no /proc): the handler then behaves as if the client stayed.
  bool closed();

 private:
  int find_socket() const;

  std::string remote_addr_;
  int remote_port_ = -1;
  std::string local_addr_;
  int local_port_ = -1;
  bool searched_ = false;  // the socket is looked up on the first closed(), not for every request
  int fd_ = -1;
};

}  // namespace bottega::server
