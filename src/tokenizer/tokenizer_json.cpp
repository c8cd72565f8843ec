// Hugging Face tokenizer.json (+ tokenizer_config.json) -> a BpeTokenizer.
//
// The file's pipeline maps onto bottega's pieces: added_tokens become control (special) or
// user-defined (non-special) tokens that SpecialSplitter matches Hugging Face's way (leftmost,
// then longest, lstrip/rstrip swallowing Unicode whitespace); the normalizer and Metaspace become
// NormalizerSteps; Split and ByteLevel pre-tokenizers become SplitRules and the byte-level flag;
// the BPE model's vocab and merges fill the Vocab; TemplateProcessing (or tokenizer_config.json's
// add_bos_token/add_eos_token) decides add_bos/add_eos. Anything else is refused by name, never
// silently approximated.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace bottega::tokenizer {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581

// GPT-2's pattern as the ByteLevel pre-tokenizer applies it with use_regex.
constexpr std::string_view kByteLevelRegex =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

// Case-insensitive contractions, spelled out: under PCRE2's Unicode caseless matching "ſ"
// (U+017F) and "K" (U+212A) would match 's' and 'k', which the tokenizers' own regex engines
// (Oniguruma in Rust, JavaScript's RegExp) do not do for these patterns.
constexpr std::string_view kCaselessContractions = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
constexpr std::string_view kSpelledContractions =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

[[noreturn]] void unsupported(std::string_view what) {
  throw Error(str(what,
                  " is not supported (bottega reads BPE tokenizers with the NFC, Replace, "
                  "Prepend and Lowercase normalizers and the Split, ByteLevel, Metaspace and "
                  "Digits pre-tokenizers)"));
}

const Json& field(const Json& object, std::string_view key, std::string_view where) {
  const auto it = object.find(key);
  if (it == object.end()) throw Error(str(where, ".", key, ": missing"));
  return *it;
}

std::string string_field(const Json& object, std::string_view key, std::string_view where) {
  const Json& value = field(object, key, where);
  if (!value.is_string()) throw Error(str(where, ".", key, ": expected a string"));
  return value.get<std::string>();
}

bool bool_field(const Json& object, std::string_view key, bool fallback) {
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

int32_t token_id(const Json& value, std::string_view where) {
  if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
      value.get<int64_t>() >= std::numeric_limits<int32_t>::max()) {
    throw Error(str(where, ": expected a token id, found ", value.dump()));
  }
  return static_cast<int32_t>(value.get<int64_t>());
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(str("cannot read '", path.string(), "'"));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

Json parse_file(const fs::path& path) {
  const std::string text = read_text(path);
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw Error(str(path.string(), ": not valid JSON (", e.what(), ")"));
  }
}

// One entry of model.merges as "left right".
std::string merge_text(const Json& merge) {
  if (merge.is_string()) return merge.get<std::string>();
  if (!merge.is_array() || merge.size() != 2 || !merge[0].is_string() || !merge[1].is_string()) {
    throw Error(str("model.merges: expected \"a b\" or [\"a\", \"b\"], found ", merge.dump()));
  }
  const std::string& left = merge[0].get_ref<const std::string&>();
  const std::string& right = merge[1].get_ref<const std::string&>();
  if (left.empty() || left.find(' ') != std::string::npos) {
    unsupported(str("merge operand '", left, "' (empty or containing a space)"));
  }
  return left + " " + right;
}

// A {"String": s} or {"Regex": r} pattern.
SplitRule pattern_rule(const Json& pattern, std::string_view where) {
  SplitRule rule;
  if (pattern.contains("String") && pattern["String"].is_string()) {
    rule.pattern = pattern["String"].get<std::string>();
    rule.literal = true;
  } else if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
    rule.pattern = pattern["Regex"].get<std::string>();
    for (size_t at = rule.pattern.find(kCaselessContractions); at != std::string::npos;
         at = rule.pattern.find(kCaselessContractions, at)) {
      rule.pattern.replace(at, kCaselessContractions.size(), kSpelledContractions);
    }
  } else {
    throw Error(str(where, ".pattern: expected {\"String\": ...} or {\"Regex\": ...}"));
  }
  return rule;
}

