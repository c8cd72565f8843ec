// SentencePiece BPE as llama.cpp runs it for GGUF tokenizer.ggml.model = "llama" (Llama 1/2,
// Mistral, Phi-3, TinyLlama, ...).
//
// Encoding: split at special tokens; for each text fragment put a space before it when the
// vocabulary adds a dummy prefix and the fragment starts the text or follows a special token;
// spell spaces as U+2581 "▁"; start from one symbol per UTF-8 character and repeatedly merge the
// adjacent pair whose concatenation is the highest-scoring vocabulary piece (leftmost on ties);
// finally emit each symbol's id, or its bytes as <0xXX> tokens when it is not a piece.
#pragma once

#include <array>

#include "tokenizer/tokenizer.h"

namespace bottega::tokenizer {

class SpmTokenizer final : public Tokenizer {
 public:
  // The vocabulary must have passed finalize_vocab() (make_tokenizer does that).
  explicit SpmTokenizer(Vocab vocab);

  std::vector<int32_t> encode(std::string_view text, bool add_special,
                              bool parse_special) const override;
  std::string token_to_piece(int32_t id, bool render_special = false) const override;

 private:
  // One plain-text fragment, spaces already spelled "▁".
  void encode_fragment(std::string_view text, std::vector<int32_t>& out) const;
  // A symbol that is no vocabulary piece: its bytes as byte tokens, else one unknown token.
  void encode_bytes(std::string_view symbol, std::vector<int32_t>& out) const;

  std::array<int32_t, 256> byte_token_{};  // byte -> "<0xXX>" id (or the 1-byte piece), -1 if none
};

}  // namespace bottega::tokenizer
