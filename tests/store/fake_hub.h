// A loopback imitation of the Hugging Face Hub for the pull tests: the tree listing and resolve
// endpoints (resolve redirects to /cdn/SHA256 like the real Hub redirects to its CDN), with
// switches for the failures a real network produces.
#pragma once

#include <httplib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bottega::testing {

class FakeHub {
 public:
  struct Request {
    std::string path;
    std::string range;          // the Range header, if any
    std::string authorization;  // the Authorization header, if any
  };

  FakeHub();  // listens on 127.0.0.1, on a port the kernel picks
  ~FakeHub();
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Adds a file to REPO; returns its SHA-256 (what the listing announces as the LFS oid).
  std::string add(const std::string& repo, const std::string& path, const std::string& content);

  void corrupt_downloads() { corrupt_ = true; }  // one byte flipped, listing unchanged
  void cut_first_download_after(size_t bytes) { cut_after_ = bytes; }  // then close the connection
  void stall_downloads() { stall_ = true; }                            // one byte, then silence
  void fail_with(int status) { fail_status_ = status; }  // every request answers this status
  std::vector<Request> requests() const;

 private:
  struct File {
    std::string repo, path, content, sha256;
  };
  void record(const httplib::Request& req);
  void serve_listing(const httplib::Request& req, httplib::Response& res);
  void serve_blob(const httplib::Request& req, httplib::Response& res);

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<File> files_;
  std::vector<Request> requests_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> corrupt_{false};
  std::atomic<bool> stall_{false};
  std::atomic<size_t> cut_after_{0};
  std::atomic<int> fail_status_{0};
};

}  // namespace bottega::testing
