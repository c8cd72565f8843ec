#include "fit/planner.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "kernels/cpu/matmul.h"
#include "model/architecture.h"
#include "model/placement.h"

namespace bottega::fit {
namespace {

// --- Constants measured on this project's machine; see docs/performance.md, "fit". ---

// Resident set of `bottega run` that no model item explains: code, shared libraries, thread
// stacks and allocator arenas. Measured: VmHWM of `bottega run -c 64 -t 2` on aidreams260K.gguf
// (15.76 MB) minus that model's own items (1.44 MB).
constexpr uint64_t kProcessBaseline = 14'300'000;
// The tokenizer's tables (token strings, score and merge maps) per vocabulary entry: the VmHWM of
// a 32000-token synthetic model (dim 64, one layer) minus its other items and the baseline,
// divided by the extra 31488 entries over aidreams260K's 512.
constexpr uint64_t kTokenizerBytesPerToken = 180;
// What a run on a Vulkan device adds to the process beyond its buffers: the loader, the driver
// and the compiled shaders. Measured: VmHWM of `bottega run -c 64 -t 2 --device vulkan0` minus
// the same run on the CPU, aidreams260K.gguf, Mesa lavapipe 22.3 (LLVM 15), 2026-12-06.
constexpr uint64_t kVulkanRuntime = 77'000'000;

// Achieved fraction of the measured roofline, by the type holding most of the matrix bytes: of
// the decode stream (hw/decode_stream.h: the Q4_0 matrix-vector kernel's streaming rate) for
// decoding, and for prompts of the peak the type's kernels compute with (f32 FMA for the float
// types, the 8-bit integer dot product for the quantized ones).
// Calibrated with bench/fit_vs_measured.sh on the standard model (docs/performance.md, "fit"):
// the ratio of measured to predicted speed at efficiency 1, on the 2-core AVX2 machine, quiet,
// each share the geometric mean of several passes (the machine is shared and noisy).
// Decode shares: two passes on 2026-12-01, 19:20 to 19:34 UTC, against the decode stream. Prompt
// shares: four passes, two on 2026-11-25 (16:35 to 16:46 UTC) and two on 2026-12-01.
// Decode shares below 1 are what a whole token costs beyond streaming its matrices: attention,
// norms, the Q6_K output head, one thread handoff per matrix.
// avx512_prompt: pp512 with the AVX-512 kernels over pp512 with the AVX2 ones on the same machine
// (`BOTTEGA_ISA=avx2` and `avx512`, `bottega bench -p 512 -n 0 -r 2 -t 2`, the 2-core Zen 5 VM,
// 2026-12-04 18:52 UTC; docs/performance.md), times, for F16, Q8_0, Q4_0 and the K-quants, the
// geometric mean of measured over predicted pp512 in two passes of bench/fit_vs_measured.sh on
// that VM on 2026-12-07 (19:22 and 19:23 UTC), after the AVX-512 prompt kernels had gained since.
// avx512_decode: AVX-512 machines decode with kernels of their own (kernels/cpu/gemv_avx512.cpp);
// measured over predicted tg128 in the same two passes, for the same types (1 where not measured).
struct Efficiency {
  double decode;
  double prompt;
  double avx512_prompt;
  double avx512_decode = 1.0;
};

Efficiency efficiency(TensorType dominant) {
  switch (dominant) {
    case TensorType::F16:
    case TensorType::BF16:  // the same kernels since 2026-12-07 (BF16 ran scalar before)
      // Since 2026-12-07 F16 matrices are interleaved for kernels of their own: pp512 with AVX2's
      // rose 1.335x (60.6 -> 80.9 t/s, `BOTTEGA_ISA=avx2 bottega bench -p 512 -n 0 -r 1 -t 2`,
      // old and new binaries alternated on the Zen 5 VM), AVX-512's by 2 to 17% in two
      // alternated pairs, within the host's noise: the AVX-512 prediction stays as calibrated.
      return {0.824, 0.535 * 1.335, 1.846 / 1.335 * 1.526, 0.961};
    case TensorType::F32:
      return {0.824, 0.535, 1.846};
    case TensorType::Q8_0:
      return {0.832, 0.484, 1.816 * 1.778, 1.089};
    case TensorType::Q4_0:
      return {0.795, 0.707, 1.793 * 1.376, 1.029};
    case TensorType::Q5_0:
      return {0.867, 0.582, 1.961};
    case TensorType::Q4_1:
      return {0.763, 0.580, 1.524};
    case TensorType::Q5_1:
      return {0.775, 0.487, 1.720};
    case TensorType::Q5_K:
      return {0.816, 0.466, 1.441};  // calibrated on Q5_K_M
    case TensorType::MXFP4:
      // One pass on the gpt-oss-20b-shaped synth model (MXFP4_MOE), the 2-core Zen 5 VM,
      // 2026-12-05 06:30 UTC: there decode runs the AVX-512 MXFP4 kernel, so on AVX2-only
      // machines this decode share is optimistic (their MXFP4 kernel streams about half as fast).
      return {0.770, 0.350, 3.925};
    default:  // other K-quants, calibrated on Q4_K_M
      return {0.793, 0.530, 1.673 * 1.756, 1.082};
  }
}

// pp512 of BF16 matrices with vdpbf16ps over the float FMA kernels' (92.0 -> 168.7 t/s, the
// standard model in BF16, `bottega bench -p 512 -n 0 -r 1 -t 2`, old and new builds alternated,
// the 2-core Zen 5 VM, 2026-12-07; docs/performance.md). --f16-as-bf16 runs F16 files the same way.
constexpr double kBf16DotPromptGain = 1.834;

bool computes_in_floats(TensorType type) {
  return type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16;
}

constexpr int32_t kBlockSize = 16;  // Session::kBlockSize: KV positions per block
constexpr int32_t kMaxBatch = 512;  // Session::kDefaultBatch
constexpr int32_t kBenchPrompt = 512;
constexpr int32_t kBenchGen = 128;

std::string key(const ModelShape& s, const std::string& suffix) {
  return s.architecture + "." + suffix;
}

int64_t require_positive(const gguf::File& file, const std::string& name) {
  const auto value = file.get_int(name);
  if (!value) throw gguf::FormatError(str(file.name(), ": metadata key '", name, "' is missing"));
  if (*value <= 0) {
    throw gguf::FormatError(str(file.name(), ": metadata key '", name, "' is ", *value,
                                ", expected a positive number"));
  }
  return *value;
}

bool has_output_head(const gguf::File& file) {
  return file.find_tensor("output.weight") != nullptr;
}

bool is_matrix(const gguf::TensorInfo& t) {
  return t.shape.size() >= 2 && t.shape[1] > 1;
}

// Tensor data a run keeps resident, and the largest matrix copied into the interleaved layout at
// load (see MemoryBreakdown::load_transient).
struct ResidentWeights {
  uint64_t bytes = 0;
  uint64_t embedding = 0;  // the embedding table when only indexed (not also the output head)
  uint64_t largest_repacked = 0;
};

// Which tensors a device runs, by -ngl's placement: blocks by their number, the embedding with
// the first block, the output norm and head with the head. Null target: none.
class DeviceShare {
 public:
  DeviceShare(const ModelShape& shape, const DeviceTarget* target)
      : placement_(place_layers(shape.n_layer, target != nullptr,
                                target != nullptr ? target->offload_layers : 0)) {}
  const Placement& placement() const { return placement_; }
  bool any() const { return placement_.device_blocks > 0 || placement_.head_on_device; }
  bool on_device(const gguf::TensorInfo& t) const {
    if (t.name.rfind("blk.", 0) == 0) {
      return placement_.block_on_device(std::atoi(t.name.c_str() + 4));
    }
    if (t.name.rfind("token_embd.", 0) == 0) return placement_.embedding_on_device();
    if (t.name.rfind("output", 0) == 0) return placement_.head_on_device;
    return false;  // RoPE tables: read on the host
  }

