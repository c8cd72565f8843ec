#include "tokenizer/vocab.h"

#include <algorithm>
#include <array>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>

#include "core/error.h"
#include "gguf/gguf.h"

namespace bottega::tokenizer {

namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";
constexpr std::string_view kPreKey = "tokenizer.ggml.pre";
constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kScoresKey = "tokenizer.ggml.scores";
constexpr std::string_view kTypesKey = "tokenizer.ggml.token_type";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";
constexpr std::string_view kBosKey = "tokenizer.ggml.bos_token_id";
constexpr std::string_view kEosKey = "tokenizer.ggml.eos_token_id";
constexpr std::string_view kUnkKey = "tokenizer.ggml.unknown_token_id";
constexpr std::string_view kPadKey = "tokenizer.ggml.padding_token_id";
constexpr std::string_view kEotKey = "tokenizer.ggml.eot_token_id";
constexpr std::string_view kAddBosKey = "tokenizer.ggml.add_bos_token";
constexpr std::string_view kAddEosKey = "tokenizer.ggml.add_eos_token";
constexpr std::string_view kAddSpacePrefixKey = "tokenizer.ggml.add_space_prefix";
// WordPiece vocabularies name [CLS] and [SEP] instead of BOS and EOS ("seperator" is the GGUF
// spelling).
constexpr std::string_view kClsKey = "tokenizer.ggml.cls_token_id";
constexpr std::string_view kSepKey = "tokenizer.ggml.seperator_token_id";
constexpr std::string_view kNameKey = "general.name";
constexpr std::string_view kArchitectureKey = "general.architecture";

// What llama.cpp assumes for a model when the file leaves a key out. BPE and WordPiece rows come
// with their tokenizers.
struct ModelDefaults {
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t unk = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
};

ModelDefaults defaults_for(std::string_view model) {
  ModelDefaults defaults;
  if (model == "llama") {
    defaults.bos = 1;
    defaults.eos = 2;
    defaults.unk = 0;
    defaults.add_bos = true;
    defaults.add_space_prefix = true;
  } else if (model == "bert") {
    // [CLS] text [SEP], as BERT's post-processor wraps a sequence; llama.cpp's WordPiece marks
    // word starts with a space-like prefix, which decoding drops at the start of the text.
    defaults.bos = 101;
    defaults.eos = 102;
    defaults.unk = 100;
    defaults.add_bos = true;
    defaults.add_eos = true;
    defaults.add_space_prefix = true;
  }
  return defaults;
}

// End-of-turn markers of popular chat formats, most specific first. Files rarely name their EOT
// token, so (like llama.cpp) we recognise it by its text.
constexpr std::array<std::string_view, 11> kEndOfTurnTexts = {
    "<|eot_id|>",        "<|im_end|>", "<|end|>", "<end_of_turn>",   "<|endoftext|>",
    "<|eom_id|>",        "<EOT>",      "_<EOT>",  "<|end_of_text|>", "<|return|>",
    "<end_of_utterance>"};

[[noreturn]] void fail(std::string_view key, const std::string& detail) {
  throw Error(str(key, ": ", detail));
}

std::vector<std::string> read_strings(const gguf::Array& array, std::string_view key) {
  std::vector<std::string> out;
  out.reserve(array.elements.size());
  for (const gguf::Value& value : array.elements) {
    const std::string* s = value.as_string();
    if (s == nullptr)
      fail(key, str("expected an array of strings, found ", gguf::value_type_name(value.type()),
                    " elements"));
    out.push_back(*s);
  }
  return out;
}

std::vector<float> read_scores(const gguf::Array& array) {
  std::vector<float> out;
  out.reserve(array.elements.size());
  for (const gguf::Value& value : array.elements) {
    const std::optional<double> v = value.as_float();
    if (!v) fail(kScoresKey, "expected an array of numbers");
    out.push_back(static_cast<float>(*v));
  }
  return out;
}

std::vector<Vocab::TokenType> read_types(const gguf::Array& array) {
  std::vector<Vocab::TokenType> out;
  out.reserve(array.elements.size());
  for (size_t i = 0; i < array.elements.size(); ++i) {
    const std::optional<int64_t> v = array.elements[i].as_int();
    if (!v) fail(kTypesKey, "expected an array of integers");
    if (*v < 0 || *v > static_cast<int64_t>(Vocab::TokenType::kByte)) {
      fail(kTypesKey, str("token ", i, " has unknown type ", *v));
    }
    out.push_back(static_cast<Vocab::TokenType>(*v));
  }
  return out;
}

// A special token id: nullopt when the key is absent, -1 for the conventional "none" values (-1,
// or -1 written as u32), the id otherwise (range-checked against the vocabulary later).
std::optional<int32_t> read_special_id(const gguf::File& file, std::string_view key) {
  const std::optional<int64_t> v = file.get_int(key);
  if (!v) return std::nullopt;
  if (*v == -1 || *v == std::numeric_limits<uint32_t>::max()) return -1;
  if (*v < 0 || *v > std::numeric_limits<int32_t>::max()) fail(key, str("invalid token id ", *v));
  return static_cast<int32_t>(*v);
}

void read_special_ids(const gguf::File& file, const ModelDefaults& defaults, Vocab& vocab) {
  // A default the vocabulary is too small for was never claimed by the file: no such token.
  auto or_default = [&](std::optional<int32_t> id, int32_t fallback) {
    if (id) return *id;
    return fallback < vocab.n_tokens() ? fallback : -1;
  };
  std::optional<int32_t> bos = read_special_id(file, kBosKey);
  std::optional<int32_t> eos = read_special_id(file, kEosKey);
  if (vocab.model == "bert") {
    if (!bos) bos = read_special_id(file, kClsKey);
    if (!eos) eos = read_special_id(file, kSepKey);
  }
  vocab.bos = or_default(bos, defaults.bos);
  vocab.eos = or_default(eos, defaults.eos);
  vocab.unk = or_default(read_special_id(file, kUnkKey), defaults.unk);
  vocab.pad = or_default(read_special_id(file, kPadKey), -1);
  vocab.eot = or_default(read_special_id(file, kEotKey), -1);
}

void read_vocab(const gguf::File& file, Vocab& vocab) {
  const std::optional<std::string> model = file.get_string(kModelKey);
  if (!model) fail(kModelKey, "missing (the file has no tokenizer)");
  vocab.model = *model;
  vocab.pre = file.get_string(kPreKey).value_or("default");

  const gguf::Array* tokens = file.get_array(kTokensKey);
  if (tokens == nullptr) fail(kTokensKey, "missing");
  vocab.tokens = read_strings(*tokens, kTokensKey);
  if (const gguf::Array* scores = file.get_array(kScoresKey)) vocab.scores = read_scores(*scores);
  if (const gguf::Array* types = file.get_array(kTypesKey)) vocab.types = read_types(*types);
  if (const gguf::Array* merges = file.get_array(kMergesKey)) {
    vocab.merges = read_strings(*merges, kMergesKey);
  }

  const ModelDefaults defaults = defaults_for(vocab.model);
  read_special_ids(file, defaults, vocab);
  vocab.add_bos = file.get_bool(kAddBosKey).value_or(defaults.add_bos);
  vocab.add_eos = file.get_bool(kAddEosKey).value_or(defaults.add_eos);
  vocab.add_space_prefix = file.get_bool(kAddSpacePrefixKey).value_or(defaults.add_space_prefix);
  vocab.chat_template = file.get_string("tokenizer.chat_template").value_or("");
}

void check_lengths(const Vocab& vocab) {
  if (vocab.tokens.empty()) fail(kTokensKey, "is empty");
  if (vocab.tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    fail(kTokensKey, str("has ", vocab.tokens.size(), " entries, more than int32 ids can address"));
  }
  if (vocab.scores.size() != vocab.tokens.size()) {
    fail(kScoresKey, str("has ", vocab.scores.size(), " entries but ", kTokensKey, " has ",
                         vocab.tokens.size()));
  }
  if (vocab.types.size() != vocab.tokens.size()) {
    fail(kTypesKey, str("has ", vocab.types.size(), " entries but ", kTokensKey, " has ",
                        vocab.tokens.size()));
  }
}

void check_special_ids(const Vocab& vocab) {
  const std::pair<std::string_view, int32_t> ids[] = {
      {kBosKey, vocab.bos}, {kEosKey, vocab.eos}, {kUnkKey, vocab.unk},
      {kPadKey, vocab.pad}, {kEotKey, vocab.eot},
  };
  for (const auto& [key, id] : ids) {
    if (id != -1 && !vocab.valid_id(id)) {
      fail(key, str("token id ", id, " is out of range for a vocabulary of ", vocab.n_tokens(),
                    " tokens"));
    }
  }
  if (vocab.add_bos && vocab.bos == -1) fail(kAddBosKey, str("is true but ", kBosKey, " is unset"));
  if (vocab.add_eos && vocab.eos == -1) fail(kAddEosKey, str("is true but ", kEosKey, " is unset"));
}

// The ids of the end-of-turn texts present, in kEndOfTurnTexts order (lowest id for duplicates).
std::vector<int32_t> find_end_of_turn_markers(const Vocab& vocab) {
  std::array<int32_t, kEndOfTurnTexts.size()> found;
  found.fill(-1);
  for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
    const std::string& text = vocab.text(id);
    if (text.size() < 5 || (text[0] != '<' && text[0] != '_')) continue;  // cheap reject
    for (size_t k = 0; k < kEndOfTurnTexts.size(); ++k) {
      if (found[k] == -1 && text == kEndOfTurnTexts[k]) found[k] = id;
    }
  }
  std::vector<int32_t> markers;
  for (const int32_t id : found) {
    if (id != -1) markers.push_back(id);
  }
  return markers;
}

