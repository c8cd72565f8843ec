// One token of a forward pass's batch: a batch mixes the prompt chunks and decode steps of many
// sequences, each token carrying its own position and sequence.
#pragma once

#include <cstdint>

namespace bottega {

struct BatchToken {
  int32_t token = 0;
  int32_t pos = 0;      // position in its sequence
  int32_t seq = 0;      // index into the block tables given with the batch
  bool logits = false;  // produce the next-token logits after this token
};

}  // namespace bottega