void read_normalizer(const Json& n, BpeOptions& options) {
  if (n.is_null()) return;
  const std::string type = string_field(n, "type", "normalizer");
  if (type == "Sequence") {
    for (const Json& child : field(n, "normalizers", "normalizer")) read_normalizer(child, options);
  } else if (type == "NFC") {
    options.normalizer.push_back({NormalizerStep::Kind::kNfc, {}, {}});
  } else if (type == "Lowercase") {
    options.normalizer.push_back({NormalizerStep::Kind::kLowercase, {}, {}});
  } else if (type == "Prepend") {
    options.normalizer.push_back(
        {NormalizerStep::Kind::kPrepend, {}, string_field(n, "prepend", "normalizer")});
  } else if (type == "Replace") {
    const SplitRule pattern = pattern_rule(field(n, "pattern", "normalizer"), "normalizer");
    if (!pattern.literal) unsupported("normalizer Replace with a Regex pattern");
    options.normalizer.push_back({NormalizerStep::Kind::kReplace, pattern.pattern,
                                  string_field(n, "content", "normalizer")});
  } else {
    unsupported(str("normalizer '", type, "'"));
  }
}

SplitRule::Behavior split_behavior(const std::string& name) {
  if (name == "Isolated") return SplitRule::Behavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitRule::Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitRule::Behavior::kMergedWithNext;
  if (name == "Removed") return SplitRule::Behavior::kRemoved;
  unsupported(str("pre_tokenizer Split behavior '", name, "'"));
}

