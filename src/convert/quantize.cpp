#include "convert/quantize.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>

#include "convert/synth.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "model/architecture.h"
#include "model/encoder_config.h"

namespace bottega::convert {
namespace {

using T = TensorType;

struct Placement {
  std::optional<TensorRole> role;  // nullopt: a matrix the policy does not name
  int layer = 0;
  bool keep_f32 = false;  // a vector stored as a matrix (expert biases) or a router
};

Placement place(const std::string& name) {
  static const std::vector<std::pair<std::string, TensorRole>> kSuffixes = {
      {"attn_q.weight", TensorRole::kAttnQ},
      {"attn_k.weight", TensorRole::kAttnK},
      {"attn_v.weight", TensorRole::kAttnV},
      {"attn_output.weight", TensorRole::kAttnOutput},
      {"ffn_gate.weight", TensorRole::kFfnGate},
      {"ffn_up.weight", TensorRole::kFfnUp},
      {"ffn_down.weight", TensorRole::kFfnDown},
      {"attn_qkv.weight", TensorRole::kAttnQkv},
      {"ffn_gate_exps.weight", TensorRole::kExpertGate},
      {"ffn_up_exps.weight", TensorRole::kExpertUp},
      {"ffn_down_exps.weight", TensorRole::kExpertDown},
  };
  if (name == "token_embd.weight") return {TensorRole::kTokenEmbedding, 0};
  if (name == "output.weight") return {TensorRole::kOutput, 0};
  if (name.rfind("blk.", 0) == 0) {
    const size_t dot = name.find('.', 4);
    if (dot != std::string::npos) {
      const int layer = std::atoi(name.substr(4, dot - 4).c_str());
      const std::string suffix = name.substr(dot + 1);
      for (const auto& [known, role] : kSuffixes) {
        if (suffix == known) return {role, layer};
      }
    }
  }
  return {};
}

// llama.cpp's substitutes when a row is not a whole number of the chosen type's blocks.
TensorType fallback(TensorType type) {
  switch (type) {
    case T::Q4_K:
      return T::Q5_0;
    case T::Q5_K:
      return T::Q5_1;
    case T::Q6_K:
      return T::Q8_0;
    default:
      return T::F16;
  }
}

TensorType fitting_type(TensorType type, int64_t row) {
  while (row % type_traits(type).block_size != 0) type = fallback(type);
  return type;
}

// Roles from the family's own tensor list when bottega runs the architecture, by name otherwise.
struct Placements {
  std::map<std::string, Placement> by_name;
  int n_layers = 0;
  bool known = false;
  Placement operator()(const std::string& name) const {
    if (!known) return place(name);
    const auto it = by_name.find(name);
    return it != by_name.end() ? it->second : Placement{};
  }
};

int count_layers(const gguf::File& file);

Placements placements(const gguf::File& file) {
  Placements p;
  const auto arch = file.get_string("general.architecture");
  if (arch && find_encoder_architecture(*arch) != nullptr) {
    // An embedding model: its own tensor list; the position and token-type tables stay as stored.
    const EncoderConfig config = read_encoder_config(file);
    p.known = true;
    p.n_layers = config.info.n_layer;
    for (const TensorDesc& t : encoder_tensors(config)) {
      p.by_name[t.name] = {tensor_role(t, false), std::max(0, t.layer),
                           t.kind() != TensorKind::kMatrix || !tensor_role(t, false)};
    }
    return p;
  }
  if (!arch || find_architecture(*arch) == nullptr) {
    p.n_layers = count_layers(file);
    return p;
  }
  const DecoderConfig config = read_decoder_config(file);
  p.known = true;
  p.n_layers = config.info.n_layer;
  for (const TensorDesc& t : decoder_tensors(config)) {
    p.by_name[t.name] = {tensor_role(t, config.tied_head), std::max(0, t.layer),
                         t.kind() != TensorKind::kMatrix};
  }
  return p;
}

int count_layers(const gguf::File& file) {
  int layers = 0;
  for (const auto& info : file.tensors()) {
    const Placement p = place(info.name);
    if (p.role && info.name.rfind("blk.", 0) == 0) layers = std::max(layers, p.layer + 1);
  }
  return layers;
}

std::vector<uint8_t> convert_tensor(const gguf::File& file, const gguf::TensorInfo& info,
                                    TensorType to, ThreadPool& pool) {
  const TypeTraits& source = type_traits(info.type);
  const TypeTraits& target = type_traits(to);
  if (source.dequantize == nullptr) {
    throw Error(str(file.name(), ": tensor '", info.name, "' has type ", source.name,
                    ", which bottega cannot decode"));
  }
  BOTTEGA_CHECK(target.quantize != nullptr, "no quantizer for ", target.name);
  const int64_t row = info.shape[0];
  const int64_t n_rows = info.n_elements() / row;
  const auto in = file.tensor_data(info);
  const size_t in_stride = row_bytes(info.type, row);
  const size_t out_stride = row_bytes(to, row);
  std::vector<uint8_t> out(out_stride * static_cast<size_t>(n_rows));
  pool.parallel_for(n_rows, [&](int64_t begin, int64_t end) {
    std::vector<float> values(static_cast<size_t>(row));
    for (int64_t r = begin; r < end; ++r) {
      source.dequantize(in.data() + static_cast<size_t>(r) * in_stride, values.data(), row);
      target.quantize(values.data(), out.data() + static_cast<size_t>(r) * out_stride, row);
    }
  });
  return out;
}

}  // namespace

QuantizeSummary quantize_model(const std::filesystem::path& in_path,
                               const std::filesystem::path& out_path,
                               const std::string& file_type_name, ThreadPool& pool,
                               const std::function<void(const QuantizedTensor&)>& on_tensor) {
  const std::optional<SynthFileType> file_type = parse_synth_file_type(file_type_name);
  if (!file_type) {
    std::string names;
    for (const auto& t : synth_file_types()) names += str(names.empty() ? "" : ", ", t.name);
    throw Error(
        str("unknown quantization type '", file_type_name, "' (choose one of ", names, ")"));
  }
  if (std::filesystem::exists(in_path) && std::filesystem::exists(out_path) &&
      std::filesystem::equivalent(in_path, out_path)) {
    throw Error("the output file is the input file; write to a new file");
  }
  const gguf::File file = gguf::File::open(in_path);
  const Placements placement = placements(file);
  const int n_layers = placement.n_layers;
  gguf::Writer writer;
  writer.copy_metadata(file);
  writer.set("general.file_type", gguf::Value::u32(file_type->ftype));
  writer.set("general.quantization_version", gguf::Value::u32(2));

  QuantizeSummary summary;
  for (const gguf::TensorInfo& info : file.tensors()) {
    const bool matrix = info.shape.size() >= 2;
    TensorType to = T::F32;  // vectors (norms, rope factors) are tiny and precision-critical
    const Placement p = placement(info.name);
    if (matrix && !p.keep_f32) {
      to = p.role ? matrix_type(*file_type, *p.role, p.layer, n_layers, info.shape[0])
                  : file_type->base;
      to = fitting_type(to, info.shape[0]);
    }
    std::vector<uint8_t> data = convert_tensor(file, info, to, pool);
    const QuantizedTensor report{info.name, info.type, to, info.shape, info.n_bytes, data.size()};
    summary.bytes_before += info.n_bytes;
    summary.bytes_after += data.size();
    ++summary.n_tensors;
    writer.add_tensor(info.name, to, info.shape, std::move(data));
    on_tensor(report);
  }
  writer.write(out_path);
  return summary;
}

}  // namespace bottega::convert
