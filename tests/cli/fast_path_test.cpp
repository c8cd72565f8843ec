// The fast path (interleaved weights, SIMD kernels) against the scalar reference path
// (BOTTEGA_ISA=ref: stored row layout, reference dot products) end to end, on a small model with
// the standard benchmark model's traits (head size 64, grouped-query attention, FFN 3x wide,
// every matrix interleaved) in each of the standard benchmark types, the 5-bit ones and Q4_1/Q5_1
// (a minimum per block, Q8_1 activations). `bottega perplexity` saves the reference path's
// log-probabilities over a text and compares the fast path's with them.
//
// Bound: both paths quantize activations identically and sum exact integer block products; only
// the order of float additions differs, which moves logits by ~1e-6 relative and can flip an
// activation's rounding at a quantization boundary now and then. Mean KL divergence <= 1e-3 (we
// measured at most 1e-4: 7e-5 for Q5_0, 5e-5 for Q5_K_M and Q4_0) allows a few such flips; a wrong
// layout, scale or offset gives KL divergences of 0.1 and more and a top token that agrees at
// random (1/512). The random weights make the next-token distributions nearly flat, so the top
// token is a sensitive probe: any error in the logits reorders it. About 30 positions are scored
// (the second half of each 32-token chunk), so >= 90% tolerates two or three flips.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "testutil/testutil.h"

namespace bottega {
namespace {

using testing::run_bottega;
using testing::shared_file;
using testing::TempDir;

double read_number(const std::string& text, const std::string& label) {
  const auto at = text.find(label);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no '" << label << "' in:\n" << text;
    return NAN;
  }
  return std::strtod(text.c_str() + at + label.size(), nullptr);
}

TEST(FastPath, AgreesWithReferencePathInEveryBenchmarkType) {
  const TempDir dir;
  const std::string text_path = (dir.path() / "text.txt").string();
  {
    std::ofstream text(text_path);
    for (int i = 0; i < 3; ++i) {
      text << "Once upon a time, a little girl named Lily found a shiny stone in the park. ";
    }
  }
  for (const std::string type :
       {"Q4_0", "Q8_0", "Q4_K_M", "Q5_K_M", "Q5_0", "Q4_1", "Q5_1", "F16"}) {
    const std::string model = (dir.path() / (type + ".gguf")).string();
    const auto synth = run_bottega(
        {"synth", "--arch", "llama", "--dim", "256", "--layers", "2", "--heads", "4", "--kv-heads",
         "1", "--ffn", "768", "--vocab-from", shared_file("models/aidreams260K.gguf").string(),
         "--type", type, "-o", model});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
    const std::string base = (dir.path() / (type + ".kl")).string();
    const std::vector<std::string> args = {"perplexity", "-m", model, "-f", text_path, "-c",
                                           "64",         "-b", "64",  "-t", "2"};
    auto reference_args = args;
    reference_args.insert(reference_args.end(), {"--kl-divergence-base", base});
    const auto reference = run_bottega(reference_args, {{"BOTTEGA_ISA", "ref"}});
    ASSERT_EQ(reference.exit_code, 0) << reference.err;
    auto fast_args = args;
    fast_args.insert(fast_args.end(), {"--kl-divergence", base});
    const auto fast = run_bottega(fast_args);
    ASSERT_EQ(fast.exit_code, 0) << fast.err;
    const std::string report = fast.out + fast.err;
    EXPECT_LE(read_number(report, "Mean KLD: "), 1e-3) << type << "\n" << report;
    EXPECT_GE(read_number(report, "Same top token: "), 90.0) << type << "\n" << report;
  }
}

}  // namespace
}  // namespace bottega