void read_pre_tokenizer(const Json& p, BpeOptions& options, bool& byte_level) {
  if (p.is_null()) return;
  const std::string type = string_field(p, "type", "pre_tokenizer");
  if (type == "Sequence") {
    for (const Json& child : field(p, "pretokenizers", "pre_tokenizer")) {
      read_pre_tokenizer(child, options, byte_level);
    }
  } else if (type == "Split") {
    if (bool_field(p, "invert", false)) unsupported("pre_tokenizer Split with invert");
    SplitRule rule = pattern_rule(field(p, "pattern", "pre_tokenizer"), "pre_tokenizer");
    rule.behavior = split_behavior(string_field(p, "behavior", "pre_tokenizer"));
    options.splits.push_back(std::move(rule));
  } else if (type == "ByteLevel") {
    if (bool_field(p, "add_prefix_space", false)) {
      unsupported("pre_tokenizer ByteLevel with add_prefix_space");
    }
    if (bool_field(p, "use_regex", true)) options.splits.push_back({std::string(kByteLevelRegex)});
    byte_level = true;
  } else if (type == "Metaspace") {
    const std::string replacement = string_field(p, "replacement", "pre_tokenizer");
    options.normalizer.push_back({NormalizerStep::Kind::kReplace, " ", replacement});
    std::string scheme = "always";
    if (p.contains("prepend_scheme") && p["prepend_scheme"].is_string()) {
      scheme = p["prepend_scheme"].get<std::string>();
    } else if (!bool_field(p, "add_prefix_space", true)) {
      scheme = "never";
    }
    if (scheme == "always") {
      options.normalizer.push_back({NormalizerStep::Kind::kPrepend, {}, replacement});
    } else if (scheme == "first") {
      options.normalizer.push_back({NormalizerStep::Kind::kPrependFirst, {}, replacement});
    } else if (scheme != "never") {
      unsupported(str("pre_tokenizer Metaspace prepend_scheme '", scheme, "'"));
    }
    if (bool_field(p, "split", true)) {
      options.splits.push_back({replacement, true, SplitRule::Behavior::kMergedWithNext});
    }
  } else if (type == "Digits") {
    options.splits.push_back(
        {bool_field(p, "individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)"});
  } else {
    unsupported(str("pre_tokenizer '", type, "'"));
  }
}

// Whether the decoder turns "▁" into spaces (Metaspace, or Replace "▁" -> " "), and whether it
// drops the first leading space (Metaspace with a prefix, Strip of one leading space).
void read_decoder(const Json& d, BpeOptions& options, bool& strips_leading_space) {
  if (d.is_null()) return;
  const std::string type = string_field(d, "type", "decoder");
  if (type == "Sequence") {
    for (const Json& child : field(d, "decoders", "decoder")) {
      read_decoder(child, options, strips_leading_space);
    }
  } else if (type == "Replace") {
    const SplitRule pattern = pattern_rule(field(d, "pattern", "decoder"), "decoder");
    if (pattern.pattern != kMetaspace || string_field(d, "content", "decoder") != " ") {
      unsupported("decoder Replace other than \"\xE2\x96\x81\" -> \" \"");
    }
    options.decode_metaspace = true;
  } else if (type == "Metaspace") {
    options.decode_metaspace = true;
    const std::string scheme = d.contains("prepend_scheme") && d["prepend_scheme"].is_string()
                                   ? d["prepend_scheme"].get<std::string>()
                                   : (bool_field(d, "add_prefix_space", true) ? "always" : "never");
    strips_leading_space = scheme != "never";
  } else if (type == "Strip") {
    const bool one_space = d.value("content", std::string()) == " " && d.value("start", 0) == 1 &&
                           d.value("stop", 0) == 0;
    if (!one_space) unsupported("decoder Strip other than one leading space");
    strips_leading_space = true;
  } else if (type != "ByteLevel" && type != "ByteFallback" && type != "Fuse") {
    unsupported(str("decoder '", type, "'"));
  }
}

// The special tokens a post-processor puts before and after a single sequence.
struct Wrapping {
  int32_t before = -1;
  int32_t after = -1;
};

int32_t template_token_id(const Json& special_tokens, const std::string& name) {
  const auto it = special_tokens.find(name);
  if (it == special_tokens.end()) {
    throw Error(str("post_processor.special_tokens: '", name, "' is missing"));
  }
  const Json& ids = field(*it, "ids", "post_processor.special_tokens");
  if (!ids.is_array() || ids.size() != 1) {
    unsupported(str("post_processor special token '", name, "' of several ids"));
  }
  return token_id(ids[0], "post_processor.special_tokens.ids");
}

void read_post_processor(const Json& p, Wrapping& wrapping) {
  if (p.is_null()) return;
  const std::string type = string_field(p, "type", "post_processor");
  if (type == "Sequence") {
    for (const Json& child : field(p, "processors", "post_processor")) {
      read_post_processor(child, wrapping);
    }
  } else if (type == "TemplateProcessing") {
    bool seen_sequence = false;
    for (const Json& piece : field(p, "single", "post_processor")) {
      if (piece.contains("Sequence")) {
        seen_sequence = true;
      } else if (piece.contains("SpecialToken")) {
        const int32_t id = template_token_id(
            field(p, "special_tokens", "post_processor"),
            string_field(piece["SpecialToken"], "id", "post_processor.single.SpecialToken"));
        (seen_sequence ? wrapping.after : wrapping.before) = id;
      }
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    wrapping.before = token_id(field(p, "cls", "post_processor").at(1), "post_processor.cls");
    wrapping.after = token_id(field(p, "sep", "post_processor").at(1), "post_processor.sep");
  } else if (type != "ByteLevel") {
    unsupported(str("post_processor '", type, "'"));
  }
}

// tokenizer_config.json names tokens as strings or as {"content": ...} objects.
std::string config_token(const Json& config, std::string_view key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return {};
}

void read_vocab(const Json& model, const Json& added_tokens, Vocab& vocab) {
  const Json& entries = field(model, "vocab", "model");
  if (!entries.is_object()) throw Error("model.vocab: expected an object of token -> id");
  int32_t max_id = -1;
  for (const auto& [text, id_value] : entries.items()) {
    max_id = std::max(max_id, token_id(id_value, "model.vocab"));
  }
  if (added_tokens.is_array()) {
    for (const Json& added : added_tokens) {
      max_id = std::max(max_id, token_id(field(added, "id", "added_tokens"), "added_tokens.id"));
    }
  }
  if (max_id < 0) throw Error("model.vocab: is empty");
  vocab.tokens.assign(static_cast<size_t>(max_id) + 1, std::string());
  vocab.types.assign(vocab.tokens.size(), Vocab::TokenType::kUndefined);  // ids nothing names
  const bool byte_fallback = bool_field(model, "byte_fallback", false);
  for (const auto& [text, id_value] : entries.items()) {
    const auto id = static_cast<size_t>(id_value.get<int32_t>());
    vocab.tokens[id] = text;
    const bool byte_token = byte_fallback && text.size() == 6 && text.starts_with("<0x");
    vocab.types[id] = byte_token ? Vocab::TokenType::kByte : Vocab::TokenType::kNormal;
  }
  if (!added_tokens.is_array()) return;
  for (const Json& added : added_tokens) {
    const auto id = token_id(added["id"], "added_tokens.id");
    vocab.tokens[static_cast<size_t>(id)] = string_field(added, "content", "added_tokens");
    vocab.types[static_cast<size_t>(id)] = bool_field(added, "special", false)
                                               ? Vocab::TokenType::kControl
                                               : Vocab::TokenType::kUserDefined;
    if (bool_field(added, "lstrip", false)) vocab.lstrip_tokens.push_back(id);
    if (bool_field(added, "rstrip", false)) vocab.rstrip_tokens.push_back(id);
  }
}

void read_merges(const Json& model, Vocab& vocab) {
  const Json& merges = field(model, "merges", "model");
  if (!merges.is_array()) throw Error("model.merges: expected an array");
  vocab.merges.reserve(merges.size());
  for (const Json& merge : merges) vocab.merges.push_back(merge_text(merge));
}

void read_model(const Json& model, BpeOptions& options) {
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") unsupported(str("model type '", type, "'"));
  if (!model.value("continuing_subword_prefix", Json()).is_null() &&
      !model["continuing_subword_prefix"].get<std::string>().empty()) {
    unsupported("BPE continuing_subword_prefix");
  }
  if (!model.value("end_of_word_suffix", Json()).is_null() &&
      !model["end_of_word_suffix"].get<std::string>().empty()) {
    unsupported("BPE end_of_word_suffix");
  }
  if (!model.value("dropout", Json()).is_null()) unsupported("BPE dropout");
  options.ignore_merges = bool_field(model, "ignore_merges", false);
  options.byte_fallback = bool_field(model, "byte_fallback", false);
  options.fuse_unk = bool_field(model, "fuse_unk", false);
}

int32_t id_of(const Vocab& vocab, const std::string& text) {
  if (text.empty()) return -1;
  // The highest id with this text, as TokenIndex resolves duplicates.
  for (int32_t id = vocab.n_tokens() - 1; id >= 0; --id) {
    if (vocab.text(id) == text) return id;
  }
  return -1;
}

void read_config(const fs::path& path, const Wrapping& wrapping, Vocab& vocab) {
  Json config = Json::object();
  if (fs::exists(path)) config = parse_file(path);
  if (!config.is_object()) throw Error(str(path.string(), ": expected a JSON object"));

  vocab.bos =
      wrapping.before != -1 ? wrapping.before : id_of(vocab, config_token(config, "bos_token"));
  vocab.eos =
      wrapping.after != -1 ? wrapping.after : id_of(vocab, config_token(config, "eos_token"));
  vocab.pad = id_of(vocab, config_token(config, "pad_token"));
  if (const int32_t unk = id_of(vocab, config_token(config, "unk_token")); unk != -1)
    vocab.unk = unk;
  vocab.add_bos = bool_field(config, "add_bos_token", wrapping.before != -1) && vocab.bos != -1;
  vocab.add_eos = bool_field(config, "add_eos_token", wrapping.after != -1) && vocab.eos != -1;

  const auto chat = config.find("chat_template");
  if (chat != config.end() && chat->is_string()) {
    vocab.chat_template = chat->get<std::string>();
  } else if (chat != config.end() && chat->is_array()) {
    // Named templates: the "default" one, else the first.
    for (const Json& named : *chat) {
      if (named.value("name", std::string()) == "default" || vocab.chat_template.empty()) {
        vocab.chat_template = named.value("template", std::string());
      }
    }
  }
}

fs::path tokenizer_json_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return fs::path(path) / "tokenizer.json";
  return path;
}

}  // namespace

