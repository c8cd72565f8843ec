// Reference codecs for the K-quants: super-blocks of 256 values whose sub-block scales (and mins)
// are themselves quantized against one half-precision scale per super-block.
//
// Quantizing is two-level. First every sub-block gets the scale (and min) that minimise a
// weighted squared error over its values, searched rather than taken from the extremes: with 4 to
// 6 bits per value, letting the largest value fall slightly outside the grid often buys a finer
// step for all the others. Then the sub-block scales are rounded to 6 (Q4_K/Q5_K) or 8 (Q6_K) bits
// relative to the largest one, and the values are re-rounded against those stored scales, so the
// levels always match what dequantization will multiply them by. The search and its parameters
// are ggml's reference ones (no importance matrix), so files come out as llama.cpp writes them.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "tensor/blocks.h"
#include "tensor/quant_ref.h"

namespace bottega::quant_ref {
namespace {

int64_t superblock_count(int64_t n) {
  BOTTEGA_CHECK(n >= 0 && n % kQK_K == 0, n, " values is not a multiple of the super-block size ",
                kQK_K);
  return n / kQK_K;
}

// Round to nearest, ties to even (the default FP rounding, as ggml's nearest_int), limited to
// lo..hi. Clamping in float first keeps the conversion defined for NaN and huge v.
int nearest_level(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(std::nearbyint(v));
}

// ---- 6-bit scale/min packing of Q4_K and Q5_K (12 bytes for 8 scales + 8 mins) ----
//
// Bytes 0..3 hold scales 0..3 in their low 6 bits, bytes 4..7 mins 0..3. Scales and mins 4..7
// put their low 4 bits in bytes 8..11 (scale in the low nibble, min in the high one) and their
// top 2 bits in the spare top bits of bytes 0..3 (scales) and 4..7 (mins).

struct ScaleMin {
  int scale;
  int min;
};

ScaleMin unpack_scale_min(const uint8_t* packed, int j) {
  if (j < 4) return {packed[j] & 63, packed[j + 4] & 63};
  return {(packed[j + 4] & 0xf) | ((packed[j - 4] >> 6) << 4),
          (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4)};
}

void pack_scales_mins(const int* scales, const int* mins, uint8_t* packed) {
  for (int j = 0; j < 4; ++j) {
    packed[j] = static_cast<uint8_t>(scales[j] | ((scales[j + 4] >> 4) << 6));
    packed[j + 4] = static_cast<uint8_t>(mins[j] | ((mins[j + 4] >> 4) << 6));
    packed[j + 8] = static_cast<uint8_t>((scales[j + 4] & 0xf) | ((mins[j + 4] & 0xf) << 4));
  }
}

// ---- Sub-block search for the affine types (Q4_K, Q5_K): x ~ scale * l - min ----

struct AffineSearch {
  int nmax;     // levels 0..nmax
  float first;  // candidate grids have nmax + first + step * t intervals, t = 0..steps
  float step;
  int steps;
};

// Largest sub-block fit_affine handles (Q4_K/Q5_K use 32).
constexpr int kMaxSub = 32;

struct AffineFit {
  float scale;  // >= 0
  float min;    // >= 0: the format subtracts it
};

// Chooses levels l[i] in 0..nmax and (scale, min) minimising
//     sum_i w[i] * (scale * l[i] - min - x[i])^2.
//
// Work in terms of offset = -min (the value of level 0). The reference grid spreads [lo, hi]
// (lo = min(x, 0): the format cannot add a positive offset) over nmax intervals, every value
// within half a step. Each candidate then spreads [offset, hi], offset being the best fit so far,
// over a slightly different number of intervals, which fixes a level assignment l; for fixed l
// the best (scale, offset) is a weighted linear regression of x on l, solved in closed form from
// the 2x2 normal equations
//     [ S_w   S_l  ] [offset]   [ S_x  ]
//     [ S_l   S_ll ] [scale ] = [ S_lx ]      (S_* = weighted sums over the sub-block).
// An offset > 0 is not representable, so it is pinned to 0 and the scale refitted alone. A
// candidate replaces the best fit when its weighted error is smaller, and later candidates are
// anchored at its offset: the search refines around what it has found.
AffineFit fit_affine(const float* x, const float* w, int n, const AffineSearch& search,
                     uint8_t* levels) {
  BOTTEGA_CHECK(n <= kMaxSub, "sub-block of ", n);
  float lo = x[0];
  float hi = x[0];
  float sum_w = 0.0f;
  float sum_x = 0.0f;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  lo = std::min(lo, 0.0f);
  if (!(hi > lo)) {  // constant sub-block (or NaN): offset alone
    std::fill(levels, levels + n, uint8_t{0});
    return {0.0f, -lo};
  }

  // Levels of [anchor, hi] spread over `intervals` steps.
  auto assign = [&](float intervals, float anchor, uint8_t* l) {
    const float inverse = intervals / (hi - anchor);
    for (int i = 0; i < n; ++i) {
      l[i] = static_cast<uint8_t>(nearest_level(inverse * (x[i] - anchor), 0, search.nmax));
    }
  };
  auto weighted_error = [&](const uint8_t* l, float scale, float offset) {
    float error = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float diff = scale * static_cast<float>(l[i]) + offset - x[i];
      error += w[i] * (diff * diff);
    }
    return error;
  };

