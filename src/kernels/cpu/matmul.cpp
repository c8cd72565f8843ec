// matmul: activations are quantized once per call to the weight type's activation type, then
// every output is a dot product of a stored weight row with an activation row (vec_dot.h), run
// through the ISA's tile kernel where it has one, or, for interleaved matrices, the ISA's
// interleaved kernel (repack.h).
#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "kernels/cpu/repack.h"
#include "kernels/cpu/vec_dot_impl.h"
#include "tensor/blocks.h"

namespace bottega::kernels {

void dequantize_row(const WeightMatrix& w, int64_t r, float* out) {
  const TypeTraits& traits = type_traits(w.type);
  BOTTEGA_CHECK(traits.dequantize != nullptr, "no dequantize for ", traits.name);
  if (!w.interleaved) {
    traits.dequantize(w.row(r), out, w.n_in);
    return;
  }
  std::vector<uint8_t> row(w.row_stride());
  extract_row(w.type, w.n_in, w.data, r, row.data());
  traits.dequantize(row.data(), out, w.n_in);
}

namespace {

const IsaInterleavedKernel* interleaved_entry(TensorType type, Isa isa) {
  for (const IsaInterleavedKernel& k : simd_interleaved_kernels(isa)) {
    if (k.weight == type) return &k;
  }
  return nullptr;
}

PackingTileFn packing_kernel(TensorType type, Isa isa) {
  for (const IsaPackingKernel& k : simd_packing_kernels(isa)) {
    if (k.weight == type) return k.tile;
  }
  return nullptr;
}

// Packing 16 rows costs about what two tokens' dot products with them cost; below this many
// tokens the stored-layout tiles are faster.
constexpr int64_t kMinPackingTokens = 3;
// Interleaving rows on the fly (plain stores, no SIMD) costs a few tokens' dot products.
constexpr int64_t kMinRepackingTokens = 3;
// Row groups interleaved at a time: a chunk (about 76 KB of 2048-wide Q4_K) stays in L2 while
// every token passes over it.
constexpr int64_t kRepackGroups = 8;

// Prompt tiling: each thread owns a contiguous range of row blocks and walks it once per block
// of tokens. 64 activation rows of a 4096-wide Q8_0 matrix are 278 KB, so a token block stays in
// L2 while the thread's weight rows stream past it; the tile kernel keeps a few rows' widened
// blocks in registers for a few tokens at a time.
constexpr int64_t kRowBlock = 16;
constexpr int64_t kTokenBlock = 64;
// Float activations are 4 bytes a value: fewer tokens per block keep it in L2. CPUs with AVX-512
// have 1 MB of L2 or more (Skylake-SP, Ice Lake, Zen 4 and 5), AVX2 ones often 512 KB; on Zen 5,
// 64 F16 tokens (512 KB) instead of 24 read the weights 2.7 times less often: pp512 +10%.
size_t token_block_bytes(Isa isa) {
  return isa == Isa::kAvx512 ? 512 * 1024 : 192 * 1024;
}
// L1 caches index sets by address bits below 4 KB.
constexpr size_t kAliasingStride = 4096;

// y[c * y_stride + r] = dot(weight row r, activation row c) for r < n_rows, c < n_cols.
void run_tile(const DotKernel& k, int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows,
              const uint8_t* a, size_t a_stride, int64_t n_cols, float* y, int64_t y_stride) {
  if (k.tile != nullptr) {
    k.tile(n, w, w_stride, n_rows, a, a_stride, n_cols, y, y_stride);
    return;
  }
  for (int64_t c = 0; c < n_cols; ++c) {
    for (int64_t r = 0; r < n_rows; ++r) {
      y[c * y_stride + r] = k.dot(n, w + r * w_stride, a + c * a_stride);
    }
  }
}

// Tokens whose activation rows stay in L2 (about 160 KB) while a thread's weight groups stream
// past them. Float activations (F16's and BF16's kernels) take 4 bytes a value (2 narrowed to
// BF16): their budget keeps the 6- and 14-token tiles of AVX2 and AVX-512 full for the wide rows
// of FFN down (5632 values: 8 tokens ran at 26 GMAC/s on AVX2, 23 at 38; narrowed rows, 2048 x 5632
// on one Zen 5 core: 97 GMAC/s with 64 tokens a block, 105 with 128).
int64_t interleaved_token_block(const DotKernel& k, size_t act_row_bytes) {
  if (k.float_rows()) {
    return std::clamp<int64_t>(static_cast<int64_t>(512 * 1024 / act_row_bytes), 4, kTokenBlock);
  }
  return std::max<int64_t>(4, static_cast<int64_t>(160 * 1024 / act_row_bytes) / 4 * 4);
}

// Activation blocks widened for the interleaved kernels (repack.h): scales as float, and the
// per-block sum term precomputed.
ActivationQ8 widen(const BlockQ8_0& block) {
  ActivationQ8 out;
  out.d = f16_to_f32(block.d);
  int32_t sum = 0;
  for (int i = 0; i < 32; ++i) sum += block.qs[i];
  out.offset8 = 8.0f * out.d * static_cast<float>(sum);
  std::memcpy(out.qs, block.qs, sizeof(out.qs));
  return out;
}

ActivationQ8Unsigned widen_unsigned(const BlockQ8_0& block) {
  ActivationQ8Unsigned out;
  out.d = f16_to_f32(block.d);
  for (int i = 0; i < 32; ++i) out.qs[i] = static_cast<uint8_t>(block.qs[i]) ^ 0x80u;
  return out;
}

ActivationQ8_1 widen(const BlockQ8_1& block) {
  ActivationQ8_1 out;
  out.d = f16_to_f32(block.d);
  out.s = f16_to_f32(block.s);
  std::memcpy(out.qs, block.qs, sizeof(out.qs));
  return out;
}

// n_tokens activation rows of nb blocks widened; the result holds Wide blocks, row after row.
template <class Block, class Wide>
std::vector<uint8_t> widen_rows(const uint8_t* act, size_t act_stride, int64_t nb,
                                int64_t n_tokens) {
  std::vector<uint8_t> wide(static_cast<size_t>(nb * n_tokens) * sizeof(Wide));
  auto* out = reinterpret_cast<Wide*>(wide.data());
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* blocks = reinterpret_cast<const Block*>(act + static_cast<size_t>(t) * act_stride);
    for (int64_t b = 0; b < nb; ++b) out[t * nb + b] = widen(blocks[b]);
  }
  return wide;
}

// The activation rows in the blocks the interleaved kernel reads (repack.h), where they differ
// from the quantizer's; act and act_stride are moved to them.
std::vector<uint8_t> widen_for_interleaved(const WeightMatrix& w, const DotKernel& k,
                                           const uint8_t*& act, size_t& act_stride,
                                           int64_t n_tokens) {
  std::vector<uint8_t> wide;
  const int64_t nb = w.n_in / 32;
  if (k.activation == TensorType::Q8_0) {
    wide = widen_rows<BlockQ8_0, ActivationQ8>(act, act_stride, nb, n_tokens);
  } else if (k.activation == TensorType::Q8_1) {
    wide = widen_rows<BlockQ8_1, ActivationQ8_1>(act, act_stride, nb, n_tokens);
  }
  if (!wide.empty()) {
    act_stride = wide.size() / static_cast<size_t>(n_tokens);
    act = wide.data();
  }
  return wide;
}

// Each thread runs the ISA's kernel on a contiguous share of w's row groups, over act in the
// kernel's activation layout.
void run_interleaved(const WeightMatrix& w, const DotKernel& k, const IsaInterleavedKernel& entry,
                     const uint8_t* act, size_t act_stride, int64_t n_tokens, float* y,
                     ThreadPool& pool) {
  const size_t group_bytes = interleaved_group_bytes(w.type, w.n_in);
  const int64_t n_groups = w.n_out / kRowGroup;
  const int64_t token_block = interleaved_token_block(k, act_stride);
  const auto groups = [&](int64_t begin, int64_t end) {
    for (int64_t t0 = 0; t0 < n_tokens; t0 += token_block) {
      entry.tile(w.n_in, w.data + static_cast<size_t>(begin) * group_bytes, end - begin,
                 act + static_cast<size_t>(t0) * act_stride, act_stride,
                 std::min(token_block, n_tokens - t0), y + t0 * w.n_out + begin * kRowGroup,
                 w.n_out);
    }
  };
  // Decode reads each weight once: the shares stay single streams, and the balanced loop keeps a
  // thread that fell behind from holding the other up at the end.
  if (n_tokens == 1) {
    pool.parallel_for_balanced(n_groups, entry.decode_groups, groups);
  } else {
    pool.parallel_for(n_groups, groups);
  }
}

// The activation rows a kernel reads: x itself where the kernel reads floats as they are, else
// one row per token in the kernel's activation type (quantized), or floats spaced apart.
class ActivationRows {
 public:
  ActivationRows(const DotKernel& k, const float* x, int64_t n_in, int64_t n_tokens,
                 ThreadPool& pool)
      : x_(x), stride_(k.activation_row_bytes(n_in)) {
    if (k.float_rows() && n_tokens > 1 && stride_ % kAliasingStride == 0) {
      // Rows a multiple of 4 KB apart fall in the same L1 set; the float tiles read several
      // activation rows (and weight rows, 4 KB apart in 2048-wide F16 matrices) at once, and
      // more streams than the cache has ways evict each other. A row of padding spreads them.
      stride_ += 64;
    }
    if (k.quantize == nullptr && stride_ == k.activation_row_bytes(n_in)) return;
    rows_.resize(stride_ * static_cast<size_t>(n_tokens));
    const auto write_row = [&](int64_t t) {
      uint8_t* dst = rows_.data() + static_cast<size_t>(t) * stride_;
      if (k.quantize != nullptr) {
        k.quantize(x + t * n_in, dst, n_in);
      } else {
        std::memcpy(dst, x + t * n_in, static_cast<size_t>(n_in) * sizeof(float));
      }
    };
    if (n_tokens == 1) {
      write_row(0);
    } else {
      pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) write_row(t);
      });
    }
  }

  const uint8_t* data() const {
    return rows_.empty() ? reinterpret_cast<const uint8_t*>(x_) : rows_.data();
  }
  size_t stride() const { return stride_; }

 private:
  const float* x_;
  size_t stride_;
  std::vector<uint8_t> rows_;
};