// The harmony format (gpt-oss) ends a message with <|end|> and the assistant's turn with <|return|>
// (an answer) or <|call|> (a tool call): its reasoning ends in <|end|> and the answer follows, so
// there <|end|> does not end generation and <|call|> does. A vocabulary is harmony's when it has
// both <|return|> and <|call|>, as llama.cpp decides.
bool is_harmony(const Vocab& vocab, int32_t& end, int32_t& ret, int32_t& call) {
  end = ret = call = -1;
  for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
    const std::string& text = vocab.text(id);
    if (text == "<|end|>" && end == -1) end = id;
    if (text == "<|return|>" && ret == -1) ret = id;
    if (text == "<|call|>" && call == -1) call = id;
  }
  return ret != -1 && call != -1;
}

void derive_end_of_generation(Vocab& vocab) {
  std::vector<int32_t> markers = find_end_of_turn_markers(vocab);
  int32_t end = -1, ret = -1, call = -1;
  const bool harmony = is_harmony(vocab, end, ret, call);
  if (harmony) {
    std::erase(markers, end);
    markers.insert(markers.begin(), {ret, call});
    if (vocab.eot == end) vocab.eot = -1;
  }
  if (vocab.eot == -1 && !markers.empty()) vocab.eot = markers.front();

  vocab.eog.clear();
  auto add = [&](int32_t id) {
    if (id == -1) return;
    for (int32_t have : vocab.eog) {
      if (have == id) return;
    }
    vocab.eog.push_back(id);
  };
  if (!harmony || vocab.eos != end) add(vocab.eos);
  add(vocab.eot);
  for (int32_t id : markers) add(id);
}

