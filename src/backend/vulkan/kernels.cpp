#include "backend/vulkan/kernels.h"

#include <algorithm>
#include <cctype>

#include "backend/vulkan/shaders.h"
#include "core/error.h"

namespace bottega::vulkan {
namespace {

// The push-constant blocks of the shaders, field for field (std430: 4-byte scalars in order).
struct MatmulConstants {
  uint32_t n_in, n_out, n_tokens, weight_offset, row_bytes, x_offset, x_stride, y_offset, y_stride;
};
struct QuantizeActivationsConstants {
  uint32_t n_in, x_offset, x_stride, scales_offset;
};
struct MatmulDotConstants {
  uint32_t n_in, n_out, n_tokens, weight_offset, row_bytes, scales_offset, y_offset, y_stride;
};
struct GetRowsConstants {
  uint32_t width, n_rows, table_offset, row_bytes, ids_offset, out_offset, out_stride;
  float scale;
};
struct RmsNormConstants {
  uint32_t width, x_offset, x_stride, weight_offset, out_offset, out_stride;
  float eps;
};
struct AddConstants {
  uint32_t width, y_offset, y_stride, x_offset, x_stride;
};
struct GluConstants {
  uint32_t width, gate_offset, gate_stride, up_offset, up_stride, out_offset, out_stride,
      activation;
  float alpha, limit;
};
struct SoftcapConstants {
  uint32_t width, offset, stride;
  float cap;
};
struct RopeConstants {
  uint32_t n_head, head_dim, n_rot, neox, has_freq_factors, yarn;
  float freq_base, freq_scale, attn_factor, yarn_low, yarn_high;
  uint32_t x_offset, x_stride, positions_offset, freq_factors_offset;
};

struct KvStoreConstants {
  uint32_t width, row_bytes, type, src_offset, src_stride, rows_offset;
};
struct AttentionConstants {
  uint32_t n_head, n_head_kv, head_dim, key_type, value_type, key_row_bytes, value_row_bytes,
      block_size, window, has_sinks;
  float scale, softcap;
  uint32_t q_offset, q_stride, out_offset, out_stride, meta_offset, sinks_offset;
};

struct MoeRouteConstants {
  uint32_t n_tokens, n_expert, n_used, over_all, logits_offset, logits_stride;
};
struct MatmulIdConstants {
  uint32_t n_in, n_out, n_pairs, n_used, n_expert, weight_offset, row_bytes, expert_bytes,
      x_per_pair, x_offset, x_stride, has_bias, bias_offset, bias_stride, y_offset, y_stride;
};
struct MoeCombineConstants {
  uint32_t width, n_used, experts_offset, has_shared, shared_offset, shared_stride, has_gate,
      gate_offset, x_offset, x_stride, out_offset, out_stride;
};
constexpr uint32_t kMaxExperts = 256;     // moe_route.comp's expert bits
constexpr uint32_t kMaxExpertsUsed = 16;  // moe_route.comp's kMaxUsed
constexpr uint32_t kMatmulIdRows = 4;     // matmul_id.comp's kRows

// Rows of matmul's workgroups and tokens (matmul.comp's kRows, kTokens); threads of the
// element-wise shaders.
constexpr uint32_t kMatmulRows = 2;
constexpr uint32_t kMatmulTokens = 4;
constexpr uint32_t kMatmulWideTokens = 16;  // the matmul16 variants, for batches this large
constexpr uint32_t kElementwiseWorkgroup = 64;
constexpr uint32_t kChunk = 32;                 // values dequantize_chunk decodes at once
constexpr uint32_t kMaxGroups = 65535;          // per dimension, the least Vulkan guarantees
constexpr uint32_t kMaxAttentionHeadDim = 512;  // attention.comp's MAX_HEAD_DIM

uint32_t div_up(uint64_t n, uint64_t d) {
  return static_cast<uint32_t>((n + d - 1) / d);
}

std::string variant_name(std::string_view kernel, TensorType type) {
  std::string name(kernel);
  name += '_';
  for (char c : type_name(type)) name += static_cast<char>(std::tolower(c));
  return name;
}

// The 8-bit activation blocks the CPU backend pairs with a weight type (its
// kernels::activation_type), as quantize_activations.comp's variant, and their length; no
// variant for the types multiplied in float.
struct ActivationBlocks {
  std::string_view variant;
  uint32_t block = 0;
};

ActivationBlocks activation_blocks(TensorType type) {
  switch (type) {
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::MXFP4:
      return {"quantize_q8_0", 32};
    case TensorType::Q4_1:
    case TensorType::Q5_1:
      return {"quantize_q8_1", 32};
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
      return {"quantize_q8_k", 256};
    default:
      return {};
  }
}

// A view must lie inside its buffer: the GPU would read or write past it silently.
void check_view(const FloatView& v, const char* what) {
  BOTTEGA_CHECK(v.buffer != nullptr && v.width > 0 && v.rows > 0, what, ": empty view");
  BOTTEGA_CHECK(v.rows <= kMaxGroups, what, ": ", v.rows, " rows; one dispatch takes ", kMaxGroups);
  BOTTEGA_CHECK(v.rows == 1 || v.stride >= v.width, what, ": stride ", v.stride, " < width ",
                v.width);
  const uint64_t end =
      (static_cast<uint64_t>(v.offset) + static_cast<uint64_t>(v.rows - 1) * v.stride + v.width) *
      sizeof(float);
  BOTTEGA_CHECK(end <= v.buffer->bytes(), what, ": view ends at byte ", end, " of a buffer of ",
                v.buffer->bytes());
}

// The cache type codes of kv_rows.glsl.
uint32_t kv_type_code(TensorType type) {
  switch (type) {
    case TensorType::F32:
      return 0;
    case TensorType::F16:
      return 1;
    case TensorType::Q8_0:
      return 2;
    case TensorType::Q4_0:
      return 3;
    default:
      throw Error(str("the Vulkan kernels cannot store a KV cache of type ", type_name(type)));
  }
}

void check_kv_rows(const KvRowsView& v, const char* what) {
  BOTTEGA_CHECK(v.buffer != nullptr && v.width > 0 && v.n_rows > 0, what, ": empty cache");
  BOTTEGA_CHECK(v.row_bytes == row_bytes(v.type, v.width), what, ": rows of ", v.row_bytes,
                " bytes for ", v.width, " values");
  // F16 rows of an odd width would share words between rows in ways kv_rows.glsl's reads do not
  // expect (a half at byte 2 mod 4 of an odd row start); the quantized types come in blocks of 32.
  BOTTEGA_CHECK(v.type != TensorType::F16 || v.width % 2 == 0, what, ": F16 rows of odd width ",
                v.width);
  BOTTEGA_CHECK(
      weight_buffer_bytes(static_cast<uint64_t>(v.row_bytes) * v.n_rows) <= v.buffer->bytes(), what,
      ": ", v.n_rows, " rows past the buffer");
}

// Byte offsets into a weight buffer travel as 32-bit words.
uint32_t weight_offset(const WeightView& w) {
  BOTTEGA_CHECK(w.buffer != nullptr && w.n_in > 0 && w.n_out > 0, "empty weight view");
  const uint64_t end = w.offset + row_bytes(w.type, w.n_in) * static_cast<uint64_t>(w.n_out);
  BOTTEGA_CHECK(weight_buffer_bytes(end) <= w.buffer->bytes(), "weights end at byte ", end,
                " of a buffer of ", w.buffer->bytes(), " (whole words needed)");
  if (end > UINT32_MAX) {
    throw Error(str("a weight matrix of ", end >> 20,
                    " MiB lies past the 4 GiB the Vulkan kernels address; run on the CPU"));
  }
  BOTTEGA_CHECK(Kernels::supports(w.type), "Vulkan kernels do not read ", type_name(w.type));
  return static_cast<uint32_t>(w.offset);
}

// Row groups past the per-dimension limit continue in z (matmul.comp reads gl_NumWorkGroups.x).
WorkgroupCount spread(uint32_t groups, uint32_t y) {
  const uint32_t x = std::min(groups, kMaxGroups);
  return {x, y, div_up(groups, x)};
}

}  // namespace

Kernels::Kernels(const Context& context, const KernelOptions& options)
    : context_(context),
      integer_dot_(options.integer_dot && context.info().integer_dot_product),
      placeholder_(context.allocate(16)) {}

Kernels::~Kernels() = default;

bool Kernels::supports(TensorType type) {
  switch (type) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
    case TensorType::MXFP4:
      return true;
    default:
      return false;
  }
}

