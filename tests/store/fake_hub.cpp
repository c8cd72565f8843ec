#include "store/fake_hub.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "store/sha256.h"

namespace bottega::testing {
namespace {

// A stalled download holds its connection at most this long, so a broken client cannot hang the
// test run; the client under test must give up much sooner.
constexpr auto kMaxStall = std::chrono::seconds(20);

}  // namespace

FakeHub::FakeHub() {
  server_.Get(
      R"(/api/models/([^/]+/[^/]+)/tree/main)",
      [this](const httplib::Request& req, httplib::Response& res) { serve_listing(req, res); });
  server_.Get(R"(/([^/]+/[^/]+)/resolve/main/(.+))", [this](const httplib::Request& req,
                                                            httplib::Response& res) {
    record(req);
    if (fail_status_ != 0) {
      res.status = fail_status_;
      return;
    }
    std::lock_guard lock(mutex_);
    for (const auto& file : files_) {
      if (file.repo == req.matches[1] && file.path == req.matches[2]) {
        if (file.sha256.empty()) {
          res.set_content(file.content, "application/octet-stream");  // git files come directly
        } else {
          res.set_redirect("/cdn/" + file.sha256, 302);  // the Hub sends LFS downloads to its CDN
        }
        return;
      }
    }
    res.status = 404;
  });
  server_.Get(R"(/cdn/([0-9a-f]{64}))", [this](const httplib::Request& req,
                                               httplib::Response& res) { serve_blob(req, res); });
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("the fake Hub cannot bind to 127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  for (int i = 0; i < 500 && !server_.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!server_.is_running()) throw std::runtime_error("the fake Hub did not start");
}

FakeHub::~FakeHub() {
  stopping_ = true;
  server_.stop();
  thread_.join();
}

std::string FakeHub::add(const std::string& repo, const std::string& path,
                         const std::string& content) {
  const std::string sha256 = store::sha256_hex(content);
  std::lock_guard lock(mutex_);
  files_.push_back({repo, path, content, sha256});
  return sha256;
}

void FakeHub::add_in_git(const std::string& repo, const std::string& path,
                         const std::string& content) {
  std::lock_guard lock(mutex_);
  files_.push_back({repo, path, content, ""});
}

std::vector<FakeHub::Request> FakeHub::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void FakeHub::record(const httplib::Request& req) {
  std::lock_guard lock(mutex_);
  requests_.push_back(
      {req.path, req.get_header_value("Range"), req.get_header_value("Authorization")});
}

void FakeHub::serve_listing(const httplib::Request& req, httplib::Response& res) {
  record(req);
  if (fail_status_ != 0) {
    res.status = fail_status_;
    return;
  }
  // What the Hub lists besides LFS files: directories and small files kept in git.
  nlohmann::json listing = nlohmann::json::array(
      {{{"type", "file"}, {"path", "README.md"}, {"size", 10}, {"oid", "0123"}}});
  std::lock_guard lock(mutex_);
  for (const auto& file : files_) {
    if (file.repo != req.matches[1]) continue;
    if (file.path.find('/') != std::string::npos) {
      listing.push_back(
          {{"type", "directory"}, {"path", file.path.substr(0, file.path.find('/'))}, {"size", 0}});
    }
    nlohmann::json entry = {
        {"type", "file"}, {"path", file.path}, {"size", file.content.size()}, {"oid", "a1b2c3"}};
    if (!file.sha256.empty()) {
      entry["lfs"] = {{"oid", file.sha256}, {"size", file.content.size()}, {"pointerSize", 134}};
    }
    listing.push_back(entry);
  }
  if (listing.size() == 1) {
    res.status = 404;  // the Hub answers 404 for a repository that does not exist
    return;
  }
  if (page_entries_ == 0) {
    res.set_content(listing.dump(), "application/json");
    return;
  }
  // Pages named by a cursor, as the Hub's are; the first page has none.
  const size_t page = req.has_param("cursor") ? std::stoul(req.get_param_value("cursor")) : 0;
  const size_t first = page * page_entries_;
  const size_t end = std::min(listing.size(), first + page_entries_);
  nlohmann::json slice = nlohmann::json::array();
  for (size_t i = first; i < end; ++i) slice.push_back(listing[i]);
  const std::string base = (link_origin_.empty() ? endpoint() : link_origin_) + "/api/models/" +
                           std::string(req.matches[1]) + "/tree/main?recursive=true";
  const std::string self = page == 0 ? base : base + "&cursor=" + std::to_string(page);
  if (malformed_links_) {
    res.set_header("Link", base + "&cursor=1; rel=next");
  } else if (self_links_) {
    res.set_header("Link", "<" + self + ">; rel=\"next\"");
  } else if (end < listing.size()) {
    res.set_header("Link", "<" + base + "&cursor=" + std::to_string(page + 1) + ">; rel=\"next\"");
  }
  res.set_content(slice.dump(), "application/json");
}

void FakeHub::serve_blob(const httplib::Request& req, httplib::Response& res) {
  record(req);
  std::string content;
  {
    std::lock_guard lock(mutex_);
    for (const auto& file : files_) {
      if (file.sha256 == req.matches[1]) content = file.content;
    }
  }
  if (stall_) {
    res.set_content_provider(content.size(), "application/octet-stream",
                             [this, content](size_t, size_t, httplib::DataSink& sink) {
                               sink.write(content.data(), 1);
                               const auto until = std::chrono::steady_clock::now() + kMaxStall;
                               while (!stopping_ && std::chrono::steady_clock::now() < until) {
                                 std::this_thread::sleep_for(std::chrono::milliseconds(20));
                               }
                               return false;
                             });
    return;
  }
  if (const size_t cut = cut_after_.exchange(0); cut > 0) {
    // Announces the whole length, sends CUT bytes, then drops the connection.
    res.set_content_provider(content.size(), "application/octet-stream",
                             [content, cut](size_t offset, size_t, httplib::DataSink& sink) {
                               if (offset < cut) sink.write(content.data() + offset, cut - offset);
                               return false;
                             });
    return;
  }
  if (corrupt_) content[content.size() / 2] ^= 0x55;
  res.set_content(content, "application/octet-stream");  // httplib answers Range requests with 206
}

}  // namespace bottega::testing
