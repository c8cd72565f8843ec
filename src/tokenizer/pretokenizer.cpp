#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <array>
#include <limits>

#include "core/error.h"

namespace bottega::tokenizer {

namespace {

// The patterns, as llama.cpp lists them per LLAMA_VOCAB_PRE_TYPE_* (llama-vocab.cpp). Two kinds of
// edit, both because PCRE2 can do what std::regex could not:
//  - non-ASCII characters are written \x{..}: the literal forms of U+2126, U+212A, U+1F7D, U+1FBE,
//    U+1FD3 and U+1FDB turn into other characters under Unicode normalization, which editors and
//    tools apply silently, and DeepSeek's letter ranges rely on them;
//  - where llama.cpp approximated \p{Lu}/\p{Ll} classes with lookaheads (tekken, gpt-4o), the
//    tokenizer.json original is used. Case-insensitive groups stay spelled out ('[sS]...), because
//    (?i) in Unicode mode would also let "ſ" (U+017F) match 's'.

// GPT-2's pattern. Without a final |\s+: a lone whitespace character before a non-space is left
// unmatched, and the gap becomes its own piece all the same.
constexpr std::string_view kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";

constexpr std::string_view kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Llama 3's pattern with whitespace runs cut into power-of-two lengths.
constexpr std::string_view kJais2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1})re";

// Llama 3's pattern with single digits.
constexpr std::string_view kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

constexpr std::string_view kQwen35 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Words are runs of anything but whitespace and a few (also CJK/Indic) punctuation marks.
constexpr std::string_view kPoro =
    R"re( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{0964}\x{06D4}\x{060C})]+)re";

constexpr std::string_view kTekken =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// o200k (GPT-4o): camel-case words keep their contraction suffix.
constexpr std::string_view kGpt4o =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// DeepSeek's Latin/Greek/Cyrillic/... cased letters (Unicode L&), CJK and punctuation classes.
constexpr std::string_view kDeepseekLetters =
    R"re(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)re";
constexpr std::string_view kDeepseekPunctuation =
    R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re";
constexpr std::string_view kDeepseekCjk =
    R"re([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";
constexpr std::string_view kCjkKana =
    R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re";
constexpr std::string_view kDeepseek3Words =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kSpark25Words =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+)re";

constexpr std::string_view kBailingMoe =
    R"re('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)re";
constexpr std::string_view kSeedCoder =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// Qwen 2's pattern without contractions, so Turkish suffixes after an apostrophe stay attached.
constexpr std::string_view kUfakzeka =
    R"re([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kExaoneMoe =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+)re";
constexpr std::string_view kMiniCpm5Words =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// The pattern lists, in the order they apply.
constexpr std::string_view kDefaultList[] = {R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re",
                                             R"re([0-9][0-9][0-9])re"};
constexpr std::string_view kGpt2List[] = {kGpt2};
constexpr std::string_view kLlama3List[] = {kLlama3};
constexpr std::string_view kJais2List[] = {kJais2};
constexpr std::string_view kQwen2List[] = {kQwen2};
constexpr std::string_view kQwen35List[] = {kQwen35};
constexpr std::string_view kPoroList[] = {kPoro};
constexpr std::string_view kVikingList[] = {kPoro, R"re(\p{N})re"};
constexpr std::string_view kTekkenList[] = {kTekken};
constexpr std::string_view kGpt4oList[] = {kGpt4o};
constexpr std::string_view kTinyAyaList[] = {R"re(\d{1,3}(?=(?:\d{3})*\b))re", kGpt4o};
constexpr std::string_view kSuperBpeList[] = {R"re(\p{N}+)re", R"re((?=(\d{3})+(?!\d)))re"};
constexpr std::string_view kFalconList[] = {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2,
                                            R"re([0-9][0-9][0-9])re"};
constexpr std::string_view kStarcoderList[] = {R"re(\p{N})re", kGpt2};
constexpr std::string_view kDeepseekLlmList[] = {R"re([\r\n])re",      kDeepseekLetters,
                                                 kDeepseekPunctuation, R"re(\s+$)re",
                                                 kDeepseekCjk,         R"re(\p{N}+)re"};