bool is_special_type(Vocab::TokenType type) {
  return type == Vocab::TokenType::kControl || type == Vocab::TokenType::kUserDefined ||
         type == Vocab::TokenType::kUnknown;
}

bool contains_any(std::string_view text, std::initializer_list<std::string_view> parts) {
  for (const std::string_view part : parts) {
    if (text.find(part) != std::string_view::npos) return true;
  }
  return false;
}

// A string key, or "" when it is absent or not a string (the rules below only look into it).
std::string string_or_empty(const gguf::File& file, std::string_view key) {
  const gguf::Value* value = file.find(key);
  const std::string* text = value == nullptr ? nullptr : value->as_string();
  return text == nullptr ? std::string() : *text;
}

// The id llama.cpp's text -> id map gives `text`: the highest one; -1 when none.
int32_t last_id_of(const Vocab& vocab, std::string_view text) {
  for (int32_t id = vocab.n_tokens() - 1; id >= 0; --id) {
    if (vocab.text(id) == text) return id;
  }
  return -1;
}

// GGUF has no lstrip/rstrip attributes; llama.cpp sets them when it loads a vocabulary, from the
// model's name (lowercased), pre-tokenizer and architecture (llama-vocab.cpp, the per-token
// attributes at the end of loading), in this order of precedence:
//  - pre-tokenizer jina-v2-de, jina-v2-es or jina-v2-code, or architecture nomic-bert-moe or
//    jina-bert-v3: "<mask>" strips the whitespace on its left;
//  - else a name containing "phi-3" or "phi3": every control, user-defined and unknown-type token,
//    and "</s>", strips the whitespace on its right, except "<unk>", "<s>" and "<|endoftext|>";
//  - else a name containing "modern-bert": "[MASK]" strips the whitespace on its left.
// A token text the vocabulary lacks is skipped (llama.cpp warns, or fails to load).
void apply_strip_rules(const gguf::File& file, Vocab& vocab) {
  std::string name = string_or_empty(file, kNameKey);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  const std::string architecture = string_or_empty(file, kArchitectureKey);
  const auto lstrip = [&](std::string_view text) {
    if (const int32_t id = last_id_of(vocab, text); id != -1) vocab.lstrip_tokens.push_back(id);
  };
  if (contains_any(vocab.pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) ||
      contains_any(architecture, {"nomic-bert-moe", "jina-bert-v3"})) {
    lstrip("<mask>");
  } else if (contains_any(name, {"phi-3", "phi3"})) {
    const int32_t end_of_sentence = last_id_of(vocab, "</s>");
    const int32_t kept[] = {last_id_of(vocab, "<unk>"), last_id_of(vocab, "<s>"),
                            last_id_of(vocab, "<|endoftext|>")};
    for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
      if (!is_special_type(vocab.type(id)) && id != end_of_sentence) continue;
      if (std::find(std::begin(kept), std::end(kept), id) != std::end(kept)) continue;
      vocab.rstrip_tokens.push_back(id);
    }
  } else if (contains_any(name, {"modern-bert"})) {
    lstrip("[MASK]");
  }
}

}  // namespace

