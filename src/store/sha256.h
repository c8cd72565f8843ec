// Streaming SHA-256 (OpenSSL underneath), used to verify downloads against the Hub's LFS oid.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace bottega::store {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Lowercase hex digest; the object starts over afterwards.
  std::string finish_hex();
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view data);

}  // namespace bottega::store