const Pipeline& Kernels::pipeline(std::string_view name, uint32_t buffer_count,
                                  uint32_t push_constant_bytes) {
  auto found = pipelines_.find(name);
  if (found != pipelines_.end()) return *found->second;
  const std::span<const uint32_t> spirv = shader_spirv(name);
  BOTTEGA_CHECK(!spirv.empty(), "no shader named ", name);
  auto created = std::make_unique<Pipeline>(context_, spirv, buffer_count, push_constant_bytes);
  return *pipelines_.emplace(std::string(name), std::move(created)).first->second;
}

void Kernels::matmul(CommandList& commands, const WeightView& w, FloatView x, FloatView y) {
  check_view(x, "matmul input");
  check_view(y, "matmul output");
  BOTTEGA_CHECK(x.width == w.n_in && y.width == w.n_out && x.rows == y.rows, "matmul of [", x.rows,
                ", ", x.width, "] by [", w.n_out, ", ", w.n_in, "] into [", y.rows, ", ", y.width,
                "]");
  const MatmulConstants constants{static_cast<uint32_t>(w.n_in),
                                  static_cast<uint32_t>(w.n_out),
                                  x.rows,
                                  weight_offset(w),
                                  static_cast<uint32_t>(row_bytes(w.type, w.n_in)),
                                  x.offset,
                                  x.stride,
                                  y.offset,
                                  y.stride};
  if (integer_dot(w.type)) {
    matmul_integer_dot(commands, w, x, y);
    return;
  }
  const bool wide = x.rows >= kMatmulWideTokens;
  const uint32_t tokens = wide ? kMatmulWideTokens : kMatmulTokens;
  const Pipeline& p =
      pipeline(variant_name(wide ? "matmul16" : "matmul", w.type), 3, sizeof constants);
  commands.dispatch(p, {w.buffer, x.buffer, y.buffer}, constants,
                    spread(div_up(w.n_out, kMatmulRows), div_up(x.rows, tokens)));
  commands.barrier();
}

