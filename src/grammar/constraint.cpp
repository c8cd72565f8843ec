#include "grammar/constraint.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace bottega::grammar {

TokenVocabulary::TokenVocabulary(std::vector<std::string> token_pieces,
                                 const std::vector<int32_t>& end_tokens, bool strips_space)
    : pieces(std::move(token_pieces)),
      is_end(pieces.size(), 0),
      strips_leading_space(strips_space),
      trie([&] {
        // End tokens are never text, whatever their piece says.
        std::vector<std::string> text = pieces;
        for (int32_t t : end_tokens) {
          if (t >= 0 && static_cast<size_t>(t) < text.size()) text[static_cast<size_t>(t)].clear();
        }
        return TokenTrie(text);
      }()) {
  for (int32_t t : end_tokens) {
    if (t >= 0 && static_cast<size_t>(t) < is_end.size()) is_end[static_cast<size_t>(t)] = 1;
  }
}

std::shared_ptr<const TokenVocabulary> TokenVocabulary::from_tokenizer(
    const tokenizer::Tokenizer& tok, const std::vector<std::pair<int32_t, std::string>>& rendered,
    bool reserve_private_use) {
  std::vector<std::string> pieces(static_cast<size_t>(tok.n_vocab()));
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    std::string piece = tok.token_to_piece(id);
    // An empty piece is never allowed under a grammar.
    if (reserve_private_use && piece.find('\xEE') != std::string::npos) piece.clear();
    pieces[static_cast<size_t>(id)] = std::move(piece);
  }
  for (const auto& [id, text] : rendered) {
    BOTTEGA_CHECK(id >= 0 && id < tok.n_vocab(), "token ", id);
    pieces[static_cast<size_t>(id)] = text;
  }
  return std::make_shared<const TokenVocabulary>(std::move(pieces), tok.vocab().eog,
                                                 tok.strips_leading_space());
}

GrammarConstraint::GrammarConstraint(std::shared_ptr<const Grammar> grammar,
                                     std::shared_ptr<const TokenVocabulary> vocab,
                                     bool at_text_start)
    : vocab_(std::move(vocab)),
      matcher_(std::move(grammar)),
      strip_pending_(at_text_start && vocab_->strips_leading_space) {}

std::string_view GrammarConstraint::visible(int32_t token) const {
  std::string_view piece = vocab_->pieces[static_cast<size_t>(token)];
  if (strip_pending_ && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
  return piece;
}

bool GrammarConstraint::allows(int32_t token) {
  BOTTEGA_CHECK(token >= 0 && token < vocab_->n_tokens(), "token ", token);
  if (vocab_->is_end[static_cast<size_t>(token)]) return matcher_.can_end();
  if (vocab_->pieces[static_cast<size_t>(token)].empty()) return false;
  return matcher_.allows(visible(token));
}

void GrammarConstraint::restrict(std::span<float> logits) {
  BOTTEGA_CHECK(logits.size() == vocab_->pieces.size(), "logits ", logits.size());
  std::string key = matcher_.state_key();
  key += strip_pending_ ? 's' : '-';
  auto cached = mask_cache_.find(key);
  if (cached == mask_cache_.end()) {
    allowed_.assign(logits.size(), 0);
    matcher_.mark_allowed(vocab_->trie, strip_pending_, allowed_);
    const bool can_end = matcher_.can_end();
    std::vector<uint64_t> bits((logits.size() + 63) / 64, 0);
    for (size_t t = 0; t < logits.size(); ++t) {
      const bool ok = vocab_->is_end[t] ? can_end : allowed_[t] != 0;
      if (ok) bits[t / 64] |= uint64_t{1} << (t % 64);
    }
    if (mask_cache_.size() >= kMaxCachedMasks) mask_cache_.clear();
    cached = mask_cache_.emplace(std::move(key), std::move(bits)).first;
  }
  const std::vector<uint64_t>& bits = cached->second;
  for (size_t t = 0; t < logits.size(); ++t) {
    if (((bits[t / 64] >> (t % 64)) & 1u) == 0) logits[t] = -std::numeric_limits<float>::infinity();
  }
}

void GrammarConstraint::accept(int32_t token) {
  BOTTEGA_CHECK(token >= 0 && token < vocab_->n_tokens(), "token ", token);
  if (vocab_->is_end[static_cast<size_t>(token)]) return;
  const std::string_view bytes = visible(token);
  BOTTEGA_CHECK(matcher_.accept(bytes), "the grammar refused token ", token, " it had allowed");
  if (!vocab_->pieces[static_cast<size_t>(token)].empty()) strip_pending_ = false;
}

}  // namespace bottega::grammar
