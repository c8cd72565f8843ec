// The tokenizer vocabulary as GGUF stores it (tokenizer.ggml.*), independent of the algorithm that
// uses it: SentencePiece ("llama"), BPE ("gpt2") and WordPiece ("bert"). tokenizer.json files are
// read into the same struct (tokenizer_json.cpp).
//
// load_vocab() reads and validates the keys and applies the defaults llama.cpp applies when a key
// is absent; TokenIndex maps a token's text back to its id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bottega::gguf {
class File;
struct KeyValue;
}  // namespace bottega::gguf

namespace bottega::tokenizer {

struct Vocab {
  // Values of tokenizer.ggml.token_type (SentencePiece's piece types).
  enum class TokenType : int32_t {
    kUndefined = 0,
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,      // <s>, </s>, chat markers: rendered only on request, parsed only on request
    kUserDefined = 4,  // always matched verbatim in the text, rendered verbatim
    kUnused = 5,
    kByte = 6,  // "<0xXX>": byte fallback
  };

  std::vector<std::string> tokens;  // [n_vocab] token text; SPM spells a space as U+2581
  std::vector<float> scores;        // [n_vocab] SPM merge priority (higher merges first)
  std::vector<TokenType> types;     // [n_vocab]
  std::vector<std::string> merges;  // BPE only: "left right", highest priority first

  std::string model;  // tokenizer.ggml.model: "llama" (SPM), "gpt2" (BPE), "bert", ...
  std::string pre;    // tokenizer.ggml.pre: the BPE pre-tokenizer name ("default" when absent)

  // Special token ids; -1 when the vocabulary has none.
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t unk = -1;
  int32_t pad = -1;
  int32_t eot = -1;  // end of turn (chat); found by its text when the file does not name it
  // Every id that ends generation: eos, eot and other end-of-turn markers found by their text.
  std::vector<int32_t> eog;

  bool add_bos = false;           // encode(add_special=true) prepends bos
  bool add_eos = false;           // encode(add_special=true) appends eos
  bool add_space_prefix = false;  // SPM dummy prefix: a space before the text, dropped on decode

  // Special and added tokens that swallow the whitespace before (lstrip) or after (rstrip) them
  // when they are matched in the text: the flags of Hugging Face added tokens, or for GGUF the
  // rules llama.cpp applies by model name (load_vocab()). Whitespace is ASCII (C isspace: space,
  // \t, \n, \v, \f, \r) as llama.cpp has it, or with strip_unicode_whitespace any Unicode
  // White_Space, as Hugging Face's tokenizers have it.
  std::vector<int32_t> lstrip_tokens;
  std::vector<int32_t> rstrip_tokens;
  bool strip_unicode_whitespace = false;
  // Overlapping special tokens in the text: false resolves them as llama.cpp does (longest token
  // first over the whole text), true as Hugging Face does (leftmost, then longest).
  bool leftmost_special_match = false;
  // The Jinja chat template that came with the vocabulary (tokenizer.chat_template in GGUF,
  // tokenizer_config.json beside a tokenizer.json); may be empty.
  std::string chat_template;

  int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
  bool valid_id(int32_t id) const { return id >= 0 && id < n_tokens(); }
  TokenType type(int32_t id) const { return types[static_cast<size_t>(id)]; }
  const std::string& text(int32_t id) const { return tokens[static_cast<size_t>(id)]; }
};

// Reads tokenizer.ggml.{model, pre, tokens, scores, token_type, merges, *_token_id, add_bos_token,
// add_eos_token, add_space_prefix}. Absent keys take llama.cpp's defaults for the model (for
// "llama": bos 1, eos 2, unk 0, add_bos true, add_space_prefix true); a special id stored as -1 or
// 0xFFFFFFFF means "none". GGUF stores no lstrip/rstrip, so the rules llama.cpp applies at load
// time by general.name, tokenizer.ggml.pre and general.architecture fill lstrip_tokens and
// rstrip_tokens (Phi-3: whitespace after its special tokens is dropped). Throws bottega::Error
// naming the key for a missing token list, arrays whose lengths disagree, values of the wrong type
// and special ids out of range.
Vocab load_vocab(const gguf::File& file);

// The tokenizer.* keys a GGUF file carries for this vocabulary, which load_vocab() reads back:
// model, pre, tokens, types, merges (BPE), scores (when any is non-zero), the special ids that are
// set, add_bos/add_eos, and the chat template when there is one.
std::vector<gguf::KeyValue> gguf_vocab_metadata(const Vocab& vocab);

// Completes and checks a vocabulary (also one built in code): fills absent scores (0) and types
// (kNormal), checks array lengths and special ids (bottega::Error naming the GGUF key), finds the
// end-of-turn token by its text when eot is unset and derives eog. load_vocab() ends with it and
// make_tokenizer() repeats it; it is idempotent.
void finalize_vocab(Vocab& vocab);

// Token text -> id: an open-addressing hash table of ids (load factor <= 1/2, linear probing),
// built without one allocation per token so a 32000-token vocabulary indexes in well under a
// millisecond. Refers to vocab.tokens' storage, so the vocabulary must outlive the index and keep
// its token list unchanged (moving the Vocab is fine, copying it is not). When a text occurs twice
// the higher id wins, as in llama.cpp.
class TokenIndex {
 public:
  explicit TokenIndex(const Vocab& vocab);
  int32_t find(std::string_view text) const;  // -1 when no token has this text

 private:
  struct Slot {
    uint32_t hash = 0;  // low bits of the text's hash, to skip most string compares
    int32_t id = -1;    // -1: empty
  };
  size_t probe(std::string_view text, size_t hash) const;  // the slot holding text, or empty

  const std::string* tokens_;  // vocab.tokens.data()
  std::vector<Slot> slots_;    // size a power of two
};

}  // namespace bottega::tokenizer
