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
#include "model/architecture.h"
#include "model/encoder_config.h"
#include "tensor/blocks.h"
#include "tokenizer/tokenizer.h"

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
    {"Q6_K", T::Q6_K, TypeMix::kLlamaDefault, 18}, {"MXFP4_MOE", T::MXFP4, TypeMix::kExperts, 38},
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

std::string architecture_names() {
  std::string names;
  for (const Architecture& a : architectures()) names += str(names.empty() ? "" : ", ", a.name);
  for (const EncoderArchitecture& a : encoder_architectures()) names += str(", ", a.name);
  return names;
}

// The shape asked for, checked; the vocabulary size is filled in from --vocab-from later.
SynthShape validated_shape(const SynthOptions& o) {
  const bool encoder = find_encoder_architecture(o.arch) != nullptr;
  if (find_architecture(o.arch) == nullptr && !encoder) {
    throw Error(
        str("--arch '", o.arch, "' is not supported; synth writes: ", architecture_names()));
  }
  if (encoder && ((o.kv_heads != 0 && o.kv_heads != o.heads) || o.experts != 0 || o.window != 0 ||
                  (o.head_dim != 0 && o.head_dim * o.heads != o.dim))) {
    throw Error(str("--arch ", o.arch, " is an encoder: every head has its own keys and values, ",
                    "heads are --dim / --heads wide, and there are no experts or windows; drop ",
                    "--kv-heads, --head-dim, --experts and --window"));
  }
  check_range("--dim", o.dim, 1, kMaxDim);
  check_range("--layers", o.layers, 1, kMaxLayers);
  check_range("--heads", o.heads, 1, o.dim);
  check_range("--kv-heads", o.kv_heads, 0, o.heads);
  check_range("--head-dim", o.head_dim, 0, kMaxDim);
  check_range("--ffn", o.ffn, 1, kMaxFfn);
  check_range("--ctx", o.ctx, 1, kMaxCtx);
  check_range("--window", o.window, 0, kMaxCtx);
  check_range("--experts", o.experts, 0, 512);
  check_range("--experts-used", o.experts_used, 0, o.experts);
  if (o.experts > 0 && !encoder && !find_architecture(o.arch)->experts) {
    throw Error(str("--experts: '", o.arch, "' models have no experts; use llama (Mixtral), ",
                    "qwen3moe or gpt-oss"));
  }
  const int64_t kv_heads = o.kv_heads == 0 ? o.heads : o.kv_heads;
  if (o.head_dim == 0 && o.dim % o.heads != 0) {
    throw Error(str("--heads ", o.heads, " does not divide --dim ", o.dim,
                    "; give --head-dim for heads narrower or wider than --dim / --heads"));
  }
  if (o.heads % kv_heads != 0) {
    throw Error(str("--kv-heads ", kv_heads, " does not divide --heads ", o.heads));
  }
  const int64_t head_dim = o.head_dim > 0 ? o.head_dim : o.dim / o.heads;
  if (head_dim % 2 != 0) {
    throw Error(
        str("the head dimension ", head_dim,
            " is odd; rotary embeddings need an even one (see --dim, --heads, --head-dim)"));
  }
  SynthShape shape;
  shape.n_embd = o.dim;
  shape.n_layer = static_cast<int>(o.layers);
  shape.n_head = o.heads;
  shape.n_head_kv = kv_heads;
  shape.head_dim = head_dim;
  shape.n_ff = o.ffn;
  shape.n_ctx = o.ctx;
  shape.window = static_cast<int32_t>(o.window);
  shape.n_expert = static_cast<int>(o.experts);
  shape.n_expert_used =
      static_cast<int>(o.experts_used > 0 ? o.experts_used : std::min<int64_t>(2, o.experts));
  return shape;
}

SynthFileType validated_type(const SynthOptions& o) {
  const std::optional<SynthFileType> type = parse_synth_file_type(o.type);
  if (!type) throw Error(str("--type '", o.type, "' is not one of: ", accepted_type_names()));
  // Matrix rows are --dim, --ffn or heads x head size values long, and a row holds whole blocks.
  const int64_t block = type_traits(type->base).block_size;
  const int64_t head_dim = o.head_dim > 0 ? o.head_dim : o.dim / std::max<int64_t>(1, o.heads);
  for (const auto& [flag, value] : {std::pair{"--dim", o.dim}, std::pair{"--ffn", o.ffn},
                                    std::pair{"--heads x head size", o.heads * head_dim}}) {
    if (value % block != 0) {
      throw Error(str(flag, " ", value, " is not a multiple of ", block, ", the block size of ",
                      type->name, "; pick a multiple or another --type"));
    }
  }
  return *type;
}

