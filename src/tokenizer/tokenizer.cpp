#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"

namespace bottega::tokenizer {

namespace {

bool is_special_type(Vocab::TokenType type) {
  return type == Vocab::TokenType::kControl || type == Vocab::TokenType::kUserDefined ||
         type == Vocab::TokenType::kUnknown;
}

// Control and unknown-type tokens are matched only on request; user-defined tokens always, since
// Hugging Face's tokenizers split added tokens out of the text before the model ever sees it.
bool matched_in_text(Vocab::TokenType type, bool parse_special) {
  return parse_special || type == Vocab::TokenType::kUserDefined;
}

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)), index_(vocab_) {
  for (int32_t id = 0; id < vocab_.n_tokens(); ++id) {
    if (is_special_type(vocab_.type(id)) && !vocab_.text(id).empty()) special_tokens_.push_back(id);
  }
  // Longest first, so "<|endoftext|>" is cut out before a shorter token inside it; ties by id to
  // stay deterministic.
  std::stable_sort(special_tokens_.begin(), special_tokens_.end(), [&](int32_t a, int32_t b) {
    return vocab_.text(a).size() > vocab_.text(b).size();
  });
}

Tokenizer::~Tokenizer() = default;

std::vector<Tokenizer::Fragment> Tokenizer::split_special(std::string_view text,
                                                          bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({text, -1});

  std::vector<Fragment> next;
  for (const int32_t id : special_tokens_) {
    if (!matched_in_text(vocab_.type(id), parse_special)) continue;
    const std::string_view needle = vocab_.text(id);
    const bool found = std::any_of(fragments.begin(), fragments.end(), [&](const Fragment& f) {
      return f.token == -1 && f.text.find(needle) != std::string_view::npos;
    });
    if (!found) continue;

    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token != -1) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t at = rest.find(needle); at != std::string_view::npos; at = rest.find(needle)) {
        if (at > 0) next.push_back({rest.substr(0, at), -1});
        next.push_back({{}, id});
        rest.remove_prefix(at + needle.size());
      }
      if (!rest.empty()) next.push_back({rest, -1});
    }
    fragments.swap(next);
  }
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
  if (vocab.model != "llama" && vocab.model != "gpt2") {
    throw Error(str("tokenizer model '", vocab.model, "' is not supported yet"));
  }
  finalize_vocab(vocab);
  if (vocab.model == "gpt2") return std::make_unique<BpeTokenizer>(std::move(vocab));
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