void finalize_vocab(Vocab& vocab) {
  if (vocab.scores.empty()) vocab.scores.assign(vocab.tokens.size(), 0.0f);
  if (vocab.types.empty()) vocab.types.assign(vocab.tokens.size(), Vocab::TokenType::kNormal);
  check_lengths(vocab);
  check_special_ids(vocab);
  derive_end_of_generation(vocab);
}

std::vector<gguf::KeyValue> gguf_vocab_metadata(const Vocab& vocab) {
  std::vector<gguf::KeyValue> out;
  const auto set = [&](std::string_view key, gguf::Value value) {
    out.push_back({std::string(key), std::move(value)});
  };
  set(kModelKey, gguf::Value::string(vocab.model));
  if (!vocab.pre.empty()) set(kPreKey, gguf::Value::string(vocab.pre));
  set(kTokensKey, gguf::Value::strings(vocab.tokens));
  std::vector<int32_t> types;
  types.reserve(vocab.types.size());
  for (Vocab::TokenType type : vocab.types) types.push_back(static_cast<int32_t>(type));
  if (!types.empty()) set(kTypesKey, gguf::Value::i32s(types));
  if (!vocab.merges.empty()) set(kMergesKey, gguf::Value::strings(vocab.merges));
  if (std::any_of(vocab.scores.begin(), vocab.scores.end(), [](float v) { return v != 0.0f; })) {
    set(kScoresKey, gguf::Value::f32s(vocab.scores));
  }
  const std::pair<std::string_view, int32_t> ids[] = {
      {kBosKey, vocab.bos}, {kEosKey, vocab.eos}, {kUnkKey, vocab.unk},
      {kPadKey, vocab.pad}, {kEotKey, vocab.eot},
  };
  for (const auto& [key, id] : ids) {
    if (id >= 0) set(key, gguf::Value::u32(static_cast<uint32_t>(id)));
  }
  set(kAddBosKey, gguf::Value::boolean(vocab.add_bos));
  set(kAddEosKey, gguf::Value::boolean(vocab.add_eos));
  if (!vocab.chat_template.empty()) {
    set("tokenizer.chat_template", gguf::Value::string(vocab.chat_template));
  }
  return out;
}

Vocab load_vocab(const gguf::File& file) {
  Vocab vocab;
  try {
    read_vocab(file, vocab);
    finalize_vocab(vocab);
    apply_strip_rules(file, vocab);
  } catch (const gguf::FormatError&) {
    throw;  // already names the file and the key
  } catch (const Error& e) {
    throw Error(str(file.name(), ": ", e.what()));
  }
  return vocab;
}

TokenIndex::TokenIndex(const Vocab& vocab) : tokens_(vocab.tokens.data()) {
  size_t capacity = 16;
  while (capacity < 2 * vocab.tokens.size()) capacity *= 2;
  slots_.resize(capacity);
  const std::hash<std::string_view> hasher;
  for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
    const std::string_view text = vocab.text(id);
    if (text.empty()) continue;  // matches nothing; SPM pieces are never empty
    const size_t hash = hasher(text);
    Slot& slot = slots_[probe(text, hash)];
    slot.hash = static_cast<uint32_t>(hash);
    slot.id = id;  // a later duplicate replaces the earlier id
  }
}

size_t TokenIndex::probe(std::string_view text, size_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t at = hash & mask;; at = (at + 1) & mask) {
    const Slot& slot = slots_[at];
    if (slot.id == -1) return at;
    if (slot.hash == static_cast<uint32_t>(hash) && tokens_[static_cast<size_t>(slot.id)] == text)
      return at;
  }
}

int32_t TokenIndex::find(std::string_view text) const {
  return slots_[probe(text, std::hash<std::string_view>{}(text))].id;
}

}  // namespace bottega::tokenizer
