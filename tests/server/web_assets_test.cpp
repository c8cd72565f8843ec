#include "server/web_assets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace bottega::server {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The binary carries the page's files byte for byte as they are in src/server/web.
TEST(WebAssets, EmbeddedFilesEqualTheSources) {
  const std::filesystem::path dir = BOTTEGA_WEB_DIR;
  ASSERT_GE(embedded_web_files().size(), 4u);
  for (const EmbeddedFile& file : embedded_web_files()) {
    const std::filesystem::path source = dir / std::string(file.name);
    ASSERT_TRUE(std::filesystem::exists(source)) << source;
    EXPECT_EQ(file.bytes, read_file(source)) << file.name;
  }
}

// A file added to src/server/web but not to the list in src/server/CMakeLists.txt would be missing
// from the binary, and the page broken only where it is served from the binary: everywhere.
TEST(WebAssets, EveryPageFileIsEmbedded) {
  for (const auto& entry : std::filesystem::directory_iterator(BOTTEGA_WEB_DIR)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    if (name.starts_with('.') || name.ends_with('~')) continue;  // an editor's swap or backup file
    EXPECT_TRUE(find_web_asset("/" + name).has_value()) << name << " is not embedded";
  }
}

TEST(WebAssets, RootIsTheIndexPage) {
  const auto root = find_web_asset("/");
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->content_type, "text/html; charset=utf-8");
  EXPECT_TRUE(root->body.starts_with("<!doctype html>"));
  const auto index = find_web_asset("/index.html");
  ASSERT_TRUE(index.has_value());
  EXPECT_EQ(index->body, root->body);
}

TEST(WebAssets, FilesHaveTheirContentTypes) {
  ASSERT_TRUE(find_web_asset("/app.js").has_value());
  EXPECT_EQ(find_web_asset("/app.js")->content_type, "text/javascript; charset=utf-8");
  ASSERT_TRUE(find_web_asset("/markdown.js").has_value());
  ASSERT_TRUE(find_web_asset("/style.css").has_value());
  EXPECT_EQ(find_web_asset("/style.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(web_content_type("x.svg"), "image/svg+xml");
  EXPECT_EQ(web_content_type("x.bin"), "application/octet-stream");
}

// Only the page's own paths are found: they are the ones the server opens without the API key.
TEST(WebAssets, OtherPathsAreNotAssets) {
  for (const char* path : {"", "app.js", "/app.js/", "/APP.JS", "/v1/models", "/health",
                           "/../app.js", "/nothing.html", "//"}) {
    EXPECT_FALSE(find_web_asset(path).has_value()) << path;
  }
}

}  // namespace
}  // namespace bottega::server