 private:
  Placement placement_;
};

ResidentWeights resident_weights(const gguf::File& file, const DeviceShare& share,
                                 bool device_reads_in_place) {
  const bool tied = !has_output_head(file);
  ResidentWeights r;
  const gguf::TensorInfo* embedding = nullptr;
  for (const gguf::TensorInfo& t : file.tensors()) {
    // The device's copies are its own memory; pages it reads in place stay the host's.
    if (share.on_device(t) && !device_reads_in_place) continue;
    if (share.on_device(t)) {
      r.bytes += t.n_bytes;
      continue;
    }
    if (t.name == "token_embd.weight" && !tied) {
      embedding = &t;
      continue;
    }
    r.bytes += t.n_bytes;
    if (!is_matrix(t)) {
      r.bytes += static_cast<uint64_t>(t.n_elements()) * sizeof(float);  // float copy
    } else if (is_computable(t.type)) {
      // Matrices the kernels prefer interleaved are copied and their stored pages released, so
      // they count once, but the copy of each is made while its stored pages are resident.
      kernels::WeightMatrix w;
      w.type = t.type;
      w.n_in = t.shape[0];
      w.n_out = t.shape[1];
      if (kernels::prefers_interleaved(w)) {
        r.largest_repacked = std::max(r.largest_repacked, t.n_bytes);
      }
    }
  }
  if (embedding != nullptr) {
    // Read a row per token, yet counted whole: around each fault the kernel maps what the page
    // cache holds, and a file written or read in large chunks (synth, a download, the sequential
    // pass of interleaving) sits there in large folios, so runs measure the whole table resident
    // after a few tokens. A file cached in small pages (after cp) leaves up to this much less.
    r.embedding = embedding->n_bytes;
    r.bytes += r.embedding;
  }
  return r;
}

uint64_t compute_bytes(const ModelShape& s, const Config& config) {
  const auto batch = static_cast<uint64_t>(std::min<int64_t>(kMaxBatch, config.n_ctx));
  const auto q_dim = static_cast<uint64_t>(s.n_head * s.head_dim);
  const auto kv_dim = static_cast<uint64_t>(s.n_kv_dim());
  const auto embd = static_cast<uint64_t>(s.n_embd);
  const auto ff = static_cast<uint64_t>(s.n_ff);
  // The decoder's buffers per batch token (llama's when the family is not one bottega runs).
  const uint64_t floats_per_token = s.activation_floats > 0
                                        ? static_cast<uint64_t>(s.activation_floats)
                                        : 3 * embd + 2 * q_dim + 2 * kv_dim + 2 * ff;
  // matmul's activations quantized for the widest input, at most ~1.07 bytes per value.
  const uint64_t quantized = batch * std::max({embd, ff, q_dim}) * 34 / 32;
  const uint64_t logits = 2 * static_cast<uint64_t>(s.n_vocab) * sizeof(float);
  return batch * floats_per_token * sizeof(float) + quantized + logits;
}

// The KV pool of `layers` layers.
uint64_t kv_pool_bytes(const ModelShape& s, const Config& config, int layers) {
  const int64_t blocks = (config.n_ctx + kBlockSize - 1) / kBlockSize;
  return kv_bytes_per_token(layers, s.n_kv_dim(), config.cache_types) *
         static_cast<uint64_t>(blocks * kBlockSize) * static_cast<uint64_t>(config.parallel);
}

bool reads_in_place(const Config& config) {
  return config.device != nullptr && config.device->reads_file_in_place;
}

MemoryBreakdown memory_of(const gguf::File& file, const ModelShape& shape, const Config& config) {
  MemoryBreakdown m;
  const DeviceShare share(shape, config.device);
  const ResidentWeights weights = resident_weights(file, share, reads_in_place(config));
  m.weights = weights.bytes;
  m.metadata = file.data_offset() + static_cast<uint64_t>(shape.n_vocab) * kTokenizerBytesPerToken;
  m.kv_cache = kv_pool_bytes(shape, config, shape.n_layer - share.placement().device_blocks);
  // With every block on the device, the host holds the residual stream and logits only.
  const bool host_blocks = share.placement().device_blocks < shape.n_layer;
  m.compute = host_blocks ? compute_bytes(shape, config)
                          : 2 * static_cast<uint64_t>(shape.n_vocab) * sizeof(float);
  m.overhead = kProcessBaseline;
  if (share.any()) m.gpu_runtime = kVulkanRuntime;
  // Matrices are copied at load, before the KV cache and activations exist, on every core: while
  // one thread copies the largest (its stored pages and its copy both resident), the others copy
  // the rest, so at worst every copy is made by then (the embedding table, only indexed, is not
  // read yet). Only what that exceeds the later peak by counts. With a tied head the largest is
  // the embedding table, and small models reach this bound.
  const uint64_t at_load = weights.bytes - weights.embedding + weights.largest_repacked;
  const uint64_t later = weights.bytes + m.kv_cache + m.compute;
  m.load_transient = at_load > later ? at_load - later : 0;
  return m;
}

DeviceMemory device_memory_of(const gguf::File& file, const ModelShape& shape,
                              const Config& config) {
  DeviceMemory d;
  if (config.device == nullptr) return d;
  const DeviceShare share(shape, config.device);
  if (!share.any()) return d;
  d.layers = share.placement().device_blocks;
  d.head = share.placement().head_on_device;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (!share.on_device(t)) continue;
    if (!is_matrix(t)) {
      d.weights += static_cast<uint64_t>(t.n_elements()) * sizeof(float);  // norms as floats
    } else if (!config.device->reads_file_in_place) {
      d.weights += t.n_bytes;
    }
  }
  d.kv_cache = kv_pool_bytes(shape, config, d.layers);
  d.compute = compute_bytes(shape, config);
  return d;
}

// System memory the run takes: the host's items, and the device's when they come out of it.
uint64_t system_bytes(const MemoryBreakdown& host, const DeviceMemory& device,
                      const Config& config) {
  const bool shared = config.device != nullptr && config.device->shares_system_memory;
  return host.total() + (shared ? device.total() : 0);
}

bool fits_in(const gguf::File& file, const ModelShape& shape, const Config& config,
             uint64_t available) {
  const MemoryBreakdown host = memory_of(file, shape, config);
  const DeviceMemory device = device_memory_of(file, shape, config);
  if (system_bytes(host, device, config) > available) return false;
  const bool own_memory = config.device != nullptr && !config.device->shares_system_memory;
  return !own_memory || device.total() <= config.device->memory_bytes;
}

// Largest context (per sequence, at most n_ctx_train) that fits in `available` (and in the
// device's own memory); 0 if none.
int64_t largest_context(const gguf::File& file, const ModelShape& shape, Config config,
                        uint64_t available) {
  auto fits = [&](int64_t n_ctx) {
    config.n_ctx = n_ctx;
    return fits_in(file, shape, config, available);
  };
  if (!fits(1)) return 0;
  int64_t low = 1, high = shape.n_ctx_train;
  if (fits(high)) return high;
  while (high - low > 1) {
    const int64_t mid = low + (high - low) / 2;
    (fits(mid) ? low : high) = mid;
  }
  return low >= kBlockSize ? low / kBlockSize * kBlockSize : low;
}

std::vector<WeightsOfType> weights_by_type(const gguf::File& file) {
  std::map<TensorType, WeightsOfType> by_type;
  for (const gguf::TensorInfo& t : file.tensors()) {
    WeightsOfType& w = by_type[t.type];
    w.type = t.type;
    ++w.n_tensors;
    w.n_params += static_cast<uint64_t>(t.n_elements());
    w.bytes += t.n_bytes;
  }
  std::vector<WeightsOfType> out;
  for (const auto& [type, w] : by_type) out.push_back(w);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
  return out;
}

// Matrices a token's forward pass multiplies with: every one but the embedding table, which is
// only indexed (unless it doubles as the output head).
struct PerToken {
  uint64_t matrix_params = 0;
  uint64_t bytes_read = 0;
  TensorType dominant = TensorType::F32;
  TensorType experts = TensorType::F32;  // the type of the expert matrices, if any
};

// An expert tensor (ffn_*_exps, weights and biases) of a mixture of experts.
bool is_expert_tensor(const gguf::TensorInfo& t) {
  return t.name.find("_exps.") != std::string::npos;
}

// With experts, a token reads n_expert_used / n_expert of each expert tensor.
PerToken per_token(const gguf::File& file, const ModelShape& s) {
  const bool tied = !has_output_head(file);
  const auto share = [&](const gguf::TensorInfo& t, uint64_t amount) {
    if (s.n_expert <= 0 || !is_expert_tensor(t)) return amount;
    return amount / static_cast<uint64_t>(s.n_expert) * static_cast<uint64_t>(s.n_expert_used);
  };
  PerToken p;
  std::map<TensorType, uint64_t> bytes_by_type;
  for (const gguf::TensorInfo& t : file.tensors()) {
    const bool embedding = t.name == "token_embd.weight";
    if (embedding && !tied) {
      p.bytes_read += t.shape.empty() ? 0 : row_bytes(t.type, t.shape[0]);
      continue;
    }
    p.bytes_read += share(t, t.n_bytes);
    if (is_matrix(t)) {
      p.matrix_params += share(t, static_cast<uint64_t>(t.n_elements()));
      bytes_by_type[t.type] += share(t, t.n_bytes);
      if (is_expert_tensor(t) && t.name.ends_with(".weight")) p.experts = t.type;
    }
  }
  uint64_t most = 0;
  for (const auto& [type, bytes] : bytes_by_type) {
    if (bytes > most) most = bytes, p.dominant = type;
  }
  return p;
}

// Experts stay in the file's row layout. MXFP4 ones have kernels for that layout (the shares above
// were measured on them). K-quant ones are interleaved on the fly for prompts, a chunk of rows at
// a time, which costs them about an eighth of the dense kernels' speed; other types run the
// row-by-row dot products instead of the interleaved kernels (a quarter of their speed). Decode
// needs no factor. Measured over predicted on two qwen3moe Q4_K_M synth models (the 2-core Zen 5
// VM, 2026-12-06 07:30 UTC, docs/performance.md): 12 layers of Qwen3-30B-A3B's shape (2048 wide,
// 128 experts of 768, top 8) and 1024 wide with 16 experts, top 4: prompts 0.83 and 0.90, decode
// 1.03 and 1.04.
double expert_prompt_factor(const ModelShape& s, const PerToken& p) {
  if (s.n_expert <= 0 || p.experts == TensorType::MXFP4) return 1.0;
  const bool packed = p.experts == TensorType::Q4_K || p.experts == TensorType::Q5_K ||
                      p.experts == TensorType::Q6_K;
  return packed ? 0.87 : 0.252;
}

SpeedEstimate estimate_speed(const gguf::File& file, const ModelShape& s, const Config& config,
                             const Machine& machine) {
  SpeedEstimate speed;
  const PerToken p = per_token(file, s);
  const uint64_t kv_row = kv_bytes_per_token(s.n_layer, s.n_kv_dim(), config.cache_types);
  const double stream = machine.decode_bytes_per_second > 0.0 ? machine.decode_bytes_per_second
                                                              : machine.read_bytes_per_second;
  if (stream > 0.0) {
    // tg128 from an empty context: each token reads every weight and, on average, the K/V of 64
    // earlier positions.
    const double bytes =
        static_cast<double>(p.bytes_read) + static_cast<double>(kv_row) * (kBenchGen / 2.0);
    const Efficiency e = efficiency(p.dominant);
    speed.tg128_tps = stream * e.decode * (machine.avx512_kernels ? e.avx512_decode : 1.0) / bytes;
  }
  const double peak =
      computes_in_floats(p.dominant) ? machine.f32_flops_per_second : machine.int8_ops_per_second;
  if (peak > 0.0) {
    // pp512: two FLOPs per weight per token, plus attention (scores and weighted sum: 4 FLOPs
    // per head dimension per earlier position, 256 positions on average).
    const double attention =
        4.0 * s.n_layer * static_cast<double>(s.n_head * s.head_dim) * (kBenchPrompt / 2.0);
    const double flops = 2.0 * static_cast<double>(p.matrix_params) + attention;
    const bool bf16_dots =
        machine.bf16_dot_products &&
        (p.dominant == TensorType::BF16 || (p.dominant == TensorType::F16 && machine.f16_as_bf16));
    const Efficiency e = efficiency(p.dominant);
    const double gain =
        (machine.avx512_kernels ? e.avx512_prompt : 1.0) * (bf16_dots ? kBf16DotPromptGain : 1.0);
    speed.pp512_tps = peak * e.prompt * gain * expert_prompt_factor(s, p) / flops;
  }
  return speed;
}

// The stored size of this model's weights with its matrices quantized to `type` (norms and
// other vectors keep their size); 0 when a matrix's rows do not divide into the type's blocks.
uint64_t requantized_bytes(const gguf::File& file, TensorType type) {
  const TypeTraits& traits = type_traits(type);
  uint64_t bytes = 0;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (!is_matrix(t)) {
      bytes += t.n_bytes;
      continue;
    }
    if (t.shape[0] % traits.block_size != 0) return 0;
    bytes += static_cast<uint64_t>(t.n_elements() / traits.block_size) * traits.block_bytes;
  }
  return bytes;
}

