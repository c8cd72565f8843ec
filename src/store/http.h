// HTTP GET over libcurl with the policies every Hub request shares: redirects followed, the token
// kept to the original host, a bound on stalls, and errors a user can act on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace bottega::store {

struct HttpConfig {
  std::string token;        // sent as "Authorization: Bearer TOKEN" when not empty
  long stall_seconds = 30;  // a connection or transfer slower than 1 byte/s for this long fails
};

// scheme://host[:port] of a URL: the server it names.
std::string origin_of(const std::string& url);

// HF_TOKEN and BOTTEGA_HTTP_STALL_SECONDS from the environment.
HttpConfig http_config_from_env();

// Receives a response body; errors thrown here abort the transfer and propagate out of http_get.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Called once with the final status (after redirects) before any body byte.
  virtual void start(long status) = 0;
  // Called before start() for each header of the final response; most sinks need none.
  virtual void header(const std::string& /*name*/, const std::string& /*value*/) {}
  virtual void write(const char* data, size_t size) = 0;
};

// GETs url into sink; range_from > 0 asks for the bytes from there on ("Range: bytes=N-"), which a
// server may ignore (status 200 instead of 206). Returns the final status. Throws Error for HTTP
// errors (401/403 mention HF_TOKEN, 404 says "not found: repo or file") and network failures.
long http_get(const std::string& url, const HttpConfig& config, uint64_t range_from,
              BodySink& sink);

struct TextResponse {
  std::string body;
  std::string link;  // the Link header (RFC 8288; several are joined with ", "), or empty
};

// A small body (a JSON listing) as text; more than max_bytes is an error.
TextResponse http_get_text(const std::string& url, const HttpConfig& config, size_t max_bytes);

}  // namespace bottega::store
