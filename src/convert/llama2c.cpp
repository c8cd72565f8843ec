#include "convert/llama2c.h"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"

namespace bottega::convert {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(str("cannot open '", path.string(), "': ", std::strerror(errno)));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Sequential little-endian reader that refuses to run past the end of its buffer.
class Cursor {
 public:
  Cursor(const std::vector<uint8_t>& bytes, std::string name)
      : bytes_(bytes), name_(std::move(name)) {}

  template <typename T>
  T read() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  std::vector<float> floats(size_t count, const char* what) {
    if (count > remaining() / sizeof(float)) truncated(what);
    std::vector<float> out(count);
    std::memcpy(out.data(), take(count * sizeof(float)), count * sizeof(float));
    return out;
  }
  std::string string(size_t length) {
    const auto* p = reinterpret_cast<const char*>(take(length));
    return {p, length};
  }
  void skip(size_t n, const char* what) {
    if (n > remaining()) truncated(what);
    offset_ += n;
  }
  size_t remaining() const { return bytes_.size() - offset_; }
  [[noreturn]] void truncated(const char* what) const {
    throw Error(str(name_, ": file ends at byte ", bytes_.size(), " while reading ", what,
                    "; it is truncated or not a llama2.c file of the declared shape"));
  }

 private:
  const uint8_t* take(size_t n) {
    if (n > remaining()) truncated("a value");
    const uint8_t* p = bytes_.data() + offset_;
    offset_ += n;
    return p;
  }
  const std::vector<uint8_t>& bytes_;
  std::string name_;
  size_t offset_ = 0;
};

struct Llama2cConfig {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  bool shared_classifier;
};

Llama2cConfig read_header(Cursor& in, const std::string& name) {
  Llama2cConfig c{};
  c.dim = in.read<int32_t>();
  c.hidden_dim = in.read<int32_t>();
  c.n_layers = in.read<int32_t>();
  c.n_heads = in.read<int32_t>();
  c.n_kv_heads = in.read<int32_t>();
  c.vocab_size = in.read<int32_t>();
  c.seq_len = in.read<int32_t>();
  // A negative vocabulary size marks a separate classifier matrix at the end of the file.
  c.shared_classifier = c.vocab_size > 0;
  if (c.vocab_size < 0) c.vocab_size = -c.vocab_size;
  const bool sane = c.dim > 0 && c.hidden_dim > 0 && c.n_layers > 0 && c.n_heads > 0 &&
                    c.n_kv_heads > 0 && c.vocab_size > 0 && c.seq_len > 0 &&
                    c.dim % c.n_heads == 0 && c.n_heads % c.n_kv_heads == 0 && c.dim <= (1 << 16) &&
                    c.hidden_dim <= (1 << 18) && c.n_layers <= 1024 && c.vocab_size <= (1 << 22);
  if (!sane) {
    throw Error(str(name, ": header (dim ", c.dim, ", hidden ", c.hidden_dim, ", layers ",
                    c.n_layers, ", heads ", c.n_heads, "/", c.n_kv_heads, ", vocab ", c.vocab_size,
                    ", seq_len ", c.seq_len, ") is not a valid llama2.c configuration"));
  }
  return c;
}

struct Vocabulary {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
};

// llama2.c stores SentencePiece pieces with U+2581 replaced by a space and BOS/EOS wrapped in
// newlines; GGUF wants the pieces as SentencePiece has them.
std::string to_sentencepiece_piece(std::string piece) {
  if (piece == "\n<s>\n") return "<s>";
  if (piece == "\n</s>\n") return "</s>";
  std::string out;
  for (char c : piece) out += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
  return out;
}

bool is_byte_token(const std::string& piece) {
  return piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>' &&
         std::isxdigit(static_cast<unsigned char>(piece[3])) &&
         std::isxdigit(static_cast<unsigned char>(piece[4]));
}

Vocabulary read_tokenizer(const fs::path& path, int32_t vocab_size) {
  const std::vector<uint8_t> bytes = read_all(path);
  Cursor in(bytes, path.string());
  in.read<int32_t>();  // max token length: not needed
  Vocabulary vocab;
  constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6;
  for (int32_t id = 0; id < vocab_size; ++id) {
    vocab.scores.push_back(in.read<float>());
    const auto length = in.read<int32_t>();
    if (length < 0 || static_cast<size_t>(length) > in.remaining()) in.truncated("a token");
    vocab.tokens.push_back(to_sentencepiece_piece(in.string(static_cast<size_t>(length))));
    const std::string& piece = vocab.tokens.back();
    // llama2.c vocabularies follow SentencePiece's order: <unk>, <s>, </s>, then byte tokens.
    vocab.types.push_back(
        id == 0 ? kUnknown : (id <= 2 ? kControl : (is_byte_token(piece) ? kByte : kNormal)));
  }
  return vocab;
}

}  // namespace

