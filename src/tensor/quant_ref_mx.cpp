// Reference codec of MXFP4 (OCP microscaling FP4, GGUF type 39; layout in blocks.h).
//
// The quantizer follows ggml's reference rule so a tensor quantized here encodes byte for byte
// like one quantized by llama.cpp: the shared exponent puts the block's largest magnitude A in
// [4, 8) times 2^(e - 127) (e = floor(log2 A) - 2 + 127), and every value takes the code nearest
// to it; on an exact tie the code listed first in kMXFP4Doubled (the smaller magnitude) wins.
#include <cmath>

#include "core/error.h"
#include "tensor/blocks.h"
#include "tensor/quant_ref.h"

namespace bottega::quant_ref {
namespace {

int64_t block_count(int64_t n) {
  BOTTEGA_CHECK(n >= 0 && n % kQK_MXFP4 == 0, n, " values is not a multiple of the block size ",
                kQK_MXFP4);
  return n / kQK_MXFP4;
}

// The shared exponent of a block whose largest magnitude is amax > 0: floor(log2f(amax)) + 125,
// as llama.cpp computes it. log2f, not an exact frexp, is deliberate: for amax within an ulp below
// a power of two 2^k with |k| >= 4 it rounds up to k, and files must carry the same byte. Where
// llama.cpp's float-to-byte conversion is undefined (amax < 2^-125, or infinite) the exponent is
// clamped to 0 (finer than needed: such a block's max is below 8 * 2^-128) or 254.
uint8_t shared_exponent(float amax) {
  const float e = std::floor(std::log2(amax)) - 2.0f + 127.0f;
  if (!(e >= 0.0f)) return 0;
  if (e >= 254.0f) return 254;
  return static_cast<uint8_t>(e);
}

// Index (0..15) of the code whose value kMXFP4Doubled[i] * scale is nearest to x, the first on
// ties; the errors are computed in float exactly as ggml does (the products are exact), so near
// ties resolve identically too. NaN gets code 0.
uint8_t nearest_code(float x, float scale) {
  uint8_t best = 0;
  float best_error = std::fabs(static_cast<float>(kMXFP4Doubled[0]) * scale - x);
  for (uint8_t i = 1; i < 16; ++i) {
    const float error = std::fabs(static_cast<float>(kMXFP4Doubled[i]) * scale - x);
    if (error < best_error) {
      best = i;
      best_error = error;
    }
  }
  return best;
}

}  // namespace

void dequantize_mxfp4(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockMXFP4*>(src);
  const int64_t nb = block_count(n);
  for (int64_t b = 0; b < nb; ++b) {
    const float scale = mxfp4_half_scale(blocks[b].e);
    float* y = dst + b * kQK_MXFP4;
    for (int j = 0; j < kQK_MXFP4 / 2; ++j) {
      y[j] = static_cast<float>(kMXFP4Doubled[blocks[b].qs[j] & 0xf]) * scale;
      y[j + 16] = static_cast<float>(kMXFP4Doubled[blocks[b].qs[j] >> 4]) * scale;
    }
  }
}

void quantize_mxfp4(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockMXFP4*>(dst);
  const int64_t nb = block_count(n);
  for (int64_t b = 0; b < nb; ++b) {
    const float* x = src + b * kQK_MXFP4;
    float amax = 0.0f;
    for (int j = 0; j < kQK_MXFP4; ++j) {
      if (amax < std::fabs(x[j])) amax = std::fabs(x[j]);  // NaN never compares larger
    }
    const uint8_t e = amax > 0.0f ? shared_exponent(amax) : 0;
    const float scale = mxfp4_half_scale(e);
    blocks[b].e = e;
    for (int j = 0; j < kQK_MXFP4 / 2; ++j) {
      blocks[b].qs[j] =
          static_cast<uint8_t>(nearest_code(x[j], scale) | (nearest_code(x[j + 16], scale) << 4));
    }
  }
}

}  // namespace bottega::quant_ref