bool Kernels::integer_dot(TensorType type) const {
  return integer_dot_ && !activation_blocks(type).variant.empty();
}

// x is rounded into the command list's scratch buffer: per token and 32-value chunk 8 words of
// signed bytes, then per chunk the pair (d, s) (matmul_dot.comp).
void Kernels::matmul_integer_dot(CommandList& commands, const WeightView& w, FloatView x,
                                 FloatView y) {
  const ActivationBlocks blocks = activation_blocks(w.type);
  BOTTEGA_CHECK(w.n_in % blocks.block == 0, "matmul of ", type_name(w.type), " rows of ", w.n_in,
                " values, not whole blocks of ", blocks.block);
  const uint64_t chunks = static_cast<uint64_t>(x.rows) * static_cast<uint64_t>(w.n_in / kChunk);
  const uint64_t words = chunks * (8 + 2);
  if (words > UINT32_MAX) {
    throw Error(str("a batch of ", x.rows, " tokens of ", w.n_in,
                    " values is more than the Vulkan kernels address at once; use a smaller "
                    "batch (-b)"));
  }
  const Buffer& scratch = commands.scratch(words * sizeof(uint32_t));
  const auto scales_offset = static_cast<uint32_t>(chunks * 8);

  const QuantizeActivationsConstants quantize{static_cast<uint32_t>(w.n_in), x.offset, x.stride,
                                              scales_offset};
  commands.dispatch(pipeline(blocks.variant, 2, sizeof quantize), {x.buffer, &scratch}, quantize,
                    {div_up(w.n_in / blocks.block, kElementwiseWorkgroup), x.rows, 1});
  commands.barrier();

  const MatmulDotConstants constants{static_cast<uint32_t>(w.n_in),
                                     static_cast<uint32_t>(w.n_out),
                                     x.rows,
                                     weight_offset(w),
                                     static_cast<uint32_t>(row_bytes(w.type, w.n_in)),
                                     scales_offset,
                                     y.offset,
                                     y.stride};
  const bool wide = x.rows >= kMatmulWideTokens;
  const uint32_t tokens = wide ? kMatmulWideTokens : kMatmulTokens;
  const Pipeline& p =
      pipeline(variant_name(wide ? "matmul_dot16" : "matmul_dot", w.type), 3, sizeof constants);
  commands.dispatch(p, {w.buffer, &scratch, y.buffer}, constants,
                    spread(div_up(w.n_out, kMatmulRows), div_up(x.rows, tokens)));
  commands.barrier();
}

