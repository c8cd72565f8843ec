// Golden tests against llama.cpp: on fixed inputs, bottega's quantizers must produce exactly the
// bytes of ggml's reference quantizers (quantize_row_*_ref) and its dequantizers exactly the
// floats of ggml's dequantize_row_*. The hashes were computed by calling those functions in
// libggml-base.so (llama.cpp as shipped in node-llama-cpp 3.22.1, x86-64) on the inputs that
// quant_test_util.h generates. A mismatch means files written by bottega no longer match
// llama.cpp's, or files from llama.cpp no longer decode as llama.cpp decodes them.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/quant_test_util.h"
#include "tensor/types.h"

namespace bottega {
namespace {

using tensor_testing::fnv1a;

struct Golden {
  TensorType type;
  uint64_t quantized[3];  // golden_input kinds 0..2, 4096 values, seed 1000 + kind; 0: no quantizer
  uint64_t dequantized;   // random_blocks(type, 4096 / block_size, 77) decoded
};

// Q8_1 has no ggml dequantizer on the CPU; its dequantized hash is bottega's own (d * q).
// MXFP4 postdates that build: its hashes come from quantize_row_mxfp4_ref / dequantize_row_mxfp4
// of ik_llama.cpp's libggml (commit 8337e4cd, x86-64), which apply mainline ggml's rule (exponent
// floor(log2f(max)) - 2 + 127, nearest code, first code on ties); the same harness found bottega's
// bytes identical on 800,000 further blocks (uniform, 2^-60..2^60 gaussians, exact ties and
// near-ties, maxima at and just below powers of two).
constexpr Golden kGolden[] = {
    {TensorType::Q4_0,
     {0x576f2ace66facaf4ull, 0x7f61e5be34760df0ull, 0x0abb046a43ff241eull},
     0xd4f3785901c7e671ull},
    {TensorType::Q4_1,
     {0x7a2b7b67c4234764ull, 0xada72bac43a7b56aull, 0x1cc997e048be9971ull},
     0xb8d5af76f8eb6fa0ull},
    {TensorType::Q5_0,
     {0x7cddea0192161651ull, 0x5d2d201fa063259cull, 0x47eb168a9831427dull},
     0xac19a73ba5f39073ull},
    {TensorType::Q5_1,
     {0x768ce8addafb76eaull, 0x5ce75938f223d10bull, 0xe4c1dc39b947a1f7ull},
     0x09364f4e4738131dull},
    {TensorType::Q8_0,
     {0xf83911c48b66e6efull, 0x5c3f7910213f4eb1ull, 0xf392aab2ec682b27ull},
     0x84300a5772fc2eccull},
    {TensorType::Q8_1,
     {0x5de3c47065022ac1ull, 0x1bd22949ef95f151ull, 0x253586c5a75af0bfull},
     0x307845fee47c0ebfull},
    {TensorType::Q2_K,
     {0x0000000000000000ull, 0x0000000000000000ull, 0x0000000000000000ull},
     0xb6f22f082745a859ull},
    {TensorType::Q3_K,
     {0x0000000000000000ull, 0x0000000000000000ull, 0x0000000000000000ull},
     0x88b488b1fbf9d357ull},
    {TensorType::Q4_K,
     {0x410d22d24a3697d7ull, 0x5779dbb736ecd77full, 0x001d66ed76f8941cull},
     0x0ae781cb80879b86ull},
    {TensorType::Q5_K,
     {0xbcaa0fedeafbde98ull, 0xeee34319a1df0397ull, 0xa3bfe833a980464eull},
     0x362cdbf44599423bull},
    {TensorType::Q6_K,
     {0xb304dfefd9c2aa8full, 0x4e9307950bbaff65ull, 0xeedf25421117b0ebull},
     0xb493954a69ac4c31ull},
    {TensorType::Q8_K,
     {0xd6943cc1625a5bc1ull, 0xe8b8d701fb8ec9b9ull, 0x6d3f38c68ab52bd0ull},
     0x5323d1bd23a02e24ull},
    {TensorType::MXFP4,
     {0x0b890b3399a6b5f6ull, 0x936379e8e75207adull, 0xd31184755b59dba2ull},
     0x89c4ba3ada5214b8ull},
};

constexpr int64_t kValues = 4096;

class GoldenTest : public ::testing::TestWithParam<Golden> {};
using GoldenQuantizeTest = GoldenTest;

TEST_P(GoldenQuantizeTest, QuantizeMatchesLlamaCpp) {
  const Golden& golden = GetParam();
  const TypeTraits& traits = type_traits(golden.type);
  ASSERT_NE(traits.quantize, nullptr);
  for (int kind = 0; kind < 3; ++kind) {
    const std::vector<float> x = tensor_testing::golden_input(kind, kValues, 1000 + kind);
    std::vector<uint8_t> q(row_bytes(golden.type, kValues));
    traits.quantize(x.data(), q.data(), kValues);
    EXPECT_EQ(fnv1a(q.data(), q.size()), golden.quantized[kind])
        << traits.name << " input " << kind;
  }
}

TEST_P(GoldenTest, DequantizeMatchesLlamaCpp) {
  const Golden& golden = GetParam();
  const TypeTraits& traits = type_traits(golden.type);
  const std::vector<uint8_t> q =
      tensor_testing::random_blocks(golden.type, kValues / traits.block_size, 77);
  std::vector<float> y(kValues);
  traits.dequantize(q.data(), y.data(), kValues);
  EXPECT_EQ(fnv1a(y.data(), y.size() * sizeof(float)), golden.dequantized) << traits.name;
}

std::string golden_name(const ::testing::TestParamInfo<Golden>& param) {
  return std::string(type_name(param.param.type));
}

std::vector<Golden> with_quantizer() {
  std::vector<Golden> goldens;
  for (const Golden& golden : kGolden) {
    if (type_traits(golden.type).quantize != nullptr) goldens.push_back(golden);
  }
  return goldens;
}

INSTANTIATE_TEST_SUITE_P(Types, GoldenTest, ::testing::ValuesIn(kGolden), golden_name);
INSTANTIATE_TEST_SUITE_P(Types, GoldenQuantizeTest, ::testing::ValuesIn(with_quantizer()),
                         golden_name);

}  // namespace
}  // namespace bottega
