// Error handling shared by every module.
//
// bottega::Error carries a message a user can act on (bad file, bad flag, bad request); modules
// throw it at their edges and the CLI/server turn it into one line on stderr or an error JSON.
// BOTTEGA_CHECK guards programmer errors: it is always on and reports file:line and the condition.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace bottega {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenates anything streamable into one string: str("tensor ", name, " has ", n, " rows").
template <typename... Args>
std::string str(Args&&... args) {
  std::ostringstream out;
  ((out << std::forward<Args>(args)), ...);
  return out.str();
}

[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               const std::string& detail);

}  // namespace bottega

#define BOTTEGA_CHECK(cond, ...)                                                                  \
  do {                                                                                            \
    if (!(cond)) ::bottega::check_failed(__FILE__, __LINE__, #cond, ::bottega::str(__VA_ARGS__)); \
  } while (0)
