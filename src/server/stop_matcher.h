// Stop sequences over streamed text: text is released as soon as it can no longer be the start of
// a stop sequence, and nothing from the first stop sequence on is ever released.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bottega::server {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Adds generated text; returns what may be shown now. After a stop sequence has been seen,
  // stopped() is true and later text is ignored.
  std::string push(std::string_view text);
  // The text held back because it might have begun a stop sequence; call at the end of generation.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  // Length of the longest suffix of held_ that is a proper prefix of some stop sequence.
  size_t partial_match_length() const;

  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace bottega::server
