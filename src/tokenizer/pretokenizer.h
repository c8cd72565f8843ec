// Byte-level BPE pre-tokenization: cutting text into the words that BPE merges within, as llama.cpp
// does for each GGUF tokenizer.ggml.pre value (and Hugging Face's Split pre-tokenizers before it).
//
// A pre-tokenizer is a list of regular expressions applied in sequence. The first one splits the
// whole text; each later one splits every piece the previous one produced, on its own (a pattern
// never sees past the ends of its piece, so lookaheads stop there). Both the matches and the gaps
// between them become pieces, so the pieces always tile the text; an empty match still marks a
// boundary (that is how a lookahead-only pattern cuts digit runs into groups of three).
//
// The patterns are compiled once with PCRE2 (UTF, Unicode properties for \p{..}, \s, \d; JIT when
// available); matching state lives in a per-call Scratch, so one PreTokenizer serves many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bottega::tokenizer {

// What a tokenizer.ggml.pre name stands for.
struct PreTokenizerSpec {
  std::span<const std::string_view> regexes;  // applied in order
  // A word that is a whole vocabulary token is emitted as that token without running the merges
  // (the Llama 3 family's tokenizers are trained with ignore_merges).
  bool ignore_merges = false;
  // llama.cpp's value for add_bos when the file has no tokenizer.ggml.add_bos_token.
  bool add_bos = false;
};

// The spec for a tokenizer.ggml.pre value ("" means "default", as in llama.cpp). Throws
// bottega::Error naming the value when bottega does not implement it.
const PreTokenizerSpec& pre_tokenizer_spec(std::string_view pre);
// Every tokenizer.ggml.pre value pre_tokenizer_spec() accepts.
std::vector<std::string_view> supported_pre_tokenizers();

// text itself when it is valid UTF-8; otherwise a copy in `storage` where every byte that does not
// start a valid sequence became U+FFFD, as llama.cpp substitutes before pre-tokenizing (PCRE2 only
// matches valid UTF-8).
std::string_view valid_utf8(std::string_view text, std::string& storage);

// One splitting step, as a Hugging Face Split pre-tokenizer describes it: a pattern (a regular
// expression, or a literal string) and what becomes of each match.
struct SplitRule {
  enum class Behavior {
    kIsolated,            // the match is a piece of its own (what every GGUF pattern does)
    kMergedWithPrevious,  // the match ends the piece before it
    kMergedWithNext,      // the match starts the piece after it
    kRemoved,             // the match is dropped
  };
  std::string pattern;
  bool literal = false;
  Behavior behavior = Behavior::kIsolated;
};

class PreTokenizer {
 public:
  // [begin, end) byte offsets of one piece of the text.
  struct Word {
    uint32_t begin = 0;
    uint32_t end = 0;
  };

  // Matching state for one call at a time (PCRE2 match data, a JIT stack grown on demand). Cheap
  // to create; reuse it across calls on one thread to skip the allocations.
  class Scratch {
   public:
    Scratch();
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;

   private:
    friend class PreTokenizer;
    struct State;
    std::unique_ptr<State> state_;
    std::vector<Word> next_;  // the pieces being built by the current pattern
  };

  // Compiles the patterns. A pattern PCRE2 rejects is a bug in the table (BOTTEGA_CHECK).
  explicit PreTokenizer(std::span<const std::string_view> regexes);
  // Compiles the rules. Throws bottega::Error naming the pattern when PCRE2 rejects one (rules
  // come from files).
  explicit PreTokenizer(std::span<const SplitRule> rules);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Replaces `words` with the non-empty pieces of text, in order, tiling it. text must be valid
  // UTF-8 (see valid_utf8) and shorter than 4 GiB. Throws bottega::Error when PCRE2 gives up (its
  // match or memory limits), which only pathological input reaches.
  void split(std::string_view text, Scratch& scratch, std::vector<Word>& words) const;

 private:
  struct Impl;
  std::unique_ptr<const Impl> impl_;
};

}  // namespace bottega::tokenizer