bool is_tokenizer_json_path(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return fs::exists(fs::path(path) / "tokenizer.json", ec);
  return fs::path(path).filename() == "tokenizer.json" || fs::path(path).extension() == ".json";
}

namespace {

struct ParsedTokenizerJson {
  Vocab vocab;
  BpeOptions options;
};

ParsedTokenizerJson parse_tokenizer_json(const fs::path& file) {
  const Json root = parse_file(file);
  try {
    if (!root.is_object()) throw Error("expected a JSON object");
    const Json& model = field(root, "model", "tokenizer");
    const Json none;
    const Json& added = root.contains("added_tokens") ? root["added_tokens"] : none;

    ParsedTokenizerJson parsed;
    Vocab& vocab = parsed.vocab;
    BpeOptions& options = parsed.options;
    options.byte_level = false;
    read_model(model, options);
    read_vocab(model, added, vocab);
    read_merges(model, vocab);
    read_normalizer(root.value("normalizer", Json()), options);
    read_pre_tokenizer(root.value("pre_tokenizer", Json()), options, options.byte_level);
    read_decoder(root.value("decoder", Json()), options, vocab.add_space_prefix);
    Wrapping wrapping;
    read_post_processor(root.value("post_processor", Json()), wrapping);
    if (const auto unk = model.find("unk_token"); unk != model.end() && unk->is_string()) {
      vocab.unk = id_of(vocab, unk->get<std::string>());
    }
    read_config(file.parent_path() / "tokenizer_config.json", wrapping, vocab);

    vocab.model = options.byte_level ? "gpt2" : "bpe";
    vocab.pre = "tokenizer.json";
    vocab.leftmost_special_match = true;
    vocab.strip_unicode_whitespace = true;  // tokenizers strips regex \s: Unicode White_Space
    return parsed;
  } catch (const Json::exception& e) {
    throw Error(str(file.string(), ": unexpected JSON structure (", e.what(), ")"));
  } catch (const Error& e) {
    throw Error(str(file.string(), ": ", e.what()));
  }
}

// The tokenizer.ggml.pre name whose patterns are these splits, or "" when none is. ignore_merges
// is left to the name, as llama.cpp's converter leaves it: o200k's tokenizer.json sets it, and
// gpt-oss files carry "gpt-4o", whose words all go through the merges.
std::string gguf_pre_tokenizer_name(const BpeOptions& options) {
  for (const auto& rule : options.splits) {
    if (rule.literal || rule.behavior != SplitRule::Behavior::kIsolated) return "";
  }
  for (std::string_view name : supported_pre_tokenizers()) {
    const PreTokenizerSpec& spec = pre_tokenizer_spec(name);
    if (spec.regexes.size() != options.splits.size()) continue;
    if (std::equal(
            spec.regexes.begin(), spec.regexes.end(), options.splits.begin(),
            [](std::string_view regex, const SplitRule& rule) { return regex == rule.pattern; })) {
      return std::string(name);
    }
  }
  return "";
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path) {
  const fs::path file = tokenizer_json_file(path);
  ParsedTokenizerJson parsed = parse_tokenizer_json(file);
  try {
    finalize_vocab(parsed.vocab);
    return std::make_unique<BpeTokenizer>(std::move(parsed.vocab), std::move(parsed.options));
  } catch (const Error& e) {
    throw Error(str(file.string(), ": ", e.what()));
  }
}

Vocab tokenizer_json_as_gguf_vocab(const std::string& path) {
  const fs::path file = tokenizer_json_file(path);
  ParsedTokenizerJson parsed = parse_tokenizer_json(file);
  const auto refuse = [&](std::string_view why) {
    throw Error(str(file.string(), ": ", why,
                    ", which a GGUF vocabulary cannot name (it stores byte-level BPE with one of "
                    "llama.cpp's tokenizer.ggml.pre names and no normalizer)"));
  };
  if (!parsed.options.byte_level) refuse("the tokenizer is not byte-level BPE");
  if (!parsed.options.normalizer.empty()) refuse("the tokenizer has a normalizer");
  parsed.vocab.pre = gguf_pre_tokenizer_name(parsed.options);
  if (parsed.vocab.pre.empty()) refuse("its pre-tokenizer patterns match no named pre-tokenizer");
  // As GGUF readers find them: the rules a GGUF vocabulary implies, not tokenizer.json's.
  parsed.vocab.leftmost_special_match = false;
  parsed.vocab.strip_unicode_whitespace = false;
  return std::move(parsed.vocab);
}

}  // namespace bottega::tokenizer