// w interleaved: each thread runs the ISA's kernel on a contiguous share of the row groups; the
// reference path extracts rows and uses the reference dot, so BOTTEGA_ISA=ref and tests can check
// the layout itself.
void matmul_interleaved(const WeightMatrix& w, const DotKernel& k, const uint8_t* act,
                        size_t act_stride, int64_t n_tokens, float* y, ThreadPool& pool, Isa isa) {
  const IsaInterleavedKernel* entry = interleaved_entry(w.type, isa);
  if (entry == nullptr) {
    pool.parallel_for(w.n_out, [&](int64_t begin, int64_t end) {
      std::vector<uint8_t> row(w.row_stride());
      for (int64_t r = begin; r < end; ++r) {
        extract_row(w.type, w.n_in, w.data, r, row.data());
        for (int64_t t = 0; t < n_tokens; ++t) {
          y[t * w.n_out + r] = k.dot(w.n_in, row.data(), act + static_cast<size_t>(t) * act_stride);
        }
      }
    });
    return;
  }
  const std::vector<uint8_t> wide = widen_for_interleaved(w, k, act, act_stride, n_tokens);
  run_interleaved(w, k, *entry, act, act_stride, n_tokens, y, pool);
}

// Float activations rounded to BF16 and narrowed to 16 bits in one pass, into rows that are not
// zeroed first (every byte the kernel reads is written). Rows a multiple of 4 KB apart share an L1
// set and a prompt tile reads 14 of them at once: a cache line of padding spreads them (2048-wide
// rows ran at 78 GMAC/s without it, 97 with it).
std::unique_ptr<uint8_t[]> bf16_rows(Bf16RowFn round, const float* x, int64_t n_in,
                                     int64_t n_tokens, size_t& stride, ThreadPool& pool) {
  stride = static_cast<size_t>(n_in) * sizeof(uint16_t);
  if (n_tokens > 1 && stride % kAliasingStride == 0) stride += 64;
  auto rows = std::make_unique_for_overwrite<uint8_t[]>(stride * static_cast<size_t>(n_tokens));
  const auto narrow = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      round(x + t * n_in, reinterpret_cast<uint16_t*>(rows.get() + static_cast<size_t>(t) * stride),
            n_in);
    }
  };
  if (n_tokens == 1) {
    narrow(0, 1);
  } else {
    pool.parallel_for(n_tokens, narrow);
  }
  return rows;
}