  // Float expressions here keep ggml's evaluation order, so that near-ties between candidates
  // resolve as in llama.cpp and the output is byte-identical to its reference quantizer.
  const float nmax = static_cast<float>(search.nmax);
  float best_scale = 1.0f / (nmax / (hi - lo));
  float best_offset = lo;
  assign(nmax, lo, levels);
  float best_error = weighted_error(levels, best_scale, best_offset);

  uint8_t candidate[kMaxSub];
  for (int t = 0; t <= search.steps; ++t) {
    if (!(hi > best_offset)) break;  // the fit collapsed onto hi: no grid left to spread
    assign(search.first + search.step * static_cast<float>(t) + nmax, best_offset, candidate);
    float sum_l = 0.0f;
    float sum_ll = 0.0f;
    float sum_lx = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float l = static_cast<float>(candidate[i]);
      sum_l += w[i] * l;
      sum_ll += w[i] * l * l;
      sum_lx += w[i] * l * x[i];
    }
    const float det = sum_w * sum_ll - sum_l * sum_l;
    if (!(det > 0.0f)) continue;  // all values on one level: nothing to fit
    float scale = (sum_w * sum_lx - sum_x * sum_l) / det;
    float offset = (sum_ll * sum_x - sum_l * sum_lx) / det;
    if (offset > 0.0f) {
      offset = 0.0f;
      scale = sum_lx / sum_ll;
    }
    const float error = weighted_error(candidate, scale, offset);
    if (error < best_error) {
      best_error = error;
      best_scale = scale;
      best_offset = offset;
      std::copy(candidate, candidate + n, levels);
    }
  }
  return {best_scale, -best_offset};
}

