// A grammar applied to a model's tokens: the TokenConstraint the sampler consults.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "grammar/token_trie.h"
#include "sampling/token_constraint.h"
#include "tokenizer/tokenizer.h"

namespace bottega::grammar {

// What a grammar needs to know of a vocabulary, built once per model and shared by requests.
struct TokenVocabulary {
  std::vector<std::string> pieces;  // per token: its bytes; empty for control tokens
  std::vector<uint8_t> is_end;      // per token: ends generation (allowed once the grammar is done)
  bool strips_leading_space = false;
  TokenTrie trie;

  TokenVocabulary(std::vector<std::string> token_pieces, const std::vector<int32_t>& end_tokens,
                  bool strips_space);
  // rendered: control tokens a grammar may produce, each as the text given (tool-call markers).
  // reserve_private_use: no other token produces a byte 0xEE, the lead byte of U+E000..U+EFFF
  // (private use), so a rendered text in that range comes from its token alone, never from byte
  // tokens spelling it (byte-level vocabularies can spell any text).
  static std::shared_ptr<const TokenVocabulary> from_tokenizer(
      const tokenizer::Tokenizer& tok,
      const std::vector<std::pair<int32_t, std::string>>& rendered = {},
      bool reserve_private_use = false);
  int32_t n_tokens() const { return static_cast<int32_t>(pieces.size()); }
};

class GrammarConstraint : public TokenConstraint {
 public:
  // at_text_start: the generated text is shown from its first token on, so SentencePiece
  // vocabularies drop that token's leading space (as the text decoders do); the grammar sees
  // exactly the text the user gets.
  GrammarConstraint(std::shared_ptr<const Grammar> grammar,
                    std::shared_ptr<const TokenVocabulary> vocab, bool at_text_start);

  bool allows(int32_t token) override;
  void restrict(std::span<float> logits) override;
  void accept(int32_t token) override;

  // The generated text so far is a complete match.
  bool complete() const { return matcher_.can_end(); }

 private:
  std::string_view visible(int32_t token) const;

  std::shared_ptr<const TokenVocabulary> vocab_;
  Matcher matcher_;
  bool strip_pending_;
  std::vector<uint8_t> allowed_;
  // Masks of states seen before, as bits per token: JSON returns to the same few states (inside
  // a string, between members), so most masks are computed once per request.
  std::unordered_map<std::string, std::vector<uint64_t>> mask_cache_;
  static constexpr size_t kMaxCachedMasks = 64;
};

}  // namespace bottega::grammar
