#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace bottega {

void check_failed(const char* file, int line, const char* condition, const std::string& detail) {
  std::fprintf(stderr, "bottega: internal error at %s:%d: check failed: %s%s%s\n", file, line,
               condition, detail.empty() ? "" : ": ", detail.c_str());
  std::abort();
}

}  // namespace bottega
