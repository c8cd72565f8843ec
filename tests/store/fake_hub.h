// A loopback imitation of the Hugging Face Hub for the pull tests: the tree listing (optionally in
// pages linked by Link: <URL>; rel="next" headers, as the Hub paginates) and resolve endpoints
// (resolve redirects LFS files to /cdn/SHA256 like the real Hub redirects to its CDN, and answers
// files kept in git itself), with switches for the failures a real network produces.
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
  // Adds a file kept in git, not LFS: the listing gives its size but no lfs object (no SHA-256).
  void add_in_git(const std::string& repo, const std::string& path, const std::string& content);

  // Lists `entries` per page, each page linking to the next (0: one page, the default).
  void paginate(size_t entries) { page_entries_ = entries; }
  // Next-page links name this server (scheme://host:port) instead of the fake Hub itself.
  void link_pages_to(const std::string& origin) {
    std::lock_guard lock(mutex_);
    link_origin_ = origin;
  }
  void link_each_page_to_itself() { self_links_ = true; }   // a pagination loop
  void send_malformed_links() { malformed_links_ = true; }  // Link: no-angle-brackets; rel=next

  void corrupt_downloads() { corrupt_ = true; }  // one byte flipped, listing unchanged
  void cut_first_download_after(size_t bytes) { cut_after_ = bytes; }  // then close the connection
  void stall_downloads() { stall_ = true; }                            // one byte, then silence
  void fail_with(int status) { fail_status_ = status; }  // every request answers this status
  std::vector<Request> requests() const;

 private:
  struct File {
    std::string repo, path, content, sha256;  // sha256 empty: kept in git
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
  std::string link_origin_;  // empty: this server
  std::atomic<bool> stopping_{false};
  std::atomic<bool> corrupt_{false};
  std::atomic<bool> stall_{false};
  std::atomic<size_t> cut_after_{0};
  std::atomic<int> fail_status_{0};
  std::atomic<size_t> page_entries_{0};
  std::atomic<bool> self_links_{false};
  std::atomic<bool> malformed_links_{false};
};

}  // namespace bottega::testing