void Kernels::get_rows(CommandList& commands, const WeightView& table, const Buffer& ids,
                       uint32_t ids_offset, FloatView out, float scale) {
  check_view(out, "get_rows output");
  BOTTEGA_CHECK(out.width == table.n_in, "get_rows of width ", table.n_in, " into ", out.width);
  BOTTEGA_CHECK((ids_offset + out.rows) * sizeof(int32_t) <= ids.bytes(), "get_rows: ", out.rows,
                " ids past the ids buffer");
  const GetRowsConstants constants{static_cast<uint32_t>(table.n_in),
                                   static_cast<uint32_t>(table.n_out),
                                   weight_offset(table),
                                   static_cast<uint32_t>(row_bytes(table.type, table.n_in)),
                                   ids_offset,
                                   out.offset,
                                   out.stride,
                                   scale};
  const Pipeline& p = pipeline(variant_name("get_rows", table.type), 3, sizeof constants);
  commands.dispatch(p, {table.buffer, &ids, out.buffer}, constants,
                    {div_up(div_up(table.n_in, kChunk), kElementwiseWorkgroup), out.rows, 1});
  commands.barrier();
}

void Kernels::rms_norm(CommandList& commands, FloatView x, FloatView weight, FloatView out,
                       float eps) {
  check_view(x, "rms_norm input");
  check_view(weight, "rms_norm weight");
  check_view(out, "rms_norm output");
  BOTTEGA_CHECK(weight.width == x.width && out.width == x.width && out.rows == x.rows,
                "rms_norm shapes");
  const RmsNormConstants constants{x.width,    x.offset,   x.stride, weight.offset,
                                   out.offset, out.stride, eps};
  const Pipeline& p = pipeline("rms_norm", 3, sizeof constants);
  commands.dispatch(p, {x.buffer, weight.buffer, out.buffer}, constants, {x.rows, 1, 1});
  commands.barrier();
}

void Kernels::add(CommandList& commands, FloatView y, FloatView x) {
  check_view(y, "add target");
  check_view(x, "add addend");
  BOTTEGA_CHECK(x.width == y.width && (x.rows == y.rows || x.rows == 1), "add of [", x.rows, ", ",
                x.width, "] to [", y.rows, ", ", y.width, "]");
  const AddConstants constants{y.width, y.offset, y.stride, x.offset, x.rows == 1 ? 0u : x.stride};
  const Pipeline& p = pipeline("add", 2, sizeof constants);
  commands.dispatch(p, {y.buffer, x.buffer}, constants,
                    {div_up(y.width, kElementwiseWorkgroup), y.rows, 1});
  commands.barrier();
}

void Kernels::glu(CommandList& commands, const GluSettings& settings, FloatView gate, FloatView up,
                  FloatView out) {
  check_view(gate, "glu gate");
  check_view(up, "glu up");
  check_view(out, "glu output");
  BOTTEGA_CHECK(up.width == gate.width && out.width == gate.width && up.rows == gate.rows &&
                    out.rows == gate.rows,
                "glu shapes");
  const GluConstants constants{
      gate.width,     gate.offset,   gate.stride, up.offset,
      up.stride,      out.offset,    out.stride,  static_cast<uint32_t>(settings.kind),
      settings.alpha, settings.limit};
  const Pipeline& p = pipeline("glu", 3, sizeof constants);
  commands.dispatch(p, {gate.buffer, up.buffer, out.buffer}, constants,
                    {div_up(gate.width, kElementwiseWorkgroup), gate.rows, 1});
  commands.barrier();
}

void Kernels::softcap(CommandList& commands, FloatView x, float cap) {
  check_view(x, "softcap values");
  BOTTEGA_CHECK(cap > 0.0f, "softcap of ", cap);
  const SoftcapConstants constants{x.width, x.offset, x.stride, cap};
  const Pipeline& p = pipeline("softcap", 1, sizeof constants);
  commands.dispatch(p, {x.buffer}, constants, {div_up(x.width, kElementwiseWorkgroup), x.rows, 1});
  commands.barrier();
}