constexpr std::string_view kDeepseekCoderList[] = {
    R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kDeepseekCjk, R"re(\p{N})re"};
constexpr std::string_view kDeepseek3List[] = {R"re(\p{N}{1,3})re", kCjkKana, kDeepseek3Words};
constexpr std::string_view kSpark25List[] = {R"re(\p{N}{1,3})re", kCjkKana, kSpark25Words,
                                             R"re(\p{N})re"};
constexpr std::string_view kChameleonList[] = {
    R"re(<sentinel:[0-9]+>)re",                    // sentinel tokens
    R"re((IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z)re",  // image tokens
    R"re(([\t\n]|    |  ))re",                     // whitespace, as tokenizer.json has it
    R"re(\p{N})re",                                // single digits
    R"re([\p{P}!-/:-@\[-`{-~])re",                 // punctuation, one character at a time
    kGpt2};
constexpr std::string_view kBailingMoeList[] = {kBailingMoe};
constexpr std::string_view kSeedCoderList[] = {kSeedCoder};
constexpr std::string_view kUfakzekaList[] = {kUfakzeka};
constexpr std::string_view kLagunaList[] = {R"re([^\n]+|[\n]+)re", kQwen2};
constexpr std::string_view kExaoneMoeList[] = {kExaoneMoe};
constexpr std::string_view kMiniCpm5List[] = {R"re(\p{N}{1,3})re", kMiniCpm5Words};

// tokenizer.ggml.pre names per pattern list, with llama.cpp's flags for them. Left out on purpose:
// kimi-k2 and afmoe (llama.cpp splits them with custom code, not patterns), gemma4, sarvam-moe and
// whitespace (not byte-level), youtu and granite-embed-multi-97m (lookahead approximations whose
// originals are not recorded), jina-v1-en, jina-v2-code and roberta-bpe (they append a separator
// token the Vocab does not model).
constexpr std::string_view kDefaultNames[] = {"default"};
constexpr std::string_view kLlama3Names[] = {"llama3",   "llama-v3",  "llama-bpe",
                                             "falcon3",  "falcon-h1", "pixtral",
                                             "midm-2.0", "lfm2",      "jina-v5-nano"};
constexpr std::string_view kLlama3LikeNames[] = {"dbrx", "smaug-bpe", "glm4", "chatglm-bpe"};
constexpr std::string_view kJais2Names[] = {"jais-2"};
constexpr std::string_view kDeepseekLlmNames[] = {"deepseek-llm"};
constexpr std::string_view kDeepseekCoderNames[] = {"deepseek-coder"};
constexpr std::string_view kDeepseek3Names[] = {"deepseek-v3", "hunyuan-dense", "joyai-llm",
                                                "hy_v4"};
constexpr std::string_view kSpark25Names[] = {"spark2_5"};
constexpr std::string_view kFalconNames[] = {"falcon"};
constexpr std::string_view kStarcoderNames[] = {"starcoder", "refact", "command-r",  "smollm",
                                                "codeshell", "exaone", "minerva-7b", "mellum2"};
constexpr std::string_view kGpt2Names[] = {
    "gpt-2",      "phi-2",   "jina-es",  "jina-de",        "gigachat", "jina-v2-es",
    "jina-v2-de", "a.x-4.0", "mellum",   "modern-bert",    "exaone4",  "mpt",
    "olmo",       "jais",    "trillion", "granite-docling"};
constexpr std::string_view kQwen2Names[] = {"qwen2",   "deepseek-r1-qwen", "kormo",
                                            "f2llmv2", "megrez",           "stablelm2",
                                            "hunyuan", "solar-open",       "grok-2"};