void llama2c_to_gguf(const fs::path& model_path, const fs::path& tokenizer_path,
                     const fs::path& out) {
  const std::vector<uint8_t> bytes = read_all(model_path);
  Cursor in(bytes, model_path.string());
  const Llama2cConfig c = read_header(in, model_path.string());
  const Vocabulary vocab = read_tokenizer(tokenizer_path, c.vocab_size);

  const auto dim = static_cast<int64_t>(c.dim);
  const auto hidden = static_cast<int64_t>(c.hidden_dim);
  const int64_t head_dim = dim / c.n_heads;
  const int64_t kv_dim = head_dim * c.n_kv_heads;
  const auto layers = static_cast<size_t>(c.n_layers);

  gguf::Writer writer;
  writer.set("general.architecture", gguf::Value::string("llama"));
  writer.set("general.name", gguf::Value::string(model_path.stem().string()));
  writer.set("general.file_type", gguf::Value::u32(0));  // all F32
  writer.set("llama.context_length", gguf::Value::u32(static_cast<uint32_t>(c.seq_len)));
  writer.set("llama.embedding_length", gguf::Value::u32(static_cast<uint32_t>(c.dim)));
  writer.set("llama.feed_forward_length", gguf::Value::u32(static_cast<uint32_t>(c.hidden_dim)));
  writer.set("llama.block_count", gguf::Value::u32(static_cast<uint32_t>(c.n_layers)));
  writer.set("llama.attention.head_count", gguf::Value::u32(static_cast<uint32_t>(c.n_heads)));
  writer.set("llama.attention.head_count_kv",
             gguf::Value::u32(static_cast<uint32_t>(c.n_kv_heads)));
  writer.set("llama.rope.dimension_count", gguf::Value::u32(static_cast<uint32_t>(head_dim)));
  writer.set("llama.rope.freq_base", gguf::Value::f32(10000.0f));
  writer.set("llama.attention.layer_norm_rms_epsilon", gguf::Value::f32(1e-5f));
  writer.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  writer.set("tokenizer.ggml.tokens", gguf::Value::strings(vocab.tokens));
  writer.set("tokenizer.ggml.scores", gguf::Value::f32s(vocab.scores));
  writer.set("tokenizer.ggml.token_type", gguf::Value::i32s(vocab.types));
  writer.set("tokenizer.ggml.unknown_token_id", gguf::Value::u32(0));
  writer.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
  writer.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(2));

  // Tensors appear in the checkpoint as [all layers] blocks, in this order.
  auto add = [&](const std::string& name, std::vector<int64_t> shape, const char* what) {
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    const std::vector<float> values = in.floats(static_cast<size_t>(count), what);
    std::vector<uint8_t> data(values.size() * sizeof(float));
    std::memcpy(data.data(), values.data(), data.size());
    writer.add_tensor(name, TensorType::F32, std::move(shape), std::move(data));
  };
  auto per_layer = [&](const std::string& suffix, const std::vector<int64_t>& shape,
                       const char* what) {
    for (size_t l = 0; l < layers; ++l) add("blk." + std::to_string(l) + "." + suffix, shape, what);
  };
  add("token_embd.weight", {dim, c.vocab_size}, "the token embedding");
  per_layer("attn_norm.weight", {dim}, "attention norms");
  per_layer("attn_q.weight", {dim, dim}, "wq");
  per_layer("attn_k.weight", {dim, kv_dim}, "wk");
  per_layer("attn_v.weight", {dim, kv_dim}, "wv");
  per_layer("attn_output.weight", {dim, dim}, "wo");
  per_layer("ffn_norm.weight", {dim}, "FFN norms");
  per_layer("ffn_gate.weight", {dim, hidden}, "w1");
  per_layer("ffn_down.weight", {hidden, dim}, "w2");
  per_layer("ffn_up.weight", {dim, hidden}, "w3");
  add("output_norm.weight", {dim}, "the final norm");
  // Legacy RoPE tables (real and imaginary parts, seq_len x head_dim/2 each): recomputed at run
  // time.
  in.skip(static_cast<size_t>(c.seq_len) * static_cast<size_t>(head_dim) * sizeof(float),
          "RoPE tables");
  if (!c.shared_classifier) add("output.weight", {dim, c.vocab_size}, "the classifier");
  if (in.remaining() != 0) {
    throw Error(str(model_path.string(), ": ", in.remaining(),
                    " unexpected bytes after the last tensor; "
                    "the header does not match the weights"));
  }
  writer.write(out);
}

}  // namespace bottega::convert