// The tokenizer.* metadata of the model: copied from a GGUF file, or a tokenizer.json's
// vocabulary written as GGUF keys.
std::vector<gguf::KeyValue> vocab_metadata(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.empty()) {
    throw Error("--vocab-from is required: a GGUF file or tokenizer.json whose tokenizer to copy");
  }
  const bool json_directory =
      std::filesystem::is_directory(path, ec) && tokenizer::is_tokenizer_json_path(path.string());
  if (!json_directory && !std::filesystem::is_regular_file(path, ec)) {
    throw Error(str("--vocab-from '", path.string(), "' does not exist or is not a file"));
  }
  if (tokenizer::is_tokenizer_json_path(path.string())) {
    return tokenizer::gguf_vocab_metadata(tokenizer::tokenizer_json_as_gguf_vocab(path.string()));
  }
  gguf::File file = gguf::File::open(path);
  const gguf::Array* tokens = file.get_array("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->elements.empty()) {
    throw Error(str("--vocab-from '", path.string(), "' has no tokenizer.ggml.tokens to copy"));
  }
  std::vector<gguf::KeyValue> out;
  for (const gguf::KeyValue& kv : file.metadata()) {
    if (kv.key.rfind("tokenizer.", 0) == 0) out.push_back(kv);
  }
  return out;
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
  std::vector<int64_t> shape;
  int64_t n_in;   // row length, GGML shape[0]
  int64_t n_out;  // rows; 1 for a vector
  TensorType type;
  TensorKind kind;
};

// A decoder's or an encoder's tensor list and whether its embedding table is also the head; the
// ARCH.* keys that describe the model go to `writer`.
struct ModelPlan {
  std::vector<TensorDesc> tensors;
  int n_layers = 0;
  bool tied_head = false;
};

ModelPlan describe_model(const std::string& arch, const SynthShape& shape, gguf::Writer& writer) {
  if (const EncoderArchitecture* encoder = find_encoder_architecture(arch)) {
    const EncoderConfig config = encoder->synth(shape);
    write_encoder_config(config, writer);
    return {encoder_tensors(config), config.info.n_layer, false};
  }
  const DecoderConfig config = find_architecture(arch)->synth(shape);
  write_decoder_config(config, writer);
  return {decoder_tensors(config), config.info.n_layer, config.tied_head};
}

std::vector<PlannedTensor> plan_tensors(const ModelPlan& model, const SynthFileType& file_type) {
  const int n_layers = model.n_layers;
  std::vector<PlannedTensor> plan;
  for (const TensorDesc& t : model.tensors) {
    const int64_t n_in = t.shape[0];
    int64_t n_out = 1;  // rows: a 3-D expert tensor's experts follow each other
    for (size_t d = 1; d < t.shape.size(); ++d) n_out *= t.shape[d];
    const std::optional<TensorRole> role = tensor_role(t, model.tied_head);
    const TensorType type =
        role ? matrix_type(file_type, *role, std::max(0, t.layer), n_layers, n_in) : T::F32;
    plan.push_back({t.name, t.shape, n_in, n_out, type, t.kind()});
  }
  return plan;
}

