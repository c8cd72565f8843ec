// Helpers shared by the subcommands: opening models with messages a user can act on.
#pragma once

#include <string>

#include "core/format.h"
#include "gguf/gguf.h"

namespace bottega::cli {

// Opens a GGUF file; a missing file or a non-GGUF file becomes an Error with a one-line message.
gguf::File open_gguf(const std::string& path);

// Context length to use: the requested one, or the model's capped at a size that fits comfortably.
int32_t choose_context(int64_t requested, int64_t n_ctx_train);

}  // namespace bottega::cli