void Kernels::rope(CommandList& commands, FloatView x, const Buffer& positions,
                   uint32_t positions_offset, const RopeSettings& settings) {
  check_view(x, "rope values");
  BOTTEGA_CHECK(settings.n_rot > 0 && settings.n_rot % 2 == 0 &&
                    settings.n_rot <= settings.head_dim &&
                    static_cast<int64_t>(settings.n_head) * settings.head_dim <= x.width,
                "rope of ", settings.n_head, " heads of ", settings.head_dim, " (", settings.n_rot,
                " rotated) over rows of ", x.width);
  BOTTEGA_CHECK((positions_offset + x.rows) * sizeof(int32_t) <= positions.bytes(),
                "rope: positions past the positions buffer");
  const bool has_factors = settings.freq_factors.buffer != nullptr;
  if (has_factors) {
    check_view(settings.freq_factors, "rope frequency factors");
    BOTTEGA_CHECK(settings.freq_factors.width == static_cast<uint32_t>(settings.n_rot / 2),
                  "rope: ", settings.freq_factors.width, " frequency factors for ",
                  settings.n_rot / 2, " pairs");
  }
  const RopeConstants constants{static_cast<uint32_t>(settings.n_head),
                                static_cast<uint32_t>(settings.head_dim),
                                static_cast<uint32_t>(settings.n_rot),
                                settings.neox ? 1u : 0u,
                                has_factors ? 1u : 0u,
                                settings.yarn ? 1u : 0u,
                                settings.freq_base,
                                settings.freq_scale,
                                settings.attn_factor,
                                settings.yarn_low,
                                settings.yarn_high,
                                x.offset,
                                x.stride,
                                positions_offset,
                                has_factors ? settings.freq_factors.offset : 0u};
  const Buffer* factors = has_factors ? settings.freq_factors.buffer : placeholder_.get();
  const Pipeline& p = pipeline("rope", 3, sizeof constants);
  commands.dispatch(p, {x.buffer, &positions, factors}, constants,
                    {div_up(settings.n_rot / 2, kElementwiseWorkgroup), x.rows, 1});
  commands.barrier();
}

void Kernels::moe_route(CommandList& commands, FloatView logits, uint32_t n_used, bool over_all,
                        const Buffer& ids, FloatView weights) {
  check_view(logits, "router logits");
  check_view(weights, "expert weights");
  BOTTEGA_CHECK(logits.width <= kMaxExperts && n_used >= 1 && n_used <= kMaxExpertsUsed &&
                    n_used <= logits.width,
                "routing ", n_used, " of ", logits.width, " experts (the shader takes up to ",
                kMaxExpertsUsed, " of ", kMaxExperts, ")");
  BOTTEGA_CHECK(weights.rows == logits.rows && weights.width == n_used && weights.stride == n_used,
                "expert weights of [", weights.rows, ", ", weights.width, "]");
  BOTTEGA_CHECK(static_cast<uint64_t>(logits.rows) * n_used * sizeof(int32_t) <= ids.bytes(),
                "routing: expert ids past their buffer");
  BOTTEGA_CHECK(weights.offset == 0, "routing writes weights from the buffer's start");
  const MoeRouteConstants constants{logits.rows,        logits.width,  n_used,
                                    over_all ? 1u : 0u, logits.offset, logits.stride};
  const Pipeline& p = pipeline("moe_route", 3, sizeof constants);
  commands.dispatch(p, {logits.buffer, &ids, weights.buffer}, constants,
                    {div_up(logits.rows, kElementwiseWorkgroup), 1, 1});
  commands.barrier();
}

