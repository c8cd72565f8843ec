#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/wordpiece_tokenizer.h"

namespace bottega::tokenizer {

Tokenizer::Tokenizer(Vocab vocab)
    : vocab_(std::move(vocab)),
      index_(vocab_),
      special_(vocab_, vocab_.leftmost_special_match ? SpecialSplitter::Order::kLeftmostLongest
                                                     : SpecialSplitter::Order::kLongestFirst) {}

Tokenizer::~Tokenizer() = default;

std::vector<Tokenizer::Fragment> Tokenizer::split_special(std::string_view text,
                                                          bool parse_special) const {
  std::vector<Fragment> fragments;
  size_t at = 0;
  for (const SpecialSplitter::Match& m : special_.find(text, parse_special)) {
    if (m.begin > at) fragments.push_back({text.substr(at, m.begin - at), -1});
    fragments.push_back({{}, m.token});
    at = m.end;
  }
  if (at < text.size()) fragments.push_back({text.substr(at), -1});
  return fragments;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  bool at_text_start = strips_leading_space();
  for (const int32_t id : ids) {
    std::string piece = token_to_piece(id, !skip_special);
    if (piece.empty()) continue;  // BOS and other invisible tokens do not end the text start
    const size_t skip = at_text_start && piece.front() == ' ' ? 1 : 0;
    at_text_start = false;
    out.append(piece, skip);
  }
  return out;
}

bool Tokenizer::is_eog(int32_t id) const {
  return id != -1 && std::find(vocab_.eog.begin(), vocab_.eog.end(), id) != vocab_.eog.end();
}

std::unique_ptr<Tokenizer> make_tokenizer(Vocab vocab) {
  if (vocab.model != "llama" && vocab.model != "gpt2" && vocab.model != "bert") {
    throw Error(str("tokenizer model '", vocab.model, "' is not supported yet"));
  }
  finalize_vocab(vocab);
  if (vocab.model == "gpt2") return std::make_unique<BpeTokenizer>(std::move(vocab));
  if (vocab.model == "bert") return std::make_unique<WordPieceTokenizer>(std::move(vocab));
  return std::make_unique<SpmTokenizer>(std::move(vocab));
}

std::unique_ptr<Tokenizer> load_tokenizer(const gguf::File& file) {
  Vocab vocab = load_vocab(file);
  try {
    apply_bpe_defaults(file, vocab);
    return make_tokenizer(std::move(vocab));
  } catch (const Error& e) {
    throw Error(str(file.name(), ": ", e.what()));
  }
}

}  // namespace bottega::tokenizer
