// Byte-level BPE as llama.cpp runs it for GGUF tokenizer.ggml.model = "gpt2" (GPT-2, Llama 3,
// Qwen 2, DeepSeek, Falcon, StarCoder, MPT, ...).
//
// Encoding: split at special tokens; pre-tokenize each text fragment into words with the patterns
// of tokenizer.ggml.pre (pretokenizer.h); spell every byte of a word as its GPT-2 byte-level
// character (printable bytes as themselves, the others as U+0100 + n); start from one symbol per
// byte and repeatedly apply the adjacent merge ranked first in tokenizer.ggml.merges (leftmost on
// ties); emit each symbol's id. Decoding maps the characters back to bytes.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace bottega::tokenizer {

// A text transformation applied to each plain-text fragment before pre-tokenization (Hugging Face
// normalizers, and the replace/prepend half of its Metaspace pre-tokenizer).
struct NormalizerStep {
  enum class Kind {
    kNfc,           // canonical composition
    kLowercase,     // simple lowercase mapping
    kReplace,       // every `from` becomes `to`
    kPrepend,       // `to` before a non-empty fragment
    kPrependFirst,  // `to` before the fragment that starts the text
  };
  Kind kind = Kind::kNfc;
  std::string from;
  std::string to;
};

// How a BPE tokenizer runs, beyond its vocabulary and merges. GGUF vocabularies get theirs from
// tokenizer.ggml.pre (byte-level, the named patterns); tokenizer.json files describe theirs.
struct BpeOptions {
  std::vector<NormalizerStep> normalizer;
  std::vector<SplitRule> splits;  // the pre-tokenizer, applied in order
  bool ignore_merges = false;     // a word that is a whole token skips the merges
  // Symbols start as GPT-2 byte-level characters (one per byte); otherwise as the text's UTF-8
  // characters, SentencePiece-style (Gemma), with byte_fallback spelling a character that is no
  // token as its "<0xXX>" tokens, else the unknown token (consecutive ones fused with fuse_unk).
  bool byte_level = true;
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool decode_metaspace = false;  // "▁" in a token reads as a space
};

class BpeTokenizer final : public Tokenizer {
 public:
  // The vocabulary must have passed finalize_vocab() (make_tokenizer does that). Throws
  // bottega::Error for an unsupported tokenizer.ggml.pre or a missing merge list.
  explicit BpeTokenizer(Vocab vocab);
  // With explicit options (tokenizer.json); vocab.pre is not consulted.
  BpeTokenizer(Vocab vocab, BpeOptions options);
  ~BpeTokenizer() override;

  // Safe to call from several threads at once: all matching state is per call.
  std::vector<int32_t> encode(std::string_view text, bool add_special,
                              bool parse_special) const override;
  std::string token_to_piece(int32_t id, bool render_special = false) const override;

 private:
  struct Scratch;  // per-call buffers

  // A merge of two adjacent symbols into `result`, ranked by its place in the merge list.
  struct MergeSlot {
    uint64_t key = ~uint64_t{0};  // left << 32 | right; all ones: empty slot
    int32_t rank = 0;
    int32_t result = -1;
  };

  void build_merges();
  void add_merge(int32_t left, int32_t right, int32_t rank, int32_t result);
  const MergeSlot* find_merge(int32_t left, int32_t right) const;

  void encode_text(std::string_view text, Scratch& scratch, std::vector<int32_t>& out) const;
  void encode_word(std::string_view word, Scratch& scratch, std::vector<int32_t>& out) const;
  // The initial symbols of a word in character mode (byte_level false).
  void character_symbols(std::string_view word, Scratch& scratch) const;
  std::string_view normalize(std::string_view text, bool starts_text, Scratch& scratch) const;
  std::string spaced(const std::string& text) const;  // "▁" as spaces with decode_metaspace
  void merge_symbols(Scratch& scratch) const;
  // A finished symbol: its token; when the merges produced no vocabulary token, the tokens of its
  // bytes' characters, dropping bytes without one (as llama.cpp and Hugging Face do).
  void emit_symbol(int32_t symbol, std::string_view bytes, std::vector<int32_t>& out) const;

  BpeOptions options_;
  PreTokenizer pre_;
  // Symbol ids are token ids, extended past n_vocab for merge operands that are no token (only
  // malformed vocabularies have those); the merges then work on id pairs instead of strings.
  std::vector<MergeSlot> merges_;            // open addressing, size a power of two
  std::array<int32_t, 256> byte_symbol_;     // byte -> symbol id of its character, -1 if none
  std::array<int32_t, 256> byte_token_;      // byte -> token id of its character, -1 if none
  std::array<int32_t, 256> fallback_token_;  // byte -> "<0xXX>" token id, -1 if none
};

// llama.cpp's defaults for "gpt2" vocabularies that depend on which keys the file has, applied by
// load_tokenizer() before make_tokenizer(): bos and eos default to 11 (Falcon's <|endoftext|>),
// and add_bos to the pre-tokenizer's default (true for the Llama 3 family) when
// tokenizer.ggml.add_bos_token is absent. Does nothing for other models.
void apply_bpe_defaults(const gguf::File& file, Vocab& vocab);

}  // namespace bottega::tokenizer