constexpr std::string_view kQwen35Names[] = {"qwen35"};
constexpr std::string_view kPoroNames[] = {"poro-chat", "bloom", "gpt3-finnish"};
constexpr std::string_view kVikingNames[] = {"viking"};
constexpr std::string_view kTekkenNames[] = {"tekken"};
constexpr std::string_view kChameleonNames[] = {"chameleon"};
constexpr std::string_view kGpt4oNames[] = {"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"};
constexpr std::string_view kTinyAyaNames[] = {"tiny_aya", "cohere2moe"};
constexpr std::string_view kSuperBpeNames[] = {"superbpe"};
constexpr std::string_view kBailingMoeNames[] = {"bailingmoe", "bailingmoe2", "llada-moe"};
constexpr std::string_view kSeedCoderNames[] = {"seed-coder"};
constexpr std::string_view kUfakzekaNames[] = {"ufakzeka"};
constexpr std::string_view kLagunaNames[] = {"laguna"};
constexpr std::string_view kExaoneMoeNames[] = {"exaone-moe"};
constexpr std::string_view kMiniCpm5Names[] = {"minicpm5"};

struct Row {
  std::span<const std::string_view> names;
  PreTokenizerSpec spec;
};

constexpr Row kRows[] = {
    {kDefaultNames, {kDefaultList}},
    {kLlama3Names, {kLlama3List, /*ignore_merges=*/true, /*add_bos=*/true}},
    {kLlama3LikeNames, {kLlama3List}},
    {kJais2Names, {kJais2List}},
    {kDeepseekLlmNames, {kDeepseekLlmList}},
    {kDeepseekCoderNames, {kDeepseekCoderList}},
    {kDeepseek3Names, {kDeepseek3List}},
    {kSpark25Names, {kSpark25List}},
    {kFalconNames, {kFalconList}},
    {kStarcoderNames, {kStarcoderList}},
    {kGpt2Names, {kGpt2List}},
    {kQwen2Names, {kQwen2List}},
    {kQwen35Names, {kQwen35List}},
    {kPoroNames, {kPoroList}},
    {kVikingNames, {kVikingList}},
    {kTekkenNames, {kTekkenList, /*ignore_merges=*/true, /*add_bos=*/true}},
    {kChameleonNames, {kChameleonList, /*ignore_merges=*/false, /*add_bos=*/true}},
    {kGpt4oNames, {kGpt4oList}},
    {kTinyAyaNames, {kTinyAyaList}},
    {kSuperBpeNames, {kSuperBpeList}},
    {kBailingMoeNames, {kBailingMoeList}},
    {kSeedCoderNames, {kSeedCoderList}},
    {kUfakzekaNames, {kUfakzekaList}},
    {kLagunaNames, {kLagunaList}},
    {kExaoneMoeNames, {kExaoneMoeList}},
    {kMiniCpm5Names, {kMiniCpm5List, /*ignore_merges=*/true}},
};

// Length of the strictly valid UTF-8 sequence (as PCRE2 defines it: no overlong forms, no
// surrogates, nothing above U+10FFFF) starting at text[at], or 0 when none starts there.
size_t valid_sequence_length(std::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(at);
  if (lead < 0x80) return 1;
  size_t n = 0;
  uint8_t lo = 0x80;  // the range of the second byte, which rules out the invalid code points
  uint8_t hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() - at < n) return 0;
  if (byte(at + 1) < lo || byte(at + 1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
  }
  return n;
}

bool is_valid_utf8(std::string_view text) {
  for (size_t at = 0; at < text.size();) {
    // ASCII dominates real text; skip it without the general decoder.
    if (static_cast<uint8_t>(text[at]) < 0x80) {
      ++at;
      continue;
    }
    const size_t n = valid_sequence_length(text, at);
    if (n == 0) return false;
    at += n;
  }
  return true;
}

std::string pcre2_message(int code) {
  std::array<PCRE2_UCHAR, 256> buffer{};
  pcre2_get_error_message(code, buffer.data(), buffer.size());
  return reinterpret_cast<const char*>(buffer.data());
}

struct CodeDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
using CodePtr = std::unique_ptr<pcre2_code, CodeDeleter>;