void Kernels::matmul_id(CommandList& commands, const WeightView& experts, uint32_t n_expert,
                        const Buffer& ids, uint32_t n_used, FloatView x, bool x_per_pair,
                        FloatView bias, FloatView y) {
  check_view(x, "expert input");
  check_view(y, "expert output");
  BOTTEGA_CHECK(n_expert > 0 && n_used > 0 && experts.n_out % n_expert == 0 &&
                    experts.n_out / n_expert == y.width && x.width == experts.n_in &&
                    y.rows % n_used == 0 && x.rows == (x_per_pair ? y.rows : y.rows / n_used),
                "expert products of [", x.rows, ", ", x.width, "] by ", n_expert, " x [",
                experts.n_out / std::max<uint32_t>(n_expert, 1), ", ", experts.n_in, "] into [",
                y.rows, ", ", y.width, "]");
  BOTTEGA_CHECK(static_cast<uint64_t>(y.rows) * sizeof(int32_t) <= ids.bytes(),
                "expert products: ids past their buffer");
  const bool has_bias = bias.buffer != nullptr;
  if (has_bias) {
    check_view(bias, "expert biases");
    BOTTEGA_CHECK(bias.rows == n_expert && bias.width == y.width, "expert biases of [", bias.rows,
                  ", ", bias.width, "]");
  }
  const uint64_t row_size = row_bytes(experts.type, experts.n_in);
  const MatmulIdConstants constants{static_cast<uint32_t>(experts.n_in),
                                    y.width,
                                    y.rows,
                                    n_used,
                                    n_expert,
                                    weight_offset(experts),
                                    static_cast<uint32_t>(row_size),
                                    static_cast<uint32_t>(row_size * y.width),
                                    x_per_pair ? 1u : 0u,
                                    x.offset,
                                    x.stride,
                                    has_bias ? 1u : 0u,
                                    has_bias ? bias.offset : 0u,
                                    has_bias ? bias.stride : 0u,
                                    y.offset,
                                    y.stride};
  const Buffer* bias_buffer = has_bias ? bias.buffer : placeholder_.get();
  const Pipeline& p = pipeline(variant_name("matmul_id", experts.type), 5, sizeof constants);
  commands.dispatch(p, {experts.buffer, x.buffer, &ids, bias_buffer, y.buffer}, constants,
                    spread(div_up(y.width, kMatmulIdRows), y.rows));
  commands.barrier();
}

void Kernels::read_all(CommandList& commands, const Buffer& source, const Buffer& sums) {
  constexpr uint64_t kVectorsPerGroup = (uint64_t{1} << 20) / 16;
  const uint64_t vectors = source.bytes() / 16;
  const uint32_t groups = div_up(vectors, kVectorsPerGroup);
  BOTTEGA_CHECK(vectors > 0 && vectors <= UINT32_MAX && groups <= kMaxGroups &&
                    groups * sizeof(uint32_t) <= sums.bytes(),
                "read_all of ", source.bytes(), " bytes");
  const struct {
    uint32_t vectors, per_group;
  } constants{static_cast<uint32_t>(vectors), static_cast<uint32_t>(kVectorsPerGroup)};
  const Pipeline& p = pipeline("read_bandwidth", 2, sizeof constants);
  commands.dispatch(p, {&source, &sums}, constants, {groups, 1, 1});
  commands.barrier();
}

void Kernels::moe_combine(CommandList& commands, FloatView experts, FloatView weights,
                          FloatView shared, FloatView gate, FloatView x, FloatView out) {
  check_view(experts, "expert outputs");
  check_view(weights, "expert weights");
  check_view(x, "mixture input");
  check_view(out, "mixture output");
  const uint32_t n_used = weights.width;
  BOTTEGA_CHECK(experts.stride == experts.width && experts.width == out.width &&
                    experts.rows == out.rows * n_used && weights.rows == out.rows &&
                    weights.stride == n_used && x.rows == out.rows,
                "combining [", experts.rows, ", ", experts.width, "] into [", out.rows, ", ",
                out.width, "]");
  const bool has_shared = shared.buffer != nullptr;
  const bool has_gate = gate.buffer != nullptr;
  if (has_shared) {
    check_view(shared, "shared expert output");
    BOTTEGA_CHECK(shared.rows == out.rows && shared.width == out.width, "shared expert shape");
  }
  if (has_gate) {
    check_view(gate, "shared expert gate");
    BOTTEGA_CHECK(has_shared && gate.width == x.width && x.width == out.width,
                  "shared expert gate of ", gate.width);
  }
  const MoeCombineConstants constants{out.width,
                                      n_used,
                                      experts.offset,
                                      has_shared ? 1u : 0u,
                                      has_shared ? shared.offset : 0u,
                                      has_shared ? shared.stride : 0u,
                                      has_gate ? 1u : 0u,
                                      has_gate ? gate.offset : 0u,
                                      x.offset,
                                      x.stride,
                                      out.offset,
                                      out.stride};
  const Pipeline& p = pipeline("moe_combine", 6, sizeof constants);
  commands.dispatch(
      p,
      {experts.buffer, weights.buffer, has_shared ? shared.buffer : placeholder_.get(),
       has_gate ? gate.buffer : placeholder_.get(), x.buffer, out.buffer},
      constants, {out.rows, 1, 1});
  commands.barrier();
}

