// The vocabulary mask (a walk of the token trie) against the plain definition: a token is allowed
// exactly when the matcher accepts its bytes. Real vocabularies: SentencePiece (llama) with its
// leading-space rule and byte tokens, and byte-level BPE (GPT-2), whose tokens split characters.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "gguf/gguf.h"
#include "grammar/constraint.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace bottega::grammar {
namespace {

std::shared_ptr<const TokenVocabulary> vocab_of(const std::string& file) {
  const auto gguf = gguf::File::open(testing::shared_file(file));
  const auto tok = tokenizer::load_tokenizer(gguf);
  return TokenVocabulary::from_tokenizer(*tok);
}

struct Case {
  const char* vocab;
  const char* grammar;
};

class TokenMask : public ::testing::TestWithParam<Case> {};

TEST_P(TokenMask, EqualsTheMatcherTokenByToken) {
  const auto vocab = vocab_of(GetParam().vocab);
  const auto grammar = std::make_shared<const Grammar>(parse_gbnf(GetParam().grammar));
  std::mt19937 rng(11);
  for (bool at_start : {true, false}) {
    GrammarConstraint constraint(grammar, vocab, at_start);
    // A plain matcher fed the visible text, for the definition.
    bool strip = at_start && vocab->strips_leading_space;
    Matcher reference(grammar);
    for (int step = 0; step < 10; ++step) {
      std::vector<float> logits(vocab->pieces.size(), 0.0f);
      constraint.restrict(logits);
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < vocab->n_tokens(); ++t) {
        std::string_view piece = vocab->pieces[static_cast<size_t>(t)];
        bool expect;
        if (vocab->is_end[static_cast<size_t>(t)]) {
          expect = reference.can_end();
        } else if (piece.empty()) {
          expect = false;
        } else {
          if (strip && piece.front() == ' ') piece.remove_prefix(1);
          expect = reference.allows(piece);
        }
        ASSERT_EQ(!std::isinf(logits[static_cast<size_t>(t)]), expect)
            << "step " << step << " token " << t << " '" << vocab->pieces[static_cast<size_t>(t)]
            << "'";
        ASSERT_EQ(constraint.allows(t), expect) << "token " << t;
        if (expect && !vocab->is_end[static_cast<size_t>(t)]) allowed.push_back(t);
      }
      if (allowed.empty()) break;
      // Prefer long tokens so the walk goes deep into the grammar.
      const int32_t pick = allowed[rng() % allowed.size()];
      std::string_view piece = vocab->pieces[static_cast<size_t>(pick)];
      if (strip && piece.front() == ' ') piece.remove_prefix(1);
      constraint.accept(pick);
      ASSERT_TRUE(reference.accept(piece));
      strip = false;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Vocabularies, TokenMask,
    ::testing::Values(Case{"vocab/ggml-vocab-llama-spm.gguf",
                           R"(root ::= "{" ws "\"name\"" ws ":" ws str ws "}" ws
str ::= "\"" ([^"\\] | "\\" ["\\n])* "\""
ws ::= [ \n]?
)"},
                      Case{"vocab/ggml-vocab-gpt-2.gguf",
                           R"(root ::= (word " ")* [\u00e0-\u00ff\u4e00-\u9fff]+ "."
word ::= [a-zA-Z]+
)"},
                      Case{"vocab/ggml-vocab-llama-spm.gguf",
                           R"(root ::= " yes" | "no" | [0-9]{1,3} ("." [0-9]+)?
)"}));

TEST(TokenMaskEnd, EndTokensOnlyWhenComplete) {
  const auto vocab = vocab_of("vocab/ggml-vocab-llama-spm.gguf");
  const auto grammar = std::make_shared<const Grammar>(parse_gbnf("root ::= \"ab\"\n"));
  GrammarConstraint c(grammar, vocab, false);
  int32_t eos = -1;
  for (int32_t t = 0; t < vocab->n_tokens(); ++t) {
    if (vocab->is_end[static_cast<size_t>(t)]) eos = t;
  }
  ASSERT_GE(eos, 0);
  EXPECT_FALSE(c.allows(eos));
  EXPECT_FALSE(c.complete());
  int32_t ab = -1;
  for (int32_t t = 0; t < vocab->n_tokens(); ++t) {
    if (vocab->pieces[static_cast<size_t>(t)] == "ab") ab = t;
  }
  ASSERT_GE(ab, 0);
  c.accept(ab);
  EXPECT_TRUE(c.complete());
  EXPECT_TRUE(c.allows(eos));
  std::vector<float> logits(vocab->pieces.size(), 1.0f);
  c.restrict(logits);
  for (int32_t t = 0; t < vocab->n_tokens(); ++t) {
    EXPECT_EQ(std::isinf(logits[static_cast<size_t>(t)]),
              t != eos && !vocab->is_end[static_cast<size_t>(t)])
        << t;
  }
}

}  // namespace
}  // namespace bottega::grammar
