// Import of llama2.c checkpoints (model .bin + tokenizer .bin) into GGUF.
#pragma once

#include <filesystem>

namespace bottega::convert {

// Reads a llama2.c checkpoint and tokenizer and writes a llama GGUF with the standard metadata keys
// and tensor names, readable by any GGUF reader. Throws Error naming the file and the problem for a
// truncated or inconsistent input; the output appears only when complete.
void llama2c_to_gguf(const std::filesystem::path& model, const std::filesystem::path& tokenizer,
                     const std::filesystem::path& out);

}  // namespace bottega::convert