void add_alternatives(const gguf::File& file, Plan& plan) {
  const uint64_t available = plan.machine.available_bytes;
  const ModelShape& s = plan.shape;
  // Smaller KV cache types, nearest first.
  for (TensorType type : {TensorType::Q8_0, TensorType::Q4_0}) {
    Config c = plan.config;
    c.cache_types = {type, type};
    if (s.n_kv_dim() % type_traits(type).block_size != 0) continue;
    if (kv_bytes_per_token(s.n_layer, s.n_kv_dim(), c.cache_types) >= plan.kv_bytes_per_token)
      continue;
    if (fits_in(file, s, c, available)) {
      const uint64_t total = system_bytes(memory_of(file, s, c), device_memory_of(file, s, c), c);
      plan.alternatives.push_back(
          {"KV cache " + std::string(type_name(type)), c, total, plan.stored_weight_bytes});
      break;
    }
  }
  // A shorter context.
  if (plan.max_context > 0) {
    Config c = plan.config;
    c.n_ctx = plan.max_context;
    plan.alternatives.push_back(
        {"context " + std::to_string(plan.max_context), c,
         system_bytes(memory_of(file, s, c), device_memory_of(file, s, c), c),
         plan.stored_weight_bytes});
  }
  // Fewer parallel sequences.
  for (int p = plan.config.parallel - 1; p >= 1; --p) {
    Config c = plan.config;
    c.parallel = p;
    if (fits_in(file, s, c, available)) {
      const uint64_t total = system_bytes(memory_of(file, s, c), device_memory_of(file, s, c), c);
      plan.alternatives.push_back(
          {"parallel " + std::to_string(p), c, total, plan.stored_weight_bytes});
      break;
    }
  }
  // A smaller quantization of the same model, the largest that fits (on the CPU alone: the
  // scaling below knows nothing of a device's share).
  if (plan.config.device != nullptr) return;
  for (TensorType type : {TensorType::Q8_0, TensorType::Q6_K, TensorType::Q5_K, TensorType::Q4_K,
                          TensorType::Q4_0, TensorType::Q3_K, TensorType::Q2_K}) {
    const uint64_t stored = requantized_bytes(file, type);
    if (stored == 0 || stored >= plan.stored_weight_bytes) continue;
    const MemoryBreakdown m = memory_of(file, s, plan.config);
    const uint64_t total = m.total() - m.weights + m.weights * stored / plan.stored_weight_bytes;
    if (total <= available) {
      plan.alternatives.push_back(
          {std::string(type_name(type)) + " weights (estimated size)", plan.config, total, stored});
      break;
    }
  }
}

}  // namespace