// w stored (an expert in the file mapping), its type's interleaved kernel matching the row dot:
// each thread interleaves its share of row groups a chunk at a time into a buffer of its own and
// runs every token over the chunk, so the weights are read once and the stored matrix is left as
// it is.
void matmul_repacking(const WeightMatrix& w, const DotKernel& k, const IsaInterleavedKernel& kernel,
                      const uint8_t* act, size_t act_stride, int64_t n_tokens, float* y,
                      ThreadPool& pool) {
  const std::vector<uint8_t> wide = widen_for_interleaved(w, k, act, act_stride, n_tokens);
  const size_t group_bytes = interleaved_group_bytes(w.type, w.n_in);
  const int64_t n_groups = w.n_out / kRowGroup;
  const int64_t token_block = interleaved_token_block(k, act_stride);
  pool.parallel_for(n_groups, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> chunk(static_cast<size_t>(std::min(kRepackGroups, end - begin)) *
                               group_bytes);
    for (int64_t g0 = begin; g0 < end; g0 += kRepackGroups) {
      const int64_t groups = std::min(kRepackGroups, end - g0);
      interleave_rows(w.type, w.n_in, groups * kRowGroup, w.row(g0 * kRowGroup), chunk.data());
      for (int64_t t0 = 0; t0 < n_tokens; t0 += token_block) {
        kernel.tile(w.n_in, chunk.data(), groups, act + static_cast<size_t>(t0) * act_stride,
                    act_stride, std::min(token_block, n_tokens - t0),
                    y + t0 * w.n_out + g0 * kRowGroup, w.n_out);
      }
    }
  });
}

