#include "store/progress.h"

#include <unistd.h>

#include <algorithm>

#include "core/error.h"
#include "core/format.h"

namespace bottega::store {
namespace {

using Clock = std::chrono::steady_clock;

// Redrawing more often than this only costs terminal bandwidth.
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 360000) return "--:--";
  const auto total = static_cast<long>(seconds + 0.5);
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
  } else {
    std::snprintf(text, sizeof text, "%ld:%02ld", total / 60, total % 60);
  }
  return text;
}

}  // namespace

Progress::Progress(std::string label, uint64_t total, uint64_t done_before, std::FILE* out)
    : label_(std::move(label)),
      total_(total),
      done_before_(done_before),
      out_(out),
      terminal_(::isatty(::fileno(out)) == 1),
      last_decile_(total == 0 ? 0
                              : static_cast<int>(std::min<uint64_t>(done_before * 10 / total, 10))),
      start_(Clock::now()),
      last_draw_(start_ - kRedrawInterval) {
  if (done_before > 0) {
    std::fprintf(out_, "%s: resuming at %s of %s\n", label_.c_str(),
                 human_bytes(done_before).c_str(), human_bytes(total).c_str());
  }
}

void Progress::draw_line(uint64_t done) {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate =
      elapsed > 0 ? static_cast<double>(done - std::min(done, done_before_)) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - std::min(total_, done)) / rate : -1;
  std::fprintf(out_, "\r%s: %s / %s  %s/s  ETA %s\x1b[K", label_.c_str(), human_bytes(done).c_str(),
               human_bytes(total_).c_str(), human_bytes(static_cast<uint64_t>(rate)).c_str(),
               format_duration(eta).c_str());
  std::fflush(out_);
}

void Progress::update(uint64_t done) {
  if (terminal_) {
    const auto now = Clock::now();
    if (now - last_draw_ < kRedrawInterval) return;
    last_draw_ = now;
    draw_line(done);
    return;
  }
  const int decile =
      total_ == 0 ? 10 : static_cast<int>(std::min<uint64_t>(done * 10 / total_, 10));
  if (decile <= last_decile_) return;
  last_decile_ = decile;
  std::fprintf(out_, "%s: %d%% (%s of %s)\n", label_.c_str(), decile * 10,
               human_bytes(done).c_str(), human_bytes(total_).c_str());
}

void Progress::finish(uint64_t done) {
  if (terminal_) {
    draw_line(done);
    std::fputc('\n', out_);
  } else {
    update(done);
  }
  std::fflush(out_);
}

}  // namespace bottega::store
