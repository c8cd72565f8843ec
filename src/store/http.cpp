#include "store/http.h"

#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <exception>
#include <memory>

#include "core/error.h"

namespace bottega::store {
namespace {

constexpr long kDefaultStallSeconds = 30;
constexpr long kMaxRedirects = 10;

void ensure_curl_initialized() {
  // curl_global_init is not thread-safe and must run once; a function-local static does both.
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (init != CURLE_OK) throw Error(str("cannot initialise libcurl: ", curl_easy_strerror(init)));
}

struct Transfer {
  CURL* curl = nullptr;
  BodySink* sink = nullptr;
  bool started = false;
  std::exception_ptr error;
};

void start_once(Transfer& transfer) {
  if (transfer.started) return;
  transfer.started = true;
  // Request -1: the last one, i.e. the answer after redirects.
  for (curl_header* h = nullptr;
       (h = curl_easy_nextheader(transfer.curl, CURLH_HEADER, -1, h)) != nullptr;) {
    transfer.sink->header(h->name, h->value);
  }
  long status = 0;
  curl_easy_getinfo(transfer.curl, CURLINFO_RESPONSE_CODE, &status);
  transfer.sink->start(status);
}

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  // Exceptions must not unwind through libcurl's C frames: keep it and abort the transfer.
  try {
    start_once(transfer);
    transfer.sink->write(data, size * count);
    return size * count;
  } catch (...) {
    transfer.error = std::current_exception();
    return 0;
  }
}

[[noreturn]] void throw_http_status(long status, const std::string& url) {
  if (status == 401 || status == 403) {
    throw Error(str("access denied (HTTP ", status, ") for ", url,
                    ": set HF_TOKEN to a Hugging Face access token; gated repos also need their "
                    "license accepted on the model's page"));
  }
  if (status == 404) throw Error(str("not found: repo or file (HTTP 404 for ", url, ")"));
  if (status == 429)
    throw Error(
        str("the server is rate limiting requests (HTTP 429 for ", url, "); try again later"));
  throw Error(str("HTTP ", status, " for ", url));
}

[[noreturn]] void throw_curl_error(CURLcode code, const std::string& url, const char* detail,
                                   const HttpConfig& config) {
  const std::string why = detail[0] != '\0' ? detail : curl_easy_strerror(code);
  const std::string origin = origin_of(url);
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
      throw Error(str("cannot reach ", origin, " (", why, "); check the network or HF_ENDPOINT"));
    case CURLE_OPERATION_TIMEDOUT:
      throw Error(str("the connection to ", origin, " stalled: no data for ", config.stall_seconds,
                      " s (", why, "); run pull again to resume"));
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
      throw Error(
          str("the connection to ", origin, " broke (", why, "); run pull again to resume"));
    default:
      throw Error(str("request to ", origin, " failed: ", why));
  }
}

bool equals_ignoring_case(const std::string& a, const char* b) {
  size_t i = 0;
  for (; i < a.size() && b[i] != '\0'; ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return i == a.size() && b[i] == '\0';
}

using CurlHandle = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using HeaderList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

}  // namespace

std::string origin_of(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  return url.substr(0, url.find_first_of("/?#", scheme_end + 3));
}

HttpConfig http_config_from_env() {
  HttpConfig config;
  if (const char* token = std::getenv("HF_TOKEN"); token != nullptr) config.token = token;
  config.stall_seconds = kDefaultStallSeconds;
  if (const char* stall = std::getenv("BOTTEGA_HTTP_STALL_SECONDS");
      stall != nullptr && *stall != '\0') {
    char* end = nullptr;
    const long seconds = std::strtol(stall, &end, 10);
    if (*end != '\0' || seconds <= 0) {
      throw Error(str("BOTTEGA_HTTP_STALL_SECONDS must be a positive number of seconds, not '",
                      stall, "'"));
    }
    config.stall_seconds = seconds;
  }
  return config;
}

long http_get(const std::string& url, const HttpConfig& config, uint64_t range_from,
              BodySink& sink) {
  ensure_curl_initialized();
  CurlHandle curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw Error("cannot create a libcurl handle");
  HeaderList headers(nullptr, curl_slist_free_all);
  if (!config.token.empty()) {
    // libcurl sends custom Authorization headers only to the host of the original URL, so the token
    // does not follow a redirect to the CDN.
    headers.reset(curl_slist_append(nullptr, ("Authorization: Bearer " + config.token).c_str()));
  }
  const std::string range = str(range_from, "-");
  char detail[CURL_ERROR_SIZE] = "";
  Transfer transfer{curl.get(), &sink, false, nullptr};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "bottega/0.1.0");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, config.stall_seconds);
  // Less than 1 byte/s for stall_seconds aborts: a dead server fails within a bound.
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, config.stall_seconds);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  if (headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  // CURLOPT_RANGE (unlike RESUME_FROM) accepts a 200 answer, which start() turns into a restart.
  if (range_from > 0) curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());

  const CURLcode code = curl_easy_perform(h);
  if (transfer.error) std::rethrow_exception(transfer.error);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (code == CURLE_HTTP_RETURNED_ERROR) throw_http_status(status, url);
  if (code != CURLE_OK) throw_curl_error(code, url, detail, config);
  if (status != 200 && status != 206) throw_http_status(status, url);
  start_once(transfer);  // an empty body never reached on_write
  return status;
}

TextResponse http_get_text(const std::string& url, const HttpConfig& config, size_t max_bytes) {
  class TextSink : public BodySink {
   public:
    TextSink(TextResponse& response, size_t limit, const std::string& from)
        : response_(response), text_(response.body), limit_(limit), from_(from) {}
    void start(long) override {}
    void header(const std::string& name, const std::string& value) override {
      if (!equals_ignoring_case(name, "link")) return;
      if (!response_.link.empty()) response_.link += ", ";
      response_.link += value;
    }
    void write(const char* data, size_t size) override {
      if (text_.size() + size > limit_)
        throw Error(str("the answer from ", from_, " is larger than expected"));
      text_.append(data, size);
    }

   private:
    TextResponse& response_;
    std::string& text_;
    size_t limit_;
    const std::string& from_;
  };
  TextResponse response;
  TextSink sink(response, max_bytes, url);
  http_get(url, config, 0, sink);
  return response;
}

}  // namespace bottega::store