// w stored, with a packing kernel: pairs of 8-row groups are spread over the threads and packed
// once for all tokens; the rows past the last whole pair go through the stored-layout tile.
void matmul_packing(const WeightMatrix& w, const DotKernel& k, PackingTileFn tile,
                    const uint8_t* act, size_t act_stride, int64_t n_tokens, float* y,
                    ThreadPool& pool) {
  const int64_t nb = w.n_in / 32;
  std::vector<ActivationQ8Unsigned> wide(static_cast<size_t>(nb * n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* blocks =
        reinterpret_cast<const BlockQ8_0*>(act + static_cast<size_t>(t) * act_stride);
    for (int64_t b = 0; b < nb; ++b)
      wide[static_cast<size_t>(t * nb + b)] = widen_unsigned(blocks[b]);
  }
  const size_t wide_stride = static_cast<size_t>(nb) * sizeof(ActivationQ8Unsigned);
  const int64_t n_pairs = w.n_out / (2 * kRowGroup);
  const int64_t tail_begin = n_pairs * 2 * kRowGroup;
  const size_t w_stride = w.row_stride();
  pool.parallel_for(n_pairs + 1, [&](int64_t begin, int64_t end) {
    const int64_t pairs_end = std::min(end, n_pairs);
    if (begin < pairs_end) {
      tile(w.n_in, w.row(begin * 2 * kRowGroup), w_stride, pairs_end - begin,
           reinterpret_cast<const uint8_t*>(wide.data()), wide_stride, n_tokens,
           y + begin * 2 * kRowGroup, w.n_out);
    }
    if (end > n_pairs && tail_begin < w.n_out) {
      run_tile(k, w.n_in, w.row(tail_begin), w_stride, w.n_out - tail_begin, act, act_stride,
               n_tokens, y + tail_begin, w.n_out);
    }
  });
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  matmul(w, x, n_tokens, y, pool, best_isa());
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            Isa isa) {
  if (n_tokens <= 0 || w.n_out <= 0) return;
  const DotKernel k = dot_kernel(w.type, isa);
  const int64_t n_in = w.n_in;
  if (w.interleaved) {
    const IsaInterleavedKernel* entry = interleaved_entry(w.type, isa);
    if (entry != nullptr && entry->bf16_activations != nullptr) {
      size_t stride = 0;
      const auto rows = bf16_rows(entry->bf16_activations, x, n_in, n_tokens, stride, pool);
      run_interleaved(w, k, *entry, rows.get(), stride, n_tokens, y, pool);
      return;
    }
  }

  const ActivationRows activations(k, x, n_in, n_tokens, pool);
  const uint8_t* act = activations.data();
  const size_t act_stride = activations.stride();
  if (w.interleaved) {
    matmul_interleaved(w, k, act, act_stride, n_tokens, y, pool, isa);
    return;
  }

  if (n_tokens >= kMinRepackingTokens && can_interleave(w.type, w.n_in, w.n_out)) {
    const IsaInterleavedKernel* entry = interleaved_entry(w.type, isa);
    if (entry != nullptr && entry->row_dot_matches) {
      matmul_repacking(w, k, *entry, act, act_stride, n_tokens, y, pool);
      return;
    }
  }
  // The packing kernels gather 16 rows' bytes with 32-bit offsets.
  if (n_tokens >= kMinPackingTokens &&
      16 * w.row_stride() <= static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    if (const PackingTileFn tile = packing_kernel(w.type, isa); tile != nullptr) {
      matmul_packing(w, k, tile, act, act_stride, n_tokens, y, pool);
      return;
    }
  }

  const size_t w_stride = w.row_stride();
  if (n_tokens == 1) {
    // Decode reads every weight once: each thread streams a contiguous share of the matrix.
    pool.parallel_for_balanced(w.n_out, 1, [&](int64_t begin, int64_t end) {
      run_tile(k, n_in, w.row(begin), w_stride, end - begin, act, act_stride, 1, y + begin,
               w.n_out);
    });
    return;
  }
  const int64_t token_block = std::clamp<int64_t>(
      static_cast<int64_t>(token_block_bytes(isa) / act_stride), 4, kTokenBlock);
  const int64_t n_blocks = (w.n_out + kRowBlock - 1) / kRowBlock;
  pool.parallel_for(n_blocks, [&](int64_t block_begin, int64_t block_end) {
    const int64_t row_begin = block_begin * kRowBlock;
    const int64_t row_end = std::min(block_end * kRowBlock, w.n_out);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += token_block) {
      const int64_t cols = std::min(token_block, n_tokens - t0);
      for (int64_t r0 = row_begin; r0 < row_end; r0 += kRowBlock) {
        const int64_t rows = std::min(kRowBlock, row_end - r0);
        run_tile(k, n_in, w.row(r0), w_stride, rows, act + static_cast<size_t>(t0) * act_stride,
                 act_stride, cols, y + t0 * w.n_out + r0, w.n_out);
      }
    }
  });
}

