// A Hub repository's file listing, read page by page.
//
// GET /api/models/OWNER/REPO/tree/main?recursive=true answers one page of entries; when there are
// more, the answer carries a Link header (RFC 8288) whose rel="next" target is the next page:
//   Link: <https://huggingface.co/api/models/OWNER/REPO/tree/main?recursive=true&cursor=...>;
//   rel="next"
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "store/http.h"
#include "store/ref.h"

namespace bottega::store {

// Every file of the repository, pages concatenated in order. Throws Error for a listing that
// links back to a page already read, goes on for more than kMaxListingPages pages, or carries a
// malformed Link header.
std::vector<RemoteFile> list_repository(const std::string& endpoint, const std::string& repo,
                                        const HttpConfig& config);

inline constexpr int kMaxListingPages = 50;

// The rel="next" target of a Link header value (several links separated by commas), or nullopt
// when it has none. Throws Error for text that is not a list of <URI>; param=value links.
std::optional<std::string> next_link(const std::string& header);

// A link target made absolute against the URL of the page that carried it: absolute URLs stay,
// "/path" takes the page's scheme and host. Other relative forms are an Error (the Hub never sends
// them).
std::string resolve_link(const std::string& page_url, const std::string& target);

}  // namespace bottega::store
