#include "server/web_assets.h"

namespace bottega::server {

std::string_view web_content_type(std::string_view name) {
  const auto ends_with = [name](std::string_view suffix) { return name.ends_with(suffix); };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  if (ends_with(".json")) return "application/json";
  return "application/octet-stream";
}

std::optional<WebAsset> find_web_asset(std::string_view url_path) {
  if (!url_path.starts_with('/')) return std::nullopt;
  const std::string_view name = url_path == "/" ? "index.html" : url_path.substr(1);
  for (const EmbeddedFile& file : embedded_web_files()) {
    if (file.name == name) return WebAsset{web_content_type(file.name), file.bytes};
  }
  return std::nullopt;
}

}  // namespace bottega::server
