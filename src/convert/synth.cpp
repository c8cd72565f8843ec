#include "convert/synth.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <system_error>
#include <utility>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tensor/blocks.h"

namespace bottega::convert {
namespace {

using T = TensorType;

// general.file_type values are llama.cpp's enum llama_ftype (llama.h). Plain Q4_K and Q5_K carry
// the number of the "_S" mix, whose base type they are, as `llama-quantize --pure` writes them.
const std::vector<SynthFileType> kFileTypes = {
    {"F32", T::F32, TypeMix::kUniform, 0},         {"F16", T::F16, TypeMix::kUniform, 1},
    {"BF16", T::BF16, TypeMix::kUniform, 32},      {"Q8_0", T::Q8_0, TypeMix::kLlamaDefault, 7},
    {"Q4_0", T::Q4_0, TypeMix::kLlamaDefault, 2},  {"Q4_1", T::Q4_1, TypeMix::kLlamaDefault, 3},
    {"Q5_0", T::Q5_0, TypeMix::kLlamaDefault, 8},  {"Q5_1", T::Q5_1, TypeMix::kLlamaDefault, 9},
    {"Q4_K", T::Q4_K, TypeMix::kUniform, 14},      {"Q4_K_M", T::Q4_K, TypeMix::kMedium, 15},
    {"Q5_K", T::Q5_K, TypeMix::kUniform, 16},      {"Q5_K_M", T::Q5_K, TypeMix::kMedium, 17},
    {"Q6_K", T::Q6_K, TypeMix::kLlamaDefault, 18},
};

bool is_float_type(TensorType type) {
  return type == T::F32 || type == T::F16 || type == T::BF16;
}

// llama.cpp's "use more bits" rule: the first and last eighth of the layers, and every third
// layer in between, are the most sensitive to quantization error.
bool use_more_bits(int layer, int n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

// ---- validation ----

constexpr int64_t kMaxDim = int64_t{1} << 16;
constexpr int64_t kMaxFfn = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxCtx = int64_t{1} << 24;

void check_range(const char* flag, int64_t value, int64_t low, int64_t high) {
  if (value < low || value > high) {
    throw Error(str(flag, " ", value, " is out of range: it must be between ", low, " and ", high));
  }
}

std::string accepted_type_names() {
  std::string names;
  for (const SynthFileType& t : kFileTypes) names += str(names.empty() ? "" : ", ", t.name);
  return names;
}

struct Shape {
  int64_t dim, layers, heads, kv_heads, head_dim, ffn, ctx, vocab;
};

Shape validated_shape(const SynthOptions& o) {
  if (o.arch != "llama") {
    throw Error(str("--arch '", o.arch, "' is not supported; synth writes: llama"));
  }
  check_range("--dim", o.dim, 1, kMaxDim);
  check_range("--layers", o.layers, 1, kMaxLayers);
  check_range("--heads", o.heads, 1, o.dim);
  check_range("--kv-heads", o.kv_heads, 0, o.heads);
  check_range("--ffn", o.ffn, 1, kMaxFfn);
  check_range("--ctx", o.ctx, 1, kMaxCtx);
  const int64_t kv_heads = o.kv_heads == 0 ? o.heads : o.kv_heads;
  if (o.dim % o.heads != 0) {
    throw Error(str("--heads ", o.heads, " does not divide --dim ", o.dim));
  }
  if (o.heads % kv_heads != 0) {
    throw Error(str("--kv-heads ", kv_heads, " does not divide --heads ", o.heads));
  }
  const int64_t head_dim = o.dim / o.heads;
  if (head_dim % 2 != 0) {
    throw Error(str("--dim ", o.dim, " / --heads ", o.heads, " gives an odd head dimension (",
                    head_dim, "); rotary embeddings need an even one"));
  }
  return {o.dim, o.layers, o.heads, kv_heads, head_dim, o.ffn, o.ctx, 0};
}

SynthFileType validated_type(const SynthOptions& o) {
  const std::optional<SynthFileType> type = parse_synth_file_type(o.type);
  if (!type) throw Error(str("--type '", o.type, "' is not one of: ", accepted_type_names()));
  // Every row of a llama model is --dim or --ffn values long, and a row holds whole blocks.
  const int64_t block = type_traits(type->base).block_size;
  for (const auto& [flag, value] : {std::pair{"--dim", o.dim}, std::pair{"--ffn", o.ffn}}) {
    if (value % block != 0) {
      throw Error(str(flag, " ", value, " is not a multiple of ", block, ", the block size of ",
                      type->name, "; pick a multiple or another --type"));
    }
  }
  return *type;
}

gguf::File open_vocab(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.empty()) throw Error("--vocab-from is required: a GGUF file whose tokenizer to copy");
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(str("--vocab-from '", path.string(), "' does not exist or is not a file"));
  }
  gguf::File file = gguf::File::open(path);
  const gguf::Array* tokens = file.get_array("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->elements.empty()) {
    throw Error(str("--vocab-from '", path.string(), "' has no tokenizer.ggml.tokens to copy"));
  }
  return file;
}

// ---- random values ----

// SplitMix64: a counter-based generator, so every row has its own stream and rows can be generated
// in any order on any thread with the same result.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in [-1, 1) from the top 24 bits: exactly representable floats.
float uniform_pm1(uint64_t& state) {
  return static_cast<float>(splitmix64(state) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

uint64_t row_seed(uint64_t seed, size_t tensor, int64_t row) {
  uint64_t state = seed;
  uint64_t mixed = splitmix64(state) ^ (static_cast<uint64_t>(tensor) << 40);
  mixed = splitmix64(mixed) ^ static_cast<uint64_t>(row);
  return splitmix64(mixed);
}

// ---- the tensor plan ----

struct PlannedTensor {
  std::string name;
  int64_t n_in;   // row length, GGML shape[0]
  int64_t n_out;  // rows; 1 for a norm vector
  TensorType type;
  bool is_norm;
};

std::vector<PlannedTensor> plan_llama(const Shape& s, const SynthFileType& file_type) {
  const int n_layers = static_cast<int>(s.layers);
  const int64_t kv_dim = s.kv_heads * s.head_dim;
  std::vector<PlannedTensor> plan;
  auto matrix = [&](std::string name, int64_t n_in, int64_t n_out, TensorRole role, int layer) {
    plan.push_back(
        {std::move(name), n_in, n_out, matrix_type(file_type, role, layer, n_layers, n_in), false});
  };
  auto norm = [&](std::string name) { plan.push_back({std::move(name), s.dim, 1, T::F32, true}); };

  matrix("token_embd.weight", s.dim, s.vocab, TensorRole::kTokenEmbedding, 0);
  for (int l = 0; l < n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm.weight");
    matrix(p + "attn_q.weight", s.dim, s.dim, TensorRole::kAttnQ, l);
    matrix(p + "attn_k.weight", s.dim, kv_dim, TensorRole::kAttnK, l);
    matrix(p + "attn_v.weight", s.dim, kv_dim, TensorRole::kAttnV, l);
    matrix(p + "attn_output.weight", s.dim, s.dim, TensorRole::kAttnOutput, l);
    norm(p + "ffn_norm.weight");
    matrix(p + "ffn_gate.weight", s.dim, s.ffn, TensorRole::kFfnGate, l);
    matrix(p + "ffn_up.weight", s.dim, s.ffn, TensorRole::kFfnUp, l);
    matrix(p + "ffn_down.weight", s.ffn, s.dim, TensorRole::kFfnDown, l);
  }
  norm("output_norm.weight");
  matrix("output.weight", s.dim, s.vocab, TensorRole::kOutput, n_layers - 1);
  return plan;
}

// `count` values of a row of tensor t. Matrices are uniform with variance 1/fan-in (the row
// length), which keeps activations near unit size through the layers as trained weights do; norm
// weights are 1 +- 0.1.
void fill_values(const PlannedTensor& t, int64_t count, uint64_t state, std::vector<float>& row) {
  row.resize(static_cast<size_t>(count));
  if (t.is_norm) {
    for (float& v : row) v = 1.0f + 0.1f * uniform_pm1(state);
    return;
  }
  const float scale = std::sqrt(3.0f / static_cast<float>(t.n_in));
  for (float& v : row) v = scale * uniform_pm1(state);
}

// Makes the bytes of each tensor, rows spread over the pool.
//
// The reference K-quant quantizers search many scale grids per sub-block and cost about 250 ns a
// value: minutes for a 1B model on a few cores. K-quant tensors are therefore assembled from a bank
// of super-blocks, each a genuine reference quantization of uniform values at the tensor's scale;
// every row picks its super-blocks from the bank at random. Kernels see the same bit patterns and
// value distribution as from quantizing every value; only exact repeats of 256-value super-blocks
// tell the difference. The other types cost ~10 ns a value and are quantized row by row, as are
// K-quant tensors no larger than the bank.
class TensorMaker {
 public:
  TensorMaker(uint64_t seed, ThreadPool& pool) : seed_(seed), pool_(pool) {}

  std::vector<uint8_t> make(const PlannedTensor& t, size_t index) {
    std::vector<uint8_t> bytes(row_bytes(t.type, t.n_in) * static_cast<size_t>(t.n_out));
    const int64_t n_blocks = t.n_in * t.n_out / type_traits(t.type).block_size;
    if (type_traits(t.type).block_size == kSuperBlock && n_blocks > kBankBlocks) {
      assemble_rows(t, index, bank(t), bytes);
    } else {
      quantize_rows(t, index, bytes);
    }
    return bytes;
  }

 private:
  static constexpr int64_t kSuperBlock = kQK_K;
  static constexpr int64_t kBankBlocks = 8192;
  // Tensor indices of banks start here, far above any model's tensor count.
  static constexpr size_t kBankStreams = size_t{1} << 20;

  void quantize_rows(const PlannedTensor& t, size_t index, std::vector<uint8_t>& bytes) {
    const size_t row_size = row_bytes(t.type, t.n_in);
    const QuantizeFn quantize = type_traits(t.type).quantize;
    BOTTEGA_CHECK(quantize != nullptr, "no quantizer for ", type_name(t.type));
    pool_.parallel_for(t.n_out, [&](int64_t begin, int64_t end) {
      std::vector<float> row;
      for (int64_t r = begin; r < end; ++r) {
        fill_values(t, t.n_in, row_seed(seed_, index, r), row);
        quantize(row.data(), bytes.data() + static_cast<size_t>(r) * row_size, t.n_in);
      }
    });
  }

  // The bank of the tensor's type and scale (its row length), made on first use.
  const std::vector<uint8_t>& bank(const PlannedTensor& t) {
    const auto key = std::pair{t.type, t.n_in};
    auto it = banks_.find(key);
    if (it != banks_.end()) return it->second;
    std::vector<uint8_t> bytes(row_bytes(t.type, kSuperBlock) * kBankBlocks);
    const size_t stream = kBankStreams + banks_.size();
    const size_t block_bytes = type_traits(t.type).block_bytes;
    const QuantizeFn quantize = type_traits(t.type).quantize;
    pool_.parallel_for(kBankBlocks, [&](int64_t begin, int64_t end) {
      std::vector<float> row;
      for (int64_t b = begin; b < end; ++b) {
        fill_values(t, kSuperBlock, row_seed(seed_, stream, b), row);
        quantize(row.data(), bytes.data() + static_cast<size_t>(b) * block_bytes, kSuperBlock);
      }
    });
    return banks_.emplace(key, std::move(bytes)).first->second;
  }

  void assemble_rows(const PlannedTensor& t, size_t index, const std::vector<uint8_t>& bank,
                     std::vector<uint8_t>& bytes) {
    const size_t block_bytes = type_traits(t.type).block_bytes;
    const int64_t blocks_per_row = t.n_in / kSuperBlock;
    pool_.parallel_for(t.n_out, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        uint64_t state = row_seed(seed_, index, r);
        uint8_t* dst = bytes.data() + static_cast<size_t>(r * blocks_per_row) * block_bytes;
        for (int64_t j = 0; j < blocks_per_row; ++j) {
          const uint64_t pick = splitmix64(state) % static_cast<uint64_t>(kBankBlocks);
          std::memcpy(dst + static_cast<size_t>(j) * block_bytes,
                      bank.data() + static_cast<size_t>(pick) * block_bytes, block_bytes);
        }
      }
    });
  }

  uint64_t seed_;
  ThreadPool& pool_;
  std::map<std::pair<TensorType, int64_t>, std::vector<uint8_t>> banks_;
};

void set_llama_metadata(gguf::Writer& writer, const Shape& s, const SynthFileType& file_type) {
  auto u32 = [](int64_t v) { return gguf::Value::u32(static_cast<uint32_t>(v)); };
  writer.set("general.architecture", gguf::Value::string("llama"));
  // Named by what it is rather than by the output path, so that equal options give equal bytes.
  writer.set("general.name",
             gguf::Value::string(str("synth-llama-", s.dim, "d-", s.layers, "l-", file_type.name)));
  writer.set("general.file_type", gguf::Value::u32(file_type.ftype));
  if (!is_float_type(file_type.base)) writer.set("general.quantization_version", u32(2));
  writer.set("llama.vocab_size", u32(s.vocab));
  writer.set("llama.context_length", u32(s.ctx));
  writer.set("llama.embedding_length", u32(s.dim));
  writer.set("llama.block_count", u32(s.layers));
  writer.set("llama.feed_forward_length", u32(s.ffn));
  writer.set("llama.rope.dimension_count", u32(s.head_dim));
  writer.set("llama.attention.head_count", u32(s.heads));
  writer.set("llama.attention.head_count_kv", u32(s.kv_heads));
  writer.set("llama.attention.layer_norm_rms_epsilon", gguf::Value::f32(1e-5f));
  writer.set("llama.rope.freq_base", gguf::Value::f32(10000.0f));
}

}  // namespace

