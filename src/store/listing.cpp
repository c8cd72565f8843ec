#include "store/listing.h"

#include <cctype>
#include <set>
#include <string_view>

#include "core/error.h"

namespace bottega::store {
namespace {

// A repository listing is a few KB per file; anything this large is not a listing.
constexpr size_t kMaxListingBytes = 64u << 20;

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// RFC 9110 token characters (parameter names and unquoted values).
bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// rel holds space-separated relation types.
bool has_next_relation(std::string_view rel) {
  size_t i = 0;
  while (i < rel.size()) {
    while (i < rel.size() && is_space(rel[i])) ++i;
    size_t end = i;
    while (end < rel.size() && !is_space(rel[end])) ++end;
    if (end > i && equals_ignoring_case(rel.substr(i, end - i), "next")) return true;
    i = end;
  }
  return false;
}

// Reads one Link header value: link-value *( "," link-value ), where
// link-value = "<" URI ">" *( ";" name [ "=" ( token / quoted-string ) ] ).
class LinkReader {
 public:
  explicit LinkReader(const std::string& text) : text_(text) {}

  std::optional<std::string> next() {
    std::optional<std::string> found;
    for (;;) {
      skip_space();
      if (at(',')) {  // lists may hold empty elements
        ++pos_;
        continue;
      }
      if (pos_ >= text_.size()) return found;
      if (!at('<')) fail("expected '<' to open a link");
      const size_t close = text_.find('>', pos_ + 1);
      if (close == std::string::npos) fail("a '<' without its '>'");
      std::string target = text_.substr(pos_ + 1, close - pos_ - 1);
      pos_ = close + 1;
      if (read_params_is_next()) {
        if (found) fail("two links with rel=\"next\"");
        found = std::move(target);
      }
    }
  }

 private:
  bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }
  [[noreturn]] void fail(const char* what) const {
    throw Error(str("malformed Link header (", what, " at byte ", pos_, "): ", text_));
  }

  std::string token() {
    const size_t start = pos_;
    while (pos_ < text_.size() && is_token_char(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  std::string quoted() {
    ++pos_;  // the opening quote
    std::string value;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      value += text_[pos_++];
    }
    if (!at('"')) fail("a quoted string without its closing quote");
    ++pos_;
    return value;
  }

  // The parameters after a link, up to the next ',' or the end; true when rel includes "next".
  bool read_params_is_next() {
    bool is_next = false;
    for (;;) {
      skip_space();
      if (pos_ >= text_.size() || at(',')) return is_next;
      if (!at(';')) fail("expected ';' or ',' after a link");
      ++pos_;
      skip_space();
      const std::string name = token();
      if (name.empty()) fail("expected a parameter name");
      skip_space();
      std::string value;
      if (at('=')) {
        ++pos_;
        skip_space();
        value = at('"') ? quoted() : token();
      }
      if (equals_ignoring_case(name, "rel") && has_next_relation(value)) is_next = true;
    }
  }

  const std::string& text_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<std::string> next_link(const std::string& header) {
  return LinkReader(header).next();
}

std::string resolve_link(const std::string& page_url, const std::string& target) {
  if (target.starts_with("https://") || target.starts_with("http://")) return target;
  if (target.starts_with('/') && !target.starts_with("//")) return origin_of(page_url) + target;
  throw Error(str("the next page of the listing is '", target,
                  "', which is neither an http(s) URL nor an absolute path"));
}

std::vector<RemoteFile> list_repository(const std::string& endpoint, const std::string& repo,
                                        const HttpConfig& config) {
  std::string url = endpoint + "/api/models/" + repo + "/tree/main?recursive=true";
  const std::string hub = origin_of(url);
  std::set<std::string> pages_read;
  std::vector<RemoteFile> files;
  for (int page = 1;; ++page) {
    // HF_TOKEN is for the Hub: a page on another server does not get it.
    HttpConfig page_config = config;
    if (origin_of(url) != hub) page_config.token.clear();
    const TextResponse response = http_get_text(url, page_config, kMaxListingBytes);
    for (auto& file : parse_tree(response.body)) files.push_back(std::move(file));
    pages_read.insert(url);

    std::optional<std::string> next;
    try {
      next = next_link(response.link);
      if (!next) return files;
      url = resolve_link(url, *next);
    } catch (const Error& e) {
      throw Error(str("the file listing of ", repo, " cannot be followed past page ", page, ": ",
                      e.what(), "; is HF_ENDPOINT (", hub, ") a Hugging Face Hub?"));
    }
    if (pages_read.contains(url)) {
      throw Error(str("the file listing of ", repo, " links back to a page it already gave (", url,
                      ") after page ", page, "; the server at ", hub,
                      " paginates in a loop: try again later, or check HF_ENDPOINT"));
    }
    if (page == kMaxListingPages) {
      throw Error(str("the file listing of ", repo, " goes on past ", kMaxListingPages,
                      " pages; bottega stops there rather than read without end (next page: ", url,
                      ")"));
    }
  }
}

}  // namespace bottega::store