namespace {

// Whether the products can run as one decode pass: one token, every matrix interleaved with the
// same type and width and an interleaved kernel that reads the quantized activations.
const IsaInterleavedKernel* shared_decode_entry(std::span<const SharedInputProduct> products,
                                                int64_t n_tokens, Isa isa) {
  if (n_tokens != 1 || products.size() < 2) return nullptr;
  const WeightMatrix& first = *products.front().w;
  for (const SharedInputProduct& p : products) {
    if (!p.w->interleaved || p.w->type != first.type || p.w->n_in != first.n_in) return nullptr;
  }
  const IsaInterleavedKernel* entry = interleaved_entry(first.type, isa);
  return entry != nullptr && entry->bf16_activations == nullptr ? entry : nullptr;
}

}  // namespace

void matmul_shared_input(std::span<const SharedInputProduct> products, const float* x,
                         int64_t n_tokens, ThreadPool& pool) {
  const Isa isa = best_isa();
  const IsaInterleavedKernel* entry = shared_decode_entry(products, n_tokens, isa);
  if (entry == nullptr) {
    for (const SharedInputProduct& p : products) matmul(*p.w, x, n_tokens, p.y, pool, isa);
    return;
  }
  const WeightMatrix& first = *products.front().w;
  const DotKernel k = dot_kernel(first.type, isa);
  const ActivationRows activations(k, x, first.n_in, 1, pool);
  const uint8_t* act = activations.data();
  size_t act_stride = activations.stride();
  const std::vector<uint8_t> wide = widen_for_interleaved(first, k, act, act_stride, 1);

  // Work units of decode_groups row groups, each inside one matrix: unit_start[i] is matrix i's
  // first.
  const int64_t grain = std::max<int64_t>(1, entry->decode_groups);
  std::vector<int64_t> unit_start(products.size() + 1, 0);
  for (size_t i = 0; i < products.size(); ++i) {
    const int64_t groups = products[i].w->n_out / kRowGroup;
    unit_start[i + 1] = unit_start[i] + (groups + grain - 1) / grain;
  }
  const size_t group_bytes = interleaved_group_bytes(first.type, first.n_in);
  pool.parallel_for_balanced(unit_start.back(), 1, [&](int64_t begin, int64_t end) {
    for (size_t i = 0; i < products.size() && begin < end; ++i) {
      if (begin >= unit_start[i + 1]) continue;
      const WeightMatrix& w = *products[i].w;
      const int64_t stop = std::min(end, unit_start[i + 1]);
      const int64_t g0 = (begin - unit_start[i]) * grain;
      const int64_t g1 = std::min(w.n_out / kRowGroup, (stop - unit_start[i]) * grain);
      entry->tile(w.n_in, w.data + static_cast<size_t>(g0) * group_bytes, g1 - g0, act, act_stride,
                  1, products[i].y + g0 * kRowGroup, w.n_out);
      begin = stop;
    }
  });
}