ModelShape read_model_shape(const gguf::File& file) {
  if (const auto arch = file.get_string("general.architecture");
      arch && find_architecture(*arch) != nullptr) {
    DecoderConfig config;
    try {
      config = read_decoder_config(file);
    } catch (const gguf::FormatError&) {
      throw;
    } catch (const Error& e) {
      throw gguf::FormatError(e.what());
    }
    const ModelInfo& info = config.info;
    return {info.architecture,
            info.name,
            info.n_layer,
            info.n_embd,
            info.n_head,
            info.n_head_kv,
            info.head_dim,
            info.n_ff,
            info.n_vocab,
            info.n_ctx_train,
            decoder_activation_floats(config),
            info.n_expert,
            info.n_expert_used};
  }
  ModelShape s;
  const auto arch = file.get_string("general.architecture");
  if (!arch) {
    throw gguf::FormatError(str(file.name(), ": metadata key 'general.architecture' is missing"));
  }
  s.architecture = *arch;
  s.name =
      file.get_string("general.name").value_or(std::filesystem::path(file.name()).stem().string());
  s.n_layer =
      static_cast<int>(std::min<int64_t>(require_positive(file, key(s, "block_count")), 1 << 20));
  s.n_embd = require_positive(file, key(s, "embedding_length"));
  s.n_ff = require_positive(file, key(s, "feed_forward_length"));
  s.n_head = require_positive(file, key(s, "attention.head_count"));
  s.n_head_kv = file.get_int(key(s, "attention.head_count_kv")).value_or(s.n_head);
  s.head_dim = file.get_int(key(s, "attention.key_length")).value_or(s.n_embd / s.n_head);
  s.n_ctx_train = require_positive(file, key(s, "context_length"));
  if (s.n_head_kv <= 0 || s.head_dim <= 0) {
    throw gguf::FormatError(str(file.name(), ": attention.head_count_kv ", s.n_head_kv,
                                " and head dimension ", s.head_dim, " must be positive"));
  }
  const gguf::Array* tokens = file.get_array("tokenizer.ggml.tokens");
  s.n_vocab = file.get_int(key(s, "vocab_size"))
                  .value_or(tokens != nullptr ? static_cast<int64_t>(tokens->elements.size()) : 0);
  if (s.n_vocab <= 0) {
    if (const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
        embd != nullptr && embd->shape.size() >= 2) {
      s.n_vocab = embd->shape[1];
    } else {
      throw gguf::FormatError(str(file.name(), ": vocabulary size unknown"));
    }
  }
  return s;
}