// Shared by Q4_K and Q5_K: sub-blocks of 32 with 6-bit scales and mins. Writes d, dmin and the
// packed scales, and the final levels (0..nmax) of all 256 values to `levels`.
void quantize_affine_superblock(const float* x, const AffineSearch& search, uint16_t* d_out,
                                uint16_t* dmin_out, uint8_t* packed_scales, uint8_t* levels) {
  constexpr int kSub = 32;
  constexpr int kSubBlocks = kQK_K / kSub;
  AffineFit fits[kSubBlocks];
  float max_scale = 0.0f;
  float max_min = 0.0f;
  for (int j = 0; j < kSubBlocks; ++j) {
    const float* xs = x + kSub * j;
    // Weight each value by its magnitude plus the sub-block's RMS: large weights dominate dot
    // products and deserve the smaller error, but small ones still count.
    float sum_sq = 0.0f;
    for (int i = 0; i < kSub; ++i) sum_sq += xs[i] * xs[i];
    const float rms = std::sqrt(sum_sq / kSub);
    float w[kSub];
    for (int i = 0; i < kSub; ++i) w[i] = rms + std::fabs(xs[i]);
    fits[j] = fit_affine(xs, w, kSub, search, levels + kSub * j);
    max_scale = std::max(max_scale, fits[j].scale);
    max_min = std::max(max_min, fits[j].min);
  }

  // Sub-block scales and mins become 6-bit multiples of d = max_scale/63 and dmin = max_min/63.
  const float inverse_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inverse_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  int scales[kSubBlocks];
  int mins[kSubBlocks];
  for (int j = 0; j < kSubBlocks; ++j) {
    scales[j] = nearest_level(inverse_scale * fits[j].scale, 0, 63);
    mins[j] = nearest_level(inverse_min * fits[j].min, 0, 63);
  }
  *d_out = f32_to_f16(max_scale / 63.0f);
  *dmin_out = f32_to_f16(max_min / 63.0f);
  pack_scales_mins(scales, mins, packed_scales);

  // Re-round every value against the scale and min dequantization will actually use.
  const float d = f16_to_f32(*d_out);
  const float dmin = f16_to_f32(*dmin_out);
  for (int j = 0; j < kSubBlocks; ++j) {
    const float sub_scale = d * static_cast<float>(scales[j]);
    const float sub_min = dmin * static_cast<float>(mins[j]);
    uint8_t* l = levels + kSub * j;
    // With a zero scale every value decodes to -sub_min whatever its level: keep the search's
    // levels, as ggml does, so the bytes match.
    if (sub_scale == 0.0f) continue;
    for (int i = 0; i < kSub; ++i) {
      l[i] = static_cast<uint8_t>(
          nearest_level((x[kSub * j + i] + sub_min) / sub_scale, 0, search.nmax));
    }
  }
}

// ---- Sub-block search for Q6_K: x ~ scale * l, l in -nmax..nmax-1 ----

// Chooses the scale of a symmetric sub-block, minimising sum_i x[i]^2 * (scale*l[i] - x[i])^2
// (squared-magnitude weights: the largest values matter most).
//
// As in Q4_0 the extreme value goes to the most negative level (the side with the extra level).
// Candidate grids map it to -(nmax + 0.1t), t = -9..9; for the levels l that a grid gives, the
// best scale is S_lx / S_ll and it lowers the weighted error by S_lx^2 / S_ll, so the candidate
// with the largest S_lx^2 / S_ll wins. The result is negative when the extreme is positive.
float fit_symmetric(const float* x, int n, int nmax, uint8_t* levels) {
  float extreme = 0.0f;
  float magnitude = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > magnitude) {
      magnitude = std::fabs(x[i]);
      extreme = x[i];
    }
  }
  // ggml's GROUP_MAX_EPS: below it a sub-block is treated as zero.
  if (!(magnitude >= 1e-15f)) {
    std::fill(levels, levels + n, uint8_t{0});
    return 0.0f;
  }

  float best_scale = 0.0f;
  float best_merit = 0.0f;  // best_scale * S_lx = S_lx^2 / S_ll
  auto try_grid = [&](int t) {
    const float inverse = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(t)) / extreme;
    float sum_lx = 0.0f;
    float sum_ll = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float l = static_cast<float>(nearest_level(inverse * x[i], -nmax, nmax - 1));
      const float w = x[i] * x[i];
      sum_lx += w * x[i] * l;
      sum_ll += w * l * l;
    }
    if (!(sum_ll > 0.0f)) return;
    // Strictly better than the best so far (compared without dividing); the plain grid, tried
    // first, is taken as it is.
    if (t == 0 || sum_lx * sum_lx > best_merit * sum_ll) {
      best_scale = sum_lx / sum_ll;
      best_merit = best_scale * sum_lx;
      for (int i = 0; i < n; ++i) {
        levels[i] = static_cast<uint8_t>(nearest_level(inverse * x[i], -nmax, nmax - 1) + nmax);
      }
    }
  };
  try_grid(0);
  for (int t = -9; t <= 9; ++t) {
    if (t != 0) try_grid(t);
  }
  return best_scale;
}

}  // namespace