// `count` values of a row of tensor t. Matrices are uniform with variance 1/fan-in (the row
// length), which keeps activations near unit size through the layers as trained weights do; norm
// weights are 1 +- 0.1, biases +- 0.5 and frequency divisors between 1 and 9, as Phi-3's are.
void fill_values(const PlannedTensor& t, int64_t count, uint64_t state, std::vector<float>& row) {
  row.resize(static_cast<size_t>(count));
  switch (t.kind) {
    case TensorKind::kNorm:
      for (float& v : row) v = 1.0f + 0.1f * uniform_pm1(state);
      return;
    case TensorKind::kBias:
      for (float& v : row) v = 0.5f * uniform_pm1(state);
      return;
    case TensorKind::kRopeFactors:
      for (float& v : row) v = 5.0f + 4.0f * uniform_pm1(state);
      return;
    case TensorKind::kMatrix:
    case TensorKind::kRouter:
      break;
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

void set_general_metadata(gguf::Writer& writer, const SynthFileType& file_type) {
  writer.set("general.file_type", gguf::Value::u32(file_type.ftype));
  if (!is_float_type(file_type.base))
    writer.set("general.quantization_version", gguf::Value::u32(2));
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
  const bool expert = role == TensorRole::kExpertGate || role == TensorRole::kExpertUp ||
                      role == TensorRole::kExpertDown;
  if (file_type.mix == TypeMix::kExperts) return expert ? file_type.base : T::Q8_0;
  // Elsewhere experts follow the rules of the dense matrices they stand for.
  if (role == TensorRole::kExpertGate) role = TensorRole::kFfnGate;
  if (role == TensorRole::kExpertUp) role = TensorRole::kFfnUp;
  if (role == TensorRole::kExpertDown) role = TensorRole::kFfnDown;
  if (file_type.mix == TypeMix::kUniform) return file_type.base;
  if (role == TensorRole::kOutput) {
    const bool whole_super_blocks = row % type_traits(T::Q6_K).block_size == 0;
    return file_type.base == T::Q8_0 || !whole_super_blocks ? T::Q8_0 : T::Q6_K;
  }
  // The fused QKV matrix always gets one step more in the _M mixes.
  if (role == TensorRole::kAttnQkv && file_type.mix == TypeMix::kMedium) {
    return file_type.base == T::Q4_K ? T::Q5_K : T::Q6_K;
  }
  const bool sensitive = role == TensorRole::kAttnV || role == TensorRole::kFfnDown;
  if (file_type.mix == TypeMix::kMedium && sensitive && use_more_bits(layer, n_layers)) {
    return T::Q6_K;
  }
  return file_type.base;
}

std::optional<TensorRole> tensor_role(const TensorDesc& t, bool tied_head) {
  switch (t.slot) {
    // A tied embedding is the head, and gets the head's type.
    case TensorSlot::kTokenEmbedding:
      return tied_head ? TensorRole::kOutput : TensorRole::kTokenEmbedding;
    case TensorSlot::kOutput:
      return TensorRole::kOutput;
    case TensorSlot::kAttnQ:
      return TensorRole::kAttnQ;
    case TensorSlot::kAttnK:
      return TensorRole::kAttnK;
    case TensorSlot::kAttnV:
      return TensorRole::kAttnV;
    case TensorSlot::kAttnQkv:
      return TensorRole::kAttnQkv;
    case TensorSlot::kAttnOutput:
      return TensorRole::kAttnOutput;
    case TensorSlot::kFfnGate:
    case TensorSlot::kFfnGateShared:
      return TensorRole::kFfnGate;
    case TensorSlot::kFfnGateExperts:
      return TensorRole::kExpertGate;
    case TensorSlot::kFfnUp:
    case TensorSlot::kFfnUpShared:
      return TensorRole::kFfnUp;
    case TensorSlot::kFfnUpExperts:
      return TensorRole::kExpertUp;
    case TensorSlot::kFfnDown:
    case TensorSlot::kFfnDownShared:
      return TensorRole::kFfnDown;
    case TensorSlot::kFfnDownExperts:
      return TensorRole::kExpertDown;
    default:
      return std::nullopt;
  }
}

SynthSummary synth_model(const SynthOptions& options, ThreadPool& pool) {
  SynthShape shape = validated_shape(options);
  const SynthFileType file_type = validated_type(options);
  if (options.out.empty()) throw Error("-o/--out is required: the GGUF file to write");
  const std::vector<gguf::KeyValue> vocab = vocab_metadata(options.vocab_from);
  const auto tokens = std::find_if(vocab.begin(), vocab.end(), [](const gguf::KeyValue& kv) {
    return kv.key == "tokenizer.ggml.tokens";
  });
  BOTTEGA_CHECK(tokens != vocab.end() && tokens->value.as_array() != nullptr,
                "the vocabulary has no tokens");
  shape.n_vocab = static_cast<int64_t>(tokens->value.as_array()->elements.size());
  // Named by what it is rather than by the output path, so that equal options give equal bytes.
  shape.name =
      str("synth-", options.arch, "-", shape.n_embd, "d-", shape.n_layer, "l-", file_type.name);
  gguf::Writer writer;
  const ModelPlan model = describe_model(options.arch, shape, writer);
  set_general_metadata(writer, file_type);
  for (const gguf::KeyValue& kv : vocab) writer.set(kv.key, kv.value);

  SynthSummary summary;
  summary.arch = options.arch;
  summary.n_vocab = shape.n_vocab;
  const std::vector<PlannedTensor> plan = plan_tensors(model, file_type);
  TensorMaker maker(options.seed, pool);
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedTensor& t = plan[i];
    std::vector<uint8_t> bytes = maker.make(t, i);
    summary.n_params += static_cast<uint64_t>(t.n_in * t.n_out);
    summary.tensor_bytes += bytes.size();
    writer.add_tensor(t.name, t.type, t.shape, std::move(bytes));
  }
  summary.n_tensors = plan.size();
  writer.write(options.out);
  return summary;
}

}  // namespace bottega::convert
