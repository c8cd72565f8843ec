// Link header parsing for the Hub's paginated file listing.
#include "store/listing.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace bottega::store {
namespace {

TEST(NextLink, FindsTheHubsNextPage) {
  EXPECT_EQ(
      next_link("<https://huggingface.co/api/models/o/r/tree/main?recursive=true&cursor=Yz0>; "
                "rel=\"next\""),
      "https://huggingface.co/api/models/o/r/tree/main?recursive=true&cursor=Yz0");
}

TEST(NextLink, PicksNextAmongSeveralLinksAndRelations) {
  EXPECT_EQ(next_link("<https://a/1>; rel=\"prev\", <https://a/3>; title=\"x, y; z\"; rel=next"),
            "https://a/3");
  EXPECT_EQ(next_link("<https://a/2>; REL=\"first Next\""), "https://a/2");
  EXPECT_EQ(next_link(" , <https://a/2> ;rel=\"next\" ,"), "https://a/2");
}

TEST(NextLink, NoNextLinkMeansTheLastPage) {
  EXPECT_EQ(next_link(""), std::nullopt);
  EXPECT_EQ(next_link("<https://a/1>; rel=\"prev\""), std::nullopt);
  EXPECT_EQ(next_link("<https://a/next>; rel=\"nextish\""), std::nullopt);
}

TEST(NextLink, MalformedHeadersAreErrors) {
  for (const std::string bad :
       {"https://a/2; rel=next", "<https://a/2; rel=next", "<https://a/2> rel=next",
        "<https://a/2>; =next", "<https://a/2>; rel=\"next",
        "<https://a/2>; rel=next, <https://a/3>; rel=next"}) {
    EXPECT_THROW(next_link(bad), Error) << bad;
  }
  try {
    next_link("https://a/2; rel=next");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("malformed Link header"), std::string::npos) << e.what();
  }
}

TEST(ResolveLink, AbsolutePathsTakeThePagesServer) {
  EXPECT_EQ(resolve_link("http://127.0.0.1:81/api/models/o/r/tree/main?recursive=true",
                         "/api/models/o/r/tree/main?cursor=2"),
            "http://127.0.0.1:81/api/models/o/r/tree/main?cursor=2");
  EXPECT_EQ(resolve_link("https://hf.co/x", "https://other/y"), "https://other/y");
  EXPECT_THROW(resolve_link("https://hf.co/x", "page2"), Error);
  EXPECT_THROW(resolve_link("https://hf.co/x", "//evil/x"), Error);
  EXPECT_THROW(resolve_link("https://hf.co/x", "file:///etc/passwd"), Error);
}

}  // namespace
}  // namespace bottega::store