// Null when PCRE2 rejects the pattern; `error` then says why.
CodePtr try_compile(std::string_view pattern, bool literal, std::string& error) {
  // UTF + UCP: \p{..}, \s, \d and \b follow Unicode. DOLLAR_ENDONLY: `$` means the end of the piece
  // (ECMAScript's meaning, which llama.cpp's std::regex had), not also "before a final newline".
  const uint32_t options =
      literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY;
  int code_error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &code_error, &offset, nullptr);
  if (code == nullptr) {
    error = str("does not compile at offset ", offset, ": ", pcre2_message(code_error));
    return nullptr;
  }
  // JIT is an optimization: when this PCRE2 build or CPU lacks it, pcre2_match interprets.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return CodePtr(code);
}

CodePtr compile(std::string_view pattern) {
  std::string error;
  CodePtr code = try_compile(pattern, /*literal=*/false, error);
  BOTTEGA_CHECK(code != nullptr, "pre-tokenizer pattern ", pattern, " ", error);
  return code;
}

}  // namespace

const PreTokenizerSpec& pre_tokenizer_spec(std::string_view pre) {
  // llama.cpp falls back to "default" (with a warning) for files that predate the key.
  if (pre.empty()) pre = "default";
  for (const Row& row : kRows) {
    for (const std::string_view name : row.names) {
      if (name == pre) return row.spec;
    }
  }
  throw Error(str("tokenizer.ggml.pre: pre-tokenizer '", pre,
                  "' is not supported yet (llama.cpp's names such as 'gpt-2', 'llama-bpe', "
                  "'qwen2' or 'deepseek-llm' are; check that the file was converted by a "
                  "llama.cpp version that knows this model)"));
}

std::vector<std::string_view> supported_pre_tokenizers() {
  std::vector<std::string_view> names;
  for (const Row& row : kRows) names.insert(names.end(), row.names.begin(), row.names.end());
  return names;
}

std::string_view valid_utf8(std::string_view text, std::string& storage) {
  if (is_valid_utf8(text)) return text;
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  storage.clear();
  storage.reserve(text.size() + 16);
  for (size_t at = 0; at < text.size();) {
    const size_t n = valid_sequence_length(text, at);
    if (n == 0) {
      storage += kReplacement;
      ++at;
    } else {
      storage.append(text, at, n);
      at += n;
    }
  }
  return storage;
}

struct PreTokenizer::Impl {
  std::vector<CodePtr> codes;
  std::vector<SplitRule::Behavior> behaviors;  // [codes.size()]
};

namespace {

// A match's [begin, end) in the piece; begin == PCRE2_UNSET when there is none.
struct Match {
  size_t begin = PCRE2_UNSET;
  size_t end = PCRE2_UNSET;
  bool found() const { return begin != PCRE2_UNSET; }
};

}  // namespace

struct PreTokenizer::Scratch::State {
  State() : data(pcre2_match_data_create(1, nullptr)) {
    BOTTEGA_CHECK(data != nullptr, "out of memory for PCRE2 match data");
  }
  ~State() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_data_free(data);
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  Match match(const pcre2_code* code, std::string_view piece, size_t start, uint32_t options) {
    for (;;) {
      // The text was validated once up front; without NO_UTF_CHECK PCRE2 would re-validate the
      // whole piece on every call, quadratic over a long piece.
      const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(piece.data()), piece.size(),
                                 start, options | PCRE2_NO_UTF_CHECK, data, context);
      if (rc == PCRE2_ERROR_NOMATCH) return {};
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT && grow_jit_stack()) continue;
      if (rc < 0) {
        throw Error(str("pre-tokenizer gave up on a piece of ", piece.size(),
                        " bytes: ", pcre2_message(rc)));
      }
      // rc == 0 only says the ovector has fewer pairs than the pattern has groups; pair 0 is set.
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
      return {ovector[0], ovector[1]};
    }
  }

 private:
  // The default JIT stack (32 KiB of machine stack) suits the usual patterns; one that backtracks
  // through a long piece gets a growable stack, once per Scratch. False when that was done already.
  bool grow_jit_stack() {
    if (jit_stack != nullptr) return false;
    constexpr size_t kStart = 256 * 1024;
    constexpr size_t kMax = 64 * 1024 * 1024;
    jit_stack = pcre2_jit_stack_create(kStart, kMax, nullptr);
    context = pcre2_match_context_create(nullptr);
    BOTTEGA_CHECK(jit_stack != nullptr && context != nullptr, "out of memory for a JIT stack");
    pcre2_jit_stack_assign(context, nullptr, jit_stack);
    return true;
  }

  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;  // null: PCRE2's defaults
  pcre2_jit_stack* jit_stack = nullptr;
};