const std::vector<SynthFileType>& synth_file_types() {
  return kFileTypes;
}

std::optional<SynthFileType> parse_synth_file_type(std::string_view name) {
  for (const SynthFileType& t : kFileTypes) {
    if (std::equal(name.begin(), name.end(), t.name.begin(), t.name.end(), [](char a, char b) {
          return std::toupper(static_cast<unsigned char>(a)) == b;
        })) {
      return t;
    }
  }
  return std::nullopt;
}

// llama.cpp's llama_tensor_get_type, restricted to what a dense llama model without an importance
// matrix meets:
// - a uniform mix gives every matrix the base type;
// - otherwise the output matrix gets Q6_K, or Q8_0 when its rows are not whole Q6_K super-blocks
//   or the base is Q8_0 already (the token embedding keeps the base type: the output is untied);
// - the _M mixes also give attn_v and ffn_down Q6_K in the layers use_more_bits picks.
TensorType matrix_type(const SynthFileType& file_type, TensorRole role, int layer, int n_layers,
                       int64_t row) {
  if (file_type.mix == TypeMix::kUniform) return file_type.base;
  if (role == TensorRole::kOutput) {
    const bool whole_super_blocks = row % type_traits(T::Q6_K).block_size == 0;
    return file_type.base == T::Q8_0 || !whole_super_blocks ? T::Q8_0 : T::Q6_K;
  }
  const bool sensitive = role == TensorRole::kAttnV || role == TensorRole::kFfnDown;
  if (file_type.mix == TypeMix::kMedium && sensitive && use_more_bits(layer, n_layers)) {
    return T::Q6_K;
  }
  return file_type.base;
}

