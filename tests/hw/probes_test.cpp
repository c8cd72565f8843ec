// The roofline probes' own logic: which pass sets a peak, and that the decode probe runs the
// kernels on a buffer of the size asked and reports a rate. How fast they read is measured by
// `bottega hw`, never asserted here.
#include <gtest/gtest.h>

#include <vector>

#include "core/thread_pool.h"
#include "hw/decode_stream.h"
#include "hw/flops.h"
#include "hw/rates.h"

namespace bottega::hw {
namespace {

TEST(RateAt, UpperQuartileIgnoresDisturbedPassesAndOneLuckyPass) {
  // Half the passes while a neighbour took a core, one pass faster than anything sustained.
  const std::vector<double> passes = {150, 290, 148, 300, 152, 295, 149, 370, 151, 298, 147, 292};
  EXPECT_EQ(rate_at(passes, 0.75), 298);
  EXPECT_EQ(rate_at(passes, 0.5), 290);
  EXPECT_EQ(rate_at({5}, 0.75), 5);
  EXPECT_EQ(rate_at({3, 1, 2}, 1.0), 3);  // the top rank stays inside the rates
  EXPECT_EQ(rate_at({}, 0.5), 0);
}

TEST(PeakPasses, OneRatePerPassEachPositive) {
  ThreadPool pool(2);
  const std::vector<double> f32 = f32_flops_passes(pool, 3);
  const std::vector<double> int8 = int8_ops_passes(pool, 2);
  ASSERT_EQ(f32.size(), 3u);
  ASSERT_EQ(int8.size(), 2u);
  for (double rate : f32) EXPECT_GT(rate, 0.0);
  for (double rate : int8) EXPECT_GT(rate, 0.0);
}

TEST(DecodeStream, StreamsCopiesOfTheMatrixAndReportsARate) {
  ThreadPool pool(2);
  // Smaller than one matrix: two copies all the same, so the kernel's products are compared.
  const double rate = measure_decode_stream(pool, 1 << 20, 2);
  EXPECT_GT(rate, 0.0);
  EXPECT_LT(rate, 1e14);  // 100 TB/s: no machine streams that, a timing bug would
}

}  // namespace
}  // namespace bottega::hw
