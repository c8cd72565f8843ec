// Block layouts of the quantized types, byte for byte as GGUF stores them.
// Scales are IEEE half stored as uint16_t (see core/half.h).
#pragma once

#include <cstdint>

namespace bottega {

inline constexpr int kQK8_0 = 32;

// Q8_0: 32 values = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

}  // namespace bottega
