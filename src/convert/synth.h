// Synthetic models: a GGUF of a chosen architecture and shape with random weights, for benchmarks
// and tests that need a realistically sized model without downloading one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/thread_pool.h"
#include "model/decoder_config.h"
#include "tensor/types.h"

namespace bottega::convert {

// How the matrices of a file get their types (see matrix_type).
enum class TypeMix {
  kUniform,       // every matrix in the base type: float files, and plain Q4_K / Q5_K
  kLlamaDefault,  // llama.cpp's default for a quantized type: the output matrix gets more bits
  kMedium,        // the _M mixes: also attn_v and ffn_down of some layers
  kExperts,       // MXFP4_MOE: expert matrices in the base type, every other matrix Q8_0
};

// A file type as llama.cpp's quantize tool names it: the type most matrices get, the mix, and
// general.file_type (llama.cpp's LLAMA_FTYPE number).
struct SynthFileType {
  std::string_view name;  // "Q4_K_M"
  TensorType base;
  TypeMix mix;
  uint32_t ftype;
};

// Accepts the names of synth_file_types() case-insensitively.
std::optional<SynthFileType> parse_synth_file_type(std::string_view name);
const std::vector<SynthFileType>& synth_file_types();

// Where a matrix sits in a llama model; decides its type under a mix.
enum class TensorRole {
  kTokenEmbedding,
  kOutput,
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnQkv,  // Q, K and V fused in one matrix (Phi-3)
  kAttnOutput,
  kFfnGate,
  kFfnUp,
  kFfnDown,
  kExpertGate,  // the 3-D *_exps tensors of a mixture of experts
  kExpertUp,
  kExpertDown
};

// The role of a family's tensor under the type mixes; nullopt for vectors (norms, biases, factors).
// A tied embedding table is the head and has the head's role.
std::optional<TensorRole> tensor_role(const TensorDesc& tensor, bool tied_head);

// The type llama.cpp's quantizer gives a llama matrix (no imatrix, no experts) in a file of type
// `file_type`; `row` is the matrix's row length (GGML shape[0]). Norms are not matrices: they stay
// F32 and never reach this function.
TensorType matrix_type(const SynthFileType& file_type, TensorRole role, int layer, int n_layers,
                       int64_t row);

struct SynthOptions {
  std::string arch = "llama";
  int64_t dim = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;  // 0: as many as heads
  int64_t head_dim = 0;  // 0: dim / heads
  int64_t ffn = 0;
  int64_t window = 0;   // sliding window of the family's windowed layers; 0: the family's default
  int64_t experts = 0;  // mixture of experts: experts per layer; 0: the family's default
  int64_t experts_used = 0;  // experts per token
  int64_t ctx = 2048;
  std::string type = "F16";
  uint64_t seed = 0;
  // A GGUF whose tokenizer.* keys are copied, or a tokenizer.json whose vocabulary is written as
  // those keys (byte-level BPE with a pre-tokenizer llama.cpp names).
  std::filesystem::path vocab_from;
  std::filesystem::path out;
};

struct SynthSummary {
  std::string arch;
  uint64_t n_params = 0;
  uint64_t tensor_bytes = 0;
  size_t n_tensors = 0;
  int64_t n_vocab = 0;
};

// Writes the model. The same options (seed included) give the same bytes whatever the thread
// count. Tensors are generated one at a time, spread over the pool, and held until the file is
// written: memory use is about the file's size (0.6 GB for TinyLlama's shape in Q4_0). Throws Error
// naming the flag at fault (--dim, --heads, --type, --vocab-from, ...) for a shape or input that
// cannot make a valid model.
SynthSummary synth_model(const SynthOptions& options, ThreadPool& pool);

}  // namespace bottega::convert
