// Download progress on stderr: one updating line on a terminal, a plain line every 10% otherwise
// (logs and CI keep a readable record instead of carriage returns).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace bottega::store {

class Progress {
 public:
  // done_before: bytes already on disk (a resumed download); they do not count toward the rate.
  Progress(std::string label, uint64_t total, uint64_t done_before, std::FILE* out = stderr);
  void update(uint64_t done);
  void finish(uint64_t done);

 private:
  void draw_line(uint64_t done);

  std::string label_;
  uint64_t total_;
  uint64_t done_before_;
  std::FILE* out_;
  bool terminal_;
  int last_decile_;  // the last multiple of 10% printed (non-terminal output)
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace bottega::store
