// The chat page that `bottega serve` answers at `/`: the files of src/server/web, embedded into the
// binary at build time (cmake/EmbedFiles.cmake writes web_files.cpp), so the page needs neither
// files beside the binary nor the network at run time.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace bottega::server {

struct EmbeddedFile {
  std::string_view name;   // the file's name in src/server/web, e.g. "app.js"
  std::string_view bytes;  // its contents, exactly
};

// Every file of the page; defined in the generated web_files.cpp.
std::span<const EmbeddedFile> embedded_web_files();

struct WebAsset {
  std::string_view content_type;
  std::string_view body;
};

// The MIME type a file is served with, from its extension (UTF-8 for text).
std::string_view web_content_type(std::string_view name);

// What a GET of url_path serves: "/" is index.html, "/NAME" is the file NAME; nullopt for any
// other path, so the page's paths are known exactly (they are the ones served without the API key).
std::optional<WebAsset> find_web_asset(std::string_view url_path);

}  // namespace bottega::server