// ---- Q2_K (dequantize only) ----

void dequantize_q2_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ2_K*>(src);
  const int64_t nb = superblock_count(n);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ2_K& block = blocks[b];
    const float d = f16_to_f32(block.d);
    const float dmin = f16_to_f32(block.dmin);
    float* y = dst + b * kQK_K;
    for (int e = 0; e < kQK_K; ++e) {
      const int half = e / 128;
      const int shift = 2 * ((e % 128) / 32);
      const int q = (block.qs[32 * half + e % 32] >> shift) & 3;
      const uint8_t sc = block.scales[e / 16];
      const float dl = d * static_cast<float>(sc & 0xf);
      const float ml = dmin * static_cast<float>(sc >> 4);
      y[e] = dl * static_cast<float>(q) - ml;
    }
  }
}

// ---- Q3_K (dequantize only) ----

void dequantize_q3_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ3_K*>(src);
  const int64_t nb = superblock_count(n);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ3_K& block = blocks[b];
    const float d = f16_to_f32(block.d);
    int scales[kQK_K / 16];
    for (int j = 0; j < kQK_K / 16; ++j) {
      const int low = j < 8 ? block.scales[j] & 0xf : block.scales[j - 8] >> 4;
      const int high = (block.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
      scales[j] = (low | (high << 4)) - 32;
    }
    float* y = dst + b * kQK_K;
    for (int e = 0; e < kQK_K; ++e) {
      const int half = e / 128;
      const int shift = 2 * ((e % 128) / 32);
      const int low = (block.qs[32 * half + e % 32] >> shift) & 3;
      const int high = (block.hmask[e % 32] >> (e / 32)) & 1;
      const float dl = d * static_cast<float>(scales[e / 16]);
      y[e] = dl * static_cast<float>(low + 4 * high - 4);
    }
  }
}

// ---- Q4_K ----

void dequantize_q4_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_K*>(src);
  const int64_t nb = superblock_count(n);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ4_K& block = blocks[b];
    const float d = f16_to_f32(block.d);
    const float dmin = f16_to_f32(block.dmin);
    float* y = dst + b * kQK_K;
    for (int p = 0; p < 4; ++p) {  // 64 values: sub-blocks 2p (low nibbles), 2p + 1 (high)
      const ScaleMin lo = unpack_scale_min(block.scales, 2 * p);
      const ScaleMin hi = unpack_scale_min(block.scales, 2 * p + 1);
      const float d_lo = d * static_cast<float>(lo.scale);
      const float m_lo = dmin * static_cast<float>(lo.min);
      const float d_hi = d * static_cast<float>(hi.scale);
      const float m_hi = dmin * static_cast<float>(hi.min);
      const uint8_t* q = block.qs + 32 * p;
      for (int l = 0; l < 32; ++l) {
        y[64 * p + l] = d_lo * static_cast<float>(q[l] & 0xf) - m_lo;
        y[64 * p + 32 + l] = d_hi * static_cast<float>(q[l] >> 4) - m_hi;
      }
    }
  }
}

void quantize_q4_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ4_K*>(dst);
  const int64_t nb = superblock_count(n);
  // 15 levels; candidate grids of 14.0, 14.1, ..., 16.0 intervals.
  constexpr AffineSearch kSearch{15, -1.0f, 0.1f, 20};
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ4_K& block = blocks[b];
    uint8_t levels[kQK_K];
    quantize_affine_superblock(src + b * kQK_K, kSearch, &block.d, &block.dmin, block.scales,
                               levels);
    for (int p = 0; p < 4; ++p) {
      for (int l = 0; l < 32; ++l) {
        block.qs[32 * p + l] =
            static_cast<uint8_t>(levels[64 * p + l] | (levels[64 * p + 32 + l] << 4));
      }
    }
  }
}

