// What a sequence may generate next, beyond what the model prefers: a grammar, a JSON schema, a
// tool-call format. The sampler asks it about the token it would pick, and only when that token is
// refused masks the whole vocabulary, so a model that follows the constraint pays almost nothing.
#pragma once

#include <cstdint>
#include <span>

namespace bottega {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Whether `token` may come next.
  virtual bool allows(int32_t token) = 0;
  // Sets the logit of every token that may not come next to -inf.
  virtual void restrict(std::span<float> logits) = 0;
  // Records the token chosen next (one that allows() accepted).
  virtual void accept(int32_t token) = 0;
};

}  // namespace bottega