void Kernels::kv_store(CommandList& commands, FloatView src, const KvRowsView& cache,
                       const Buffer& rows, uint32_t rows_offset) {
  check_view(src, "kv_store source");
  check_kv_rows(cache, "kv_store");
  BOTTEGA_CHECK(src.width == cache.width, "kv_store of width ", src.width, " into rows of ",
                cache.width);
  BOTTEGA_CHECK((rows_offset + src.rows) * sizeof(int32_t) <= rows.bytes(),
                "kv_store: row indices past their buffer");
  const KvStoreConstants constants{cache.width, cache.row_bytes, kv_type_code(cache.type),
                                   src.offset,  src.stride,      rows_offset};
  const Pipeline& p = pipeline("kv_store", 3, sizeof constants);
  commands.dispatch(p, {src.buffer, cache.buffer, &rows}, constants,
                    {div_up(div_up(cache.width, kChunk), kElementwiseWorkgroup), src.rows, 1});
  commands.barrier();
}

void Kernels::attention(CommandList& commands, const AttentionSettings& settings, FloatView q,
                        const KvRowsView& keys, const KvRowsView& values, const Buffer& meta,
                        uint32_t meta_offset, FloatView out) {
  check_view(q, "attention queries");
  check_view(out, "attention output");
  check_kv_rows(keys, "attention keys");
  check_kv_rows(values, "attention values");
  const uint32_t q_width = settings.n_head * settings.head_dim;
  BOTTEGA_CHECK(settings.n_head_kv > 0 && settings.n_head % settings.n_head_kv == 0 &&
                    settings.head_dim > 0 && settings.head_dim <= kMaxAttentionHeadDim &&
                    q.width == q_width && out.width == q_width && out.rows == q.rows &&
                    keys.width == settings.n_head_kv * settings.head_dim &&
                    values.width == keys.width && settings.block_size > 0,
                "attention of ", settings.n_head, " heads (", settings.n_head_kv, " KV) of ",
                settings.head_dim, " over rows of ", q.width, " and a cache of ", keys.width);
  BOTTEGA_CHECK((meta_offset + 2 * q.rows) * sizeof(int32_t) <= meta.bytes(),
                "attention: token positions past their buffer");
  const bool has_sinks = settings.sinks.buffer != nullptr;
  if (has_sinks) {
    check_view(settings.sinks, "attention sinks");
    BOTTEGA_CHECK(settings.sinks.width == settings.n_head, "attention: ", settings.sinks.width,
                  " sinks for ", settings.n_head, " heads");
  }
  const AttentionConstants constants{settings.n_head,
                                     settings.n_head_kv,
                                     settings.head_dim,
                                     kv_type_code(keys.type),
                                     kv_type_code(values.type),
                                     keys.row_bytes,
                                     values.row_bytes,
                                     settings.block_size,
                                     settings.window,
                                     has_sinks ? 1u : 0u,
                                     settings.scale,
                                     settings.softcap,
                                     q.offset,
                                     q.stride,
                                     out.offset,
                                     out.stride,
                                     meta_offset,
                                     has_sinks ? settings.sinks.offset : 0u};
  const Buffer* sinks = has_sinks ? settings.sinks.buffer : placeholder_.get();
  const Pipeline& p = pipeline("attention", 6, sizeof constants);
  commands.dispatch(p, {q.buffer, keys.buffer, values.buffer, &meta, out.buffer, sinks}, constants,
                    {settings.n_head, q.rows, 1});
  commands.barrier();
}

}  // namespace bottega::vulkan