// ---- Q5_K ----

void dequantize_q5_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_K*>(src);
  const int64_t nb = superblock_count(n);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ5_K& block = blocks[b];
    const float d = f16_to_f32(block.d);
    const float dmin = f16_to_f32(block.dmin);
    float* y = dst + b * kQK_K;
    for (int p = 0; p < 4; ++p) {
      const ScaleMin lo = unpack_scale_min(block.scales, 2 * p);
      const ScaleMin hi = unpack_scale_min(block.scales, 2 * p + 1);
      const float d_lo = d * static_cast<float>(lo.scale);
      const float m_lo = dmin * static_cast<float>(lo.min);
      const float d_hi = d * static_cast<float>(hi.scale);
      const float m_hi = dmin * static_cast<float>(hi.min);
      const uint8_t* q = block.qs + 32 * p;
      for (int l = 0; l < 32; ++l) {
        const int q_lo = (q[l] & 0xf) | (((block.qh[l] >> (2 * p)) & 1) << 4);
        const int q_hi = (q[l] >> 4) | (((block.qh[l] >> (2 * p + 1)) & 1) << 4);
        y[64 * p + l] = d_lo * static_cast<float>(q_lo) - m_lo;
        y[64 * p + 32 + l] = d_hi * static_cast<float>(q_hi) - m_hi;
      }
    }
  }
}

void quantize_q5_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ5_K*>(dst);
  const int64_t nb = superblock_count(n);
  // 31 levels; candidate grids of 30.5, 30.6, ..., 32.0 intervals.
  constexpr AffineSearch kSearch{31, -0.5f, 0.1f, 15};
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ5_K& block = blocks[b];
    uint8_t levels[kQK_K];
    quantize_affine_superblock(src + b * kQK_K, kSearch, &block.d, &block.dmin, block.scales,
                               levels);
    std::memset(block.qh, 0, sizeof(block.qh));
    for (int p = 0; p < 4; ++p) {
      for (int l = 0; l < 32; ++l) {
        const int q_lo = levels[64 * p + l];
        const int q_hi = levels[64 * p + 32 + l];
        block.qs[32 * p + l] = static_cast<uint8_t>((q_lo & 0xf) | ((q_hi & 0xf) << 4));
        block.qh[l] = static_cast<uint8_t>(block.qh[l] | ((q_lo >> 4) << (2 * p)) |
                                           ((q_hi >> 4) << (2 * p + 1)));
      }
    }
  }
}

// ---- Q6_K ----

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ6_K*>(src);
  const int64_t nb = superblock_count(n);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ6_K& block = blocks[b];
    const float d = f16_to_f32(block.d);
    float* y = dst + b * kQK_K;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = block.ql + 64 * half;
      const uint8_t* qh = block.qh + 32 * half;
      for (int k = 0; k < 4; ++k) {  // 32 values each; k selects nibble and qh bit pair
        for (int l = 0; l < 32; ++l) {
          const int low = (ql[l + 32 * (k % 2)] >> (4 * (k / 2))) & 0xf;
          const int high = (qh[l] >> (2 * k)) & 3;
          const int e = 128 * half + 32 * k + l;
          y[e] = d * static_cast<float>(block.scales[e / 16]) *
                 static_cast<float>((low | (high << 4)) - 32);
        }
      }
    }
  }
}

