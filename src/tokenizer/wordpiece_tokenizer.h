// WordPiece as llama.cpp runs it for GGUF tokenizer.ggml.model = "bert" (BERT, BGE, MiniLM and
// other embedding models).
//
// GGUF stores the vocabulary with llama.cpp's spelling: a word-initial piece starts with U+2581
// "▁" (the "phantom space"), a continuation piece ("##ing" in the original) has no prefix.
//
// Encoding: split at special tokens; normalize each text fragment as BERT's basic tokenizer does
// (drop NUL, U+FFFD and control characters, lowercase, strip accents by canonical decomposition
// without the nonspacing marks); cut it into words at whitespace, and make every punctuation
// character, ASCII symbol and CJK ideograph a word of its own; then match each "▁"+word greedily,
// longest vocabulary piece first. A word with an unmatched remainder becomes the unknown token as a
// whole. add_special wraps the ids in [CLS] ... [SEP] (bos and eos).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace bottega::tokenizer {

class WordPieceTokenizer final : public Tokenizer {
 public:
  // The vocabulary must have passed finalize_vocab(). Throws bottega::Error when it has no unknown
  // token (WordPiece needs one for unmatched words).
  explicit WordPieceTokenizer(Vocab vocab);

  std::vector<int32_t> encode(std::string_view text, bool add_special,
                              bool parse_special) const override;
  std::string token_to_piece(int32_t id, bool render_special = false) const override;

  // BERT's basic tokenization of one text fragment: the normalized words, in order.
  static std::vector<std::string> split_words(std::string_view text);

 private:
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  size_t max_token_bytes_ = 0;
};

}  // namespace bottega::tokenizer
