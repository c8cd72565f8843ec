// Text <-> token ids. Tokenizer is the interface the engine uses; one subclass per tokenizer model
// (SentencePiece for "llama" in spm_tokenizer.h, BPE for "gpt2" in bpe_tokenizer.h, WordPiece for
// "bert" in wordpiece_tokenizer.h), chosen by make_tokenizer() from Vocab::model; Hugging Face
// tokenizer.json files load through load_tokenizer_json().
//
// What every model shares lives here: the vocabulary and its text index, splitting the text at
// special tokens before the model-specific algorithm runs, and decode() built on token_to_piece().
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/special_splitter.h"
#include "tokenizer/vocab.h"

namespace bottega::gguf {
class File;
}

namespace bottega::tokenizer {

class Tokenizer {
 public:
  virtual ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: BOS/EOS as the vocabulary asks (add_bos, add_eos). parse_special: control and
  // unknown-type tokens written in the text ("<s>", "<|end|>") become their ids; without it they
  // are tokenized as plain text. User-defined tokens are always matched (as llama.cpp and Hugging
  // Face do). Throws bottega::Error only when a byte cannot be represented at all (no byte token,
  // no single-byte token, no unknown token).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;

  // The bytes of one token, without any leading-space rule. Control and unknown-type tokens are
  // empty unless render_special; byte tokens give their raw byte, which alone may be an incomplete
  // UTF-8 sequence (StreamingDecoder reassembles those). Throws bottega::Error for an invalid id.
  virtual std::string token_to_piece(int32_t id, bool render_special = false) const = 0;

  // The text of a token sequence: the concatenated pieces, with SentencePiece's rule that the
  // first piece producing text loses one leading space when the vocabulary adds a dummy prefix.
  // skip_special renders control tokens (BOS, EOS, chat markers) as nothing; with it false they
  // appear as their text and count as text for the leading-space rule. The result is the raw
  // bytes, not validated as UTF-8.
  std::string decode(std::span<const int32_t> ids, bool skip_special = true) const;

  const Vocab& vocab() const { return vocab_; }
  int32_t n_vocab() const { return vocab_.n_tokens(); }
  // End of generation: eos, eot or another end-of-turn marker (Vocab::eog).
  bool is_eog(int32_t id) const;
  // The id of the token whose text is exactly `text`; -1 when none.
  int32_t find_token(std::string_view text) const { return index_.find(text); }
  // Whether decode() drops the first piece's leading space (the SPM dummy prefix).
  bool strips_leading_space() const { return vocab_.add_space_prefix; }

 protected:
  explicit Tokenizer(Vocab vocab);

  // A piece of the input: plain text for the model's algorithm, or an already-matched special
  // token (text empty).
  struct Fragment {
    std::string_view text;
    int32_t token = -1;
  };
  // Splits text at special tokens (SpecialSplitter: llama.cpp's or Hugging Face's order, as the
  // vocabulary says). Plain-text fragments are never empty.
  std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;
  const TokenIndex& index() const { return index_; }

 private:
  Vocab vocab_;
  TokenIndex index_;         // views into vocab_.tokens
  SpecialSplitter special_;  // refers to vocab_
};

// The tokenizer for vocab.model. Throws bottega::Error "tokenizer model 'X' is not supported yet"
// for models without an implementation, and for a vocabulary that fails finalize_vocab().
std::unique_ptr<Tokenizer> make_tokenizer(Vocab vocab);
// load_vocab() then make_tokenizer().
std::unique_ptr<Tokenizer> load_tokenizer(const gguf::File& file);

// A Hugging Face tokenizer: `path` is a tokenizer.json or a directory holding one; the
// tokenizer_config.json beside it, when present, names bos/eos, add_bos/add_eos and the chat
// template. Byte-level BPE (Llama 3, Qwen, GPT-OSS, GPT-2 style) and character BPE with byte
// fallback (Gemma) are supported. Throws bottega::Error naming the file and the JSON field for
// anything malformed or not supported.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path);
// The vocabulary of a tokenizer.json (and its tokenizer_config.json) as a GGUF file would carry
// it: tokens, types, merges, special ids, chat template, and as `pre` the tokenizer.ggml.pre name
// whose patterns its pre-tokenizer uses. Throws bottega::Error when the pipeline has no GGUF
// equivalent (not byte-level BPE, a normalizer, patterns of no named pre-tokenizer).
Vocab tokenizer_json_as_gguf_vocab(const std::string& path);
// Whether path names a tokenizer.json (by file name) or a directory that holds one.
bool is_tokenizer_json_path(const std::string& path);

}  // namespace bottega::tokenizer