MemoryBreakdown estimate_memory(const gguf::File& file, const Config& config) {
  return memory_of(file, read_model_shape(file), config);
}

Plan make_plan(const gguf::File& file, Config config, const Machine& machine) {
  if (config.parallel < 1) {
    throw Error(str("--parallel ", config.parallel, " must be at least 1"));
  }
  Plan plan;
  plan.shape = read_model_shape(file);
  plan.weights_by_type = weights_by_type(file);
  for (const WeightsOfType& w : plan.weights_by_type) plan.stored_weight_bytes += w.bytes;
  plan.kv_bytes_per_token =
      kv_bytes_per_token(plan.shape.n_layer, plan.shape.n_kv_dim(), config.cache_types);
  plan.machine = machine;
  plan.max_context = largest_context(file, plan.shape, config, machine.available_bytes);
  if (config.n_ctx <= 0) {
    config.n_ctx = plan.max_context > 0 ? plan.max_context : plan.shape.n_ctx_train;
  }
  plan.config = config;
  plan.memory = memory_of(file, plan.shape, config);
  plan.device = device_memory_of(file, plan.shape, config);
  plan.system_bytes = system_bytes(plan.memory, plan.device, config);
  plan.fits = fits_in(file, plan.shape, config, machine.available_bytes);
  if (plan.device.total() == 0) plan.speed = estimate_speed(file, plan.shape, config, machine);
  if (!plan.fits) add_alternatives(file, plan);
  return plan;
}

}  // namespace bottega::fit
