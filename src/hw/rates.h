// Summaries of timed passes, shared by the probes: each reports one rank of its passes rather than
// the best, because on a shared host the best pass catches a moment nothing lasting seconds gets.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace bottega::hw {

// The rate `fraction` of the way up the sorted rates (0.5: the median; 0.75: the upper quartile,
// which a quarter of the rates lie above); 0 for none.
inline double rate_at(std::vector<double> rates, double fraction) {
  if (rates.empty()) return 0.0;
  const auto index =
      std::min(rates.size() - 1, static_cast<size_t>(static_cast<double>(rates.size()) * fraction));
  const auto at = rates.begin() + static_cast<std::ptrdiff_t>(index);
  std::nth_element(rates.begin(), at, rates.end());
  return *at;
}

}  // namespace bottega::hw