SynthSummary synth_model(const SynthOptions& options, ThreadPool& pool) {
  Shape shape = validated_shape(options);
  const SynthFileType file_type = validated_type(options);
  if (options.out.empty()) throw Error("-o/--out is required: the GGUF file to write");
  const gguf::File vocab = open_vocab(options.vocab_from);
  shape.vocab = static_cast<int64_t>(vocab.get_array("tokenizer.ggml.tokens")->elements.size());

  gguf::Writer writer;
  set_llama_metadata(writer, shape, file_type);
  for (const gguf::KeyValue& kv : vocab.metadata()) {
    if (kv.key.rfind("tokenizer.", 0) == 0) writer.set(kv.key, kv.value);
  }

  SynthSummary summary;
  summary.n_vocab = shape.vocab;
  const std::vector<PlannedTensor> plan = plan_llama(shape, file_type);
  TensorMaker maker(options.seed, pool);
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedTensor& t = plan[i];
    std::vector<uint8_t> bytes = maker.make(t, i);
    summary.n_params += static_cast<uint64_t>(t.n_in * t.n_out);
    summary.tensor_bytes += bytes.size();
    std::vector<int64_t> ggml_shape =
        t.is_norm ? std::vector<int64_t>{t.n_in} : std::vector<int64_t>{t.n_in, t.n_out};
    writer.add_tensor(t.name, t.type, std::move(ggml_shape), std::move(bytes));
  }
  summary.n_tensors = plan.size();
  writer.write(options.out);
  return summary;
}

}  // namespace bottega::convert