bool prefers_interleaved(const WeightMatrix& w) {
  return !w.interleaved && can_interleave(w.type, w.n_in, w.n_out) &&
         interleaved_entry(w.type, best_isa()) != nullptr;
}

size_t interleaved_bytes(const WeightMatrix& w) {
  return interleaved_group_bytes(w.type, w.n_in) * static_cast<size_t>(w.n_out / kRowGroup);
}

WeightMatrix interleave(const WeightMatrix& w, uint8_t* dst) {
  BOTTEGA_CHECK(!w.interleaved, "matrix is interleaved already");
  interleave_rows(w.type, w.n_in, w.n_out, w.data, dst);
  WeightMatrix out = w;
  out.data = dst;
  out.interleaved = true;
  return out;
}

bool bf16_dot_products() {
  const IsaInterleavedKernel* entry = interleaved_entry(TensorType::BF16, best_isa());
  return entry != nullptr && entry->bf16_activations != nullptr;
}

WeightMatrix interleave_as_bf16(const WeightMatrix& w, uint8_t* dst) {
  BOTTEGA_CHECK(w.type == TensorType::F16, "only F16 matrices are rounded to BF16");
  WeightMatrix out = interleave(w, dst);
  auto* values = reinterpret_cast<uint16_t*>(dst);
  const size_t n = interleaved_bytes(w) / sizeof(uint16_t);
  for (size_t i = 0; i < n; ++i) values[i] = f32_to_bf16(f16_to_f32(values[i]));
  out.type = TensorType::BF16;
  return out;
}

}  // namespace bottega::kernels
