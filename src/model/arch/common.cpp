#include "model/arch/common.h"

#include <filesystem>

#include "core/error.h"

namespace bottega::arch {

int64_t Keys::positive(std::string_view suffix) const {
  const std::optional<int64_t> value = integer(suffix);
  if (!value) fail(str("metadata key '", key(suffix), "' is missing"));
  if (*value <= 0) {
    fail(str("metadata key '", key(suffix), "' is ", *value, ", expected a positive number"));
  }
  return *value;
}

std::optional<int64_t> Keys::integer(std::string_view suffix) const {
  return file_.get_int(key(suffix));
}

std::optional<double> Keys::real(std::string_view suffix) const {
  return file_.get_float(key(suffix));
}

std::optional<std::string> Keys::text(std::string_view suffix) const {
  return file_.get_string(key(suffix));
}

void Keys::fail(const std::string& message) const {
  throw Error(str(file_.name(), ": ", message));
}

namespace {

int64_t vocabulary_size(const gguf::File& file, const Keys& keys) {
  if (const auto size = keys.integer("vocab_size"); size && *size > 0) return *size;
  if (const gguf::Array* tokens = file.get_array("tokenizer.ggml.tokens"); tokens != nullptr) {
    if (!tokens->elements.empty()) return static_cast<int64_t>(tokens->elements.size());
  }
  if (const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
      embd != nullptr && embd->shape.size() >= 2) {
    return embd->shape[1];
  }
  keys.fail(str("vocabulary size unknown (no ", keys.key("vocab_size"),
                ", no tokenizer.ggml.tokens and no token_embd.weight)"));
}

void read_experts(const Keys& keys, int64_t n_expert, DecoderConfig& config) {
  const int64_t n_used = keys.positive("expert_used_count");
  if (n_expert > 4096 || n_used > n_expert) {
    keys.fail(str("expert_used_count ", n_used, " of expert_count ", n_expert,
                  " is not a valid mixture of experts"));
  }
  config.moe.n_expert = static_cast<int>(n_expert);
  config.moe.n_used = static_cast<int>(n_used);
  config.moe.n_ff = keys.integer("expert_feed_forward_length")
                        .value_or(keys.integer("feed_forward_length").value_or(0));
  if (config.moe.n_ff <= 0) {
    keys.fail(str("metadata key '", keys.key("expert_feed_forward_length"), "' is missing"));
  }
  config.info.n_expert = config.moe.n_expert;
  config.info.n_expert_used = config.moe.n_used;
}

}  // namespace

DecoderConfig read_standard(const gguf::File& file, std::string_view arch) {
  const Keys keys(file, arch);
  DecoderConfig config;
  ModelInfo& info = config.info;
  info.architecture = std::string(arch);
  info.name =
      file.get_string("general.name").value_or(std::filesystem::path(file.name()).stem().string());
  info.n_embd = keys.positive("embedding_length");
  const int64_t n_layer = keys.positive("block_count");
  if (n_layer > 4096) keys.fail(str(keys.key("block_count"), " = ", n_layer, " is implausible"));
  info.n_layer = static_cast<int>(n_layer);
  const std::optional<int64_t> n_expert = keys.integer("expert_count");
  if (n_expert && *n_expert > 0) {
    read_experts(keys, *n_expert, config);
    info.n_ff = keys.integer("feed_forward_length").value_or(config.moe.n_ff);
  } else {
    info.n_ff = keys.positive("feed_forward_length");
  }
  info.n_head = keys.positive("attention.head_count");
  info.n_head_kv = keys.integer("attention.head_count_kv").value_or(info.n_head);
  info.n_ctx_train = keys.positive("context_length");
  if (info.n_head_kv <= 0 || info.n_head % info.n_head_kv != 0) {
    keys.fail(str("attention.head_count_kv = ", info.n_head_kv,
                  " must divide attention.head_count = ", info.n_head));
  }
  info.head_dim = keys.integer("attention.key_length").value_or(info.n_embd / info.n_head);
  if (info.head_dim <= 0 || info.head_dim % 2 != 0) {
    keys.fail(str("head dimension ", info.head_dim, " must be positive and even"));
  }
  if (const auto value_length = keys.integer("attention.value_length");
      value_length && *value_length != info.head_dim) {
    keys.fail(str("attention.value_length ", *value_length, " differs from attention.key_length ",
                  info.head_dim, "; bottega needs them equal"));
  }
  info.n_vocab = vocabulary_size(file, keys);
  config.norm_eps =
      static_cast<float>(keys.real("attention.layer_norm_rms_epsilon").value_or(1e-5));

  config.n_rot = static_cast<int>(keys.integer("rope.dimension_count").value_or(info.head_dim));
  if (config.n_rot <= 0 || config.n_rot > info.head_dim || config.n_rot % 2 != 0) {
    keys.fail(str("rope.dimension_count = ", config.n_rot,
                  " must be even and at most the head dimension ", info.head_dim));
  }
  LayerConfig layer;
  layer.rope_base = static_cast<float>(keys.real("rope.freq_base").value_or(10000.0));
  // A factor without a type is linear, as llama.cpp reads it.
  const std::string scaling = keys.text("rope.scaling.type").value_or("linear");
  const double factor = keys.real("rope.scaling.factor").value_or(0.0);
  if ((scaling == "linear" || scaling == "yarn") && factor > 0.0) {
    layer.rope_scale = static_cast<float>(1.0 / factor);
  }
  if (scaling == "yarn" && factor > 1.0) {
    config.yarn = true;
    config.original_context =
        keys.integer("rope.scaling.original_context_length").value_or(info.n_ctx_train);
    config.yarn_beta_fast =
        static_cast<float>(keys.real("rope.scaling.yarn_beta_fast").value_or(32.0));
    config.yarn_beta_slow =
        static_cast<float>(keys.real("rope.scaling.yarn_beta_slow").value_or(1.0));
  } else if (scaling != "none" && scaling != "linear" && scaling != "llama3" && scaling != "yarn") {
    // Llama 3.1 files carry "llama3" scaling as rope_freqs.weight, which the decoder applies.
    keys.fail(str("rope scaling type '", scaling, "' is not supported yet"));
  }
  config.layers.assign(static_cast<size_t>(info.n_layer), layer);
  config.tied_head = file.find_tensor("output.weight") == nullptr;
  config.rope_freqs = file.find_tensor("rope_freqs.weight") != nullptr;
  return config;
}

int32_t sliding_window(const gguf::File& file, std::string_view arch) {
  const Keys keys(file, arch);
  const std::optional<int64_t> window = keys.integer("attention.sliding_window");
  if (!window || *window <= 0) return 0;
  return static_cast<int32_t>(std::min<int64_t>(*window, INT32_MAX));
}

DecoderConfig synth_standard(const SynthShape& shape, std::string_view arch) {
  DecoderConfig config;
  ModelInfo& info = config.info;
  info.architecture = std::string(arch);
  info.name = shape.name;
  info.n_embd = shape.n_embd;
  info.n_layer = shape.n_layer;
  info.n_head = shape.n_head;
  info.n_head_kv = shape.n_head_kv;
  info.head_dim = shape.head_dim;
  info.n_ff = shape.n_ff;
  info.n_ctx_train = shape.n_ctx;
  info.n_vocab = shape.n_vocab;
  config.n_rot = static_cast<int>(shape.head_dim);
  config.layers.assign(static_cast<size_t>(shape.n_layer), LayerConfig{});
  if (shape.n_expert > 0) {
    config.moe.n_expert = shape.n_expert;
    config.moe.n_used = shape.n_expert_used;
    config.moe.n_ff = shape.n_ff;
    info.n_expert = shape.n_expert;
    info.n_expert_used = shape.n_expert_used;
  }
  return config;
}

SynthShape with_default_experts(SynthShape shape, int n_expert, int n_used) {
  if (shape.n_expert == 0) {
    shape.n_expert = n_expert;
    shape.n_expert_used = n_used;
  }
  return shape;
}

namespace {

Pooling read_pooling(const Keys& keys) {
  // Converters always write it; files without the key pool by CLS, as llama.cpp's BERT default.
  const int64_t type = keys.integer("pooling_type").value_or(2);
  if (type < 0 || type > 3) {
    keys.fail(str("metadata key '", keys.key("pooling_type"), "' is ", type,
                  "; expected 0 (none), 1 (mean), 2 (cls) or 3 (last)"));
  }
  return static_cast<Pooling>(type);
}

}  // namespace

EncoderConfig read_encoder_standard(const gguf::File& file, std::string_view arch) {
  const Keys keys(file, arch);
  EncoderConfig config;
  ModelInfo& info = config.info;
  info.architecture = std::string(arch);
  info.name = file.get_string("general.name").value_or(file.name());
  info.n_embd = keys.positive("embedding_length");
  info.n_layer = static_cast<int>(keys.positive("block_count"));
  info.n_head = keys.positive("attention.head_count");
  info.n_head_kv = info.n_head;
  info.n_ff = keys.positive("feed_forward_length");
  info.n_ctx_train = keys.positive("context_length");
  if (info.n_embd % info.n_head != 0) {
    keys.fail(str("attention.head_count ", info.n_head, " does not divide embedding_length ",
                  info.n_embd));
  }
  info.head_dim = info.n_embd / info.n_head;
  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->shape.size() != 2) {
    keys.fail("tensor 'token_embd.weight' is missing or not a matrix");
  }
  info.n_vocab = embd->shape[1];
  if (const gguf::TensorInfo* types = file.find_tensor("token_types.weight");
      types != nullptr && types->shape.size() == 2) {
    config.n_token_types = types->shape[1];
  }
  const std::optional<double> eps = keys.real("attention.layer_norm_epsilon");
  if (!eps || !(*eps > 0.0)) {
    keys.fail(str("metadata key '", keys.key("attention.layer_norm_epsilon"),
                  "' is missing or not positive"));
  }
  config.norm_eps = static_cast<float>(*eps);
  if (file.get_bool(keys.key("attention.causal")).value_or(false)) {
    keys.fail(str("metadata key '", keys.key("attention.causal"),
                  "' is true; bottega runs encoders with bidirectional attention only"));
  }
  config.pooling = read_pooling(keys);
  return config;
}

EncoderConfig synth_encoder_standard(const SynthShape& shape, std::string_view arch) {
  EncoderConfig config;
  ModelInfo& info = config.info;
  info.architecture = std::string(arch);
  info.name = shape.name;
  info.n_embd = shape.n_embd;
  info.n_layer = shape.n_layer;
  info.n_head = shape.n_head;
  info.n_head_kv = shape.n_head;
  info.head_dim = shape.n_embd / shape.n_head;
  info.n_ff = shape.n_ff;
  info.n_ctx_train = shape.n_ctx;
  info.n_vocab = shape.n_vocab;
  return config;
}

}  // namespace bottega::arch