void quantize_q6_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ6_K*>(dst);
  const int64_t nb = superblock_count(n);
  constexpr int kSub = 16;
  constexpr int kSubBlocks = kQK_K / kSub;
  for (int64_t b = 0; b < nb; ++b) {
    const float* x = src + b * kQK_K;
    BlockQ6_K& block = blocks[b];
    float scales[kSubBlocks];
    uint8_t levels[kQK_K];   // 0..63: quant + 32
    float max_scale = 0.0f;  // signed scale of largest magnitude
    for (int j = 0; j < kSubBlocks; ++j) {
      scales[j] = fit_symmetric(x + kSub * j, kSub, 32, levels + kSub * j);
      if (std::fabs(scales[j]) > std::fabs(max_scale)) max_scale = scales[j];
    }
    if (!(std::fabs(max_scale) >= 1e-15f)) {  // all (near) zero: an all-zero block decodes to 0
      std::memset(&block, 0, sizeof(block));
      continue;
    }
    // Sub-block scales become int8 multiples of d; the largest maps to -128, the extra level of
    // int8's negative side, as values do within a sub-block.
    const float inverse = -128.0f / max_scale;
    block.d = f32_to_f16(1.0f / inverse);
    for (int j = 0; j < kSubBlocks; ++j) {
      block.scales[j] = static_cast<int8_t>(nearest_level(inverse * scales[j], -128, 127));
    }

    // Re-round against the stored scales. A zero scale decodes to 0 whatever the level: the
    // search's levels stay, as in ggml, so the bytes match.
    const float d = f16_to_f32(block.d);
    for (int j = 0; j < kSubBlocks; ++j) {
      const float sub_scale = d * static_cast<float>(block.scales[j]);
      if (sub_scale == 0.0f) continue;
      for (int i = 0; i < kSub; ++i) {
        const int e = kSub * j + i;
        levels[e] = static_cast<uint8_t>(nearest_level(x[e] / sub_scale, -32, 31) + 32);
      }
    }
    for (int half = 0; half < 2; ++half) {
      uint8_t* ql = block.ql + 64 * half;
      uint8_t* qh = block.qh + 32 * half;
      const uint8_t* lv = levels + 128 * half;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((lv[l] & 0xf) | ((lv[l + 64] & 0xf) << 4));
        ql[l + 32] = static_cast<uint8_t>((lv[l + 32] & 0xf) | ((lv[l + 96] & 0xf) << 4));
        qh[l] = static_cast<uint8_t>((lv[l] >> 4) | ((lv[l + 32] >> 4) << 2) |
                                     ((lv[l + 64] >> 4) << 4) | ((lv[l + 96] >> 4) << 6));
      }
    }
  }
}

// ---- Q8_K ----

void dequantize_q8_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_K*>(src);
  const int64_t nb = superblock_count(n);
  for (int64_t b = 0; b < nb; ++b) {
    for (int i = 0; i < kQK_K; ++i) {
      dst[b * kQK_K + i] = blocks[b].d * static_cast<float>(blocks[b].qs[i]);
    }
  }
}

void quantize_q8_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(dst);
  const int64_t nb = superblock_count(n);
  for (int64_t b = 0; b < nb; ++b) {
    const float* x = src + b * kQK_K;
    BlockQ8_K& block = blocks[b];
    float extreme = 0.0f;
    for (int i = 0; i < kQK_K; ++i) {
      if (std::fabs(x[i]) > std::fabs(extreme)) extreme = x[i];
    }
    if (extreme == 0.0f) {
      std::memset(&block, 0, sizeof(block));
      continue;
    }
    // The extreme maps to -127 (not -128): the SIMD dot products rely on |q| <= 127 so that
    // sign tricks on int8 cannot overflow.
    const float inverse = -127.0f / extreme;
    for (int i = 0; i < kQK_K; ++i) {
      block.qs[i] = static_cast<int8_t>(nearest_level(inverse * x[i], -127, 127));
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += block.qs[16 * j + i];
      block.bsums[j] = static_cast<int16_t>(sum);
    }
    block.d = 1.0f / inverse;
  }
}

}  // namespace bottega::quant_ref