PreTokenizer::Scratch::Scratch() : state_(std::make_unique<State>()) {}
PreTokenizer::Scratch::~Scratch() = default;

PreTokenizer::PreTokenizer(std::span<const std::string_view> regexes) {
  auto impl = std::make_unique<Impl>();
  for (const std::string_view pattern : regexes) {
    impl->codes.push_back(compile(pattern));
    impl->behaviors.push_back(SplitRule::Behavior::kIsolated);
  }
  impl_ = std::move(impl);
}

PreTokenizer::PreTokenizer(std::span<const SplitRule> rules) {
  auto impl = std::make_unique<Impl>();
  for (const SplitRule& rule : rules) {
    std::string error;
    CodePtr code = try_compile(rule.pattern, rule.literal, error);
    if (code == nullptr) throw Error(str("split pattern '", rule.pattern, "' ", error));
    impl->codes.push_back(std::move(code));
    impl->behaviors.push_back(rule.behavior);
  }
  impl_ = std::move(impl);
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

namespace {

// Offset of the character after the one at `at` (the text is valid UTF-8).
size_t next_character(std::string_view text, size_t at) {
  ++at;
  while (at < text.size() && (static_cast<uint8_t>(text[at]) & 0xC0) == 0x80) ++at;
  return at;
}

}  // namespace

void PreTokenizer::split(std::string_view text, Scratch& scratch, std::vector<Word>& words) const {
  BOTTEGA_CHECK(text.size() <= std::numeric_limits<uint32_t>::max(), "text too long to split");
  words.clear();
  if (text.empty()) return;
  words.push_back({0, static_cast<uint32_t>(text.size())});

  Scratch::State& state = *scratch.state_;
  std::vector<Word>& next = scratch.next_;
  for (size_t rule = 0; rule < impl_->codes.size(); ++rule) {
    const pcre2_code* code = impl_->codes[rule].get();
    const SplitRule::Behavior behavior = impl_->behaviors[rule];
    next.clear();
    for (const Word word : words) {
      const std::string_view piece = text.substr(word.begin, word.end - word.begin);
      const auto emit = [&](size_t begin, size_t end) {
        if (end > begin) {
          next.push_back(
              {word.begin + static_cast<uint32_t>(begin), word.begin + static_cast<uint32_t>(end)});
        }
      };
      // Matches and the gaps between them, like std::regex_iterator: after an empty match, first
      // a non-empty match at the same place, else the search resumes one character on.
      size_t last = 0;
      size_t at = 0;
      uint32_t options = 0;
      while (at <= piece.size()) {
        const Match m = state.match(code, piece, at, options);
        if (!m.found()) {
          if (options == 0) break;
          at = next_character(piece, at);
          options = 0;
          continue;
        }
        switch (behavior) {
          case SplitRule::Behavior::kIsolated:
            emit(last, m.begin);
            emit(m.begin, m.end);
            last = m.end;
            break;
          case SplitRule::Behavior::kMergedWithPrevious:
            emit(last, m.end);
            last = m.end;
            break;
          case SplitRule::Behavior::kMergedWithNext:
            emit(last, m.begin);
            last = m.begin;
            break;
          case SplitRule::Behavior::kRemoved:
            emit(last, m.begin);
            last = m.end;
            break;
        }
        at = m.end;
        options = m.end == m.begin ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
      }
      emit(last, piece.size());
    }
    words.swap(next);
  }
}

}  // namespace bottega::tokenizer
