// Architectures without an ISA-specific FLOP kernel.
#include "hw/flops.h"

namespace bottega::hw {

FlopKernel best_flop_kernel() {
  return plain_flop_kernel();
}

IntOpKernel best_int8_kernel() {
  return plain_int8_kernel();
}

}  // namespace bottega::hw
