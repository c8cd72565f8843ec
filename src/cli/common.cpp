#include "cli/common.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "store/store.h"

namespace bottega::cli {

gguf::File open_gguf(const std::string& path) {
  std::error_code ec;
  const std::string file =
      store::resolve_model(path);  // a path, else a model pulled into the store
  if (std::filesystem::is_directory(file, ec))
    throw Error(str("'", path, "' is a directory, not a GGUF file"));
  return gguf::File::open(file);
}

int32_t choose_context(int64_t requested, int64_t n_ctx_train) {
  // Without -c, use the trained context but cap it: a 128K context would reserve gigabytes of KV
  // cache that a quick run never touches.
  constexpr int64_t kDefaultCap = 4096;
  if (requested > 0) return static_cast<int32_t>(std::min<int64_t>(requested, 1 << 24));
  return static_cast<int32_t>(std::min(n_ctx_train, kDefaultCap));
}

}  // namespace bottega::cli
