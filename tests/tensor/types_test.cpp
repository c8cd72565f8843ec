// The type table: ids, names, sizes and which rows have codecs.
#include "tensor/types.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <set>
#include <string>

#include "tensor/blocks.h"

namespace bottega {
namespace {

using T = TensorType;

// Every GGML type id GGUF defines (ids 4, 5 and 31..33, 36..38 were removed from ggml).
constexpr T kAllTypes[] = {
    T::F32,     T::F16,   T::Q4_0,   T::Q4_1,  T::Q5_0,  T::Q5_1,   T::Q8_0,    T::Q8_1,
    T::Q2_K,    T::Q3_K,  T::Q4_K,   T::Q5_K,  T::Q6_K,  T::Q8_K,   T::IQ2_XXS, T::IQ2_XS,
    T::IQ3_XXS, T::IQ1_S, T::IQ4_NL, T::IQ3_S, T::IQ2_S, T::IQ4_XS, T::I8,      T::I16,
    T::I32,     T::I64,   T::F64,    T::IQ1_M, T::BF16,  T::TQ1_0,  T::TQ2_0,   T::MXFP4};

TEST(TypesTest, FindTypeForEveryId) {
  std::set<std::string> names;
  for (T type : kAllTypes) {
    const TypeTraits* traits = find_type(static_cast<uint32_t>(type));
    ASSERT_NE(traits, nullptr) << static_cast<uint32_t>(type);
    EXPECT_EQ(traits->type, type);
    EXPECT_EQ(&type_traits(type), traits);
    EXPECT_GT(traits->block_size, 0);
    EXPECT_GT(traits->block_bytes, 0u);
    EXPECT_TRUE(names.insert(std::string(traits->name)).second) << traits->name << " twice";
  }
}

TEST(TypesTest, UnknownIdsAreNull) {
  for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 1000u, UINT32_MAX}) {
    EXPECT_EQ(find_type(id), nullptr) << id;
  }
}

TEST(TypesTest, GgufIdsAndNames) {
  EXPECT_EQ(static_cast<uint32_t>(T::Q4_K), 12u);
  EXPECT_EQ(static_cast<uint32_t>(T::BF16), 30u);
  EXPECT_EQ(type_name(T::Q4_K), "Q4_K");
  EXPECT_EQ(type_name(T::IQ2_XXS), "IQ2_XXS");
  EXPECT_EQ(type_name(T::BF16), "BF16");
}

TEST(TypesTest, BlockSizesMatchTheBlockStructs) {
  struct Expect {
    T type;
    int64_t block_size;
    size_t bytes;
  };
  const Expect expected[] = {
      {T::Q4_0, kQK4_0, sizeof(BlockQ4_0)},      {T::Q4_1, kQK4_1, sizeof(BlockQ4_1)},
      {T::Q5_0, kQK5_0, sizeof(BlockQ5_0)},      {T::Q5_1, kQK5_1, sizeof(BlockQ5_1)},
      {T::Q8_0, kQK8_0, sizeof(BlockQ8_0)},      {T::Q8_1, kQK8_1, sizeof(BlockQ8_1)},
      {T::Q2_K, kQK_K, sizeof(BlockQ2_K)},       {T::Q3_K, kQK_K, sizeof(BlockQ3_K)},
      {T::Q4_K, kQK_K, sizeof(BlockQ4_K)},       {T::Q5_K, kQK_K, sizeof(BlockQ5_K)},
      {T::Q6_K, kQK_K, sizeof(BlockQ6_K)},       {T::Q8_K, kQK_K, sizeof(BlockQ8_K)},
      {T::MXFP4, kQK_MXFP4, sizeof(BlockMXFP4)},
  };
  for (const Expect& e : expected) {
    const TypeTraits& traits = type_traits(e.type);
    EXPECT_EQ(traits.block_size, e.block_size) << traits.name;
    EXPECT_EQ(traits.block_bytes, e.bytes) << traits.name;
  }
}

TEST(TypesTest, ParseTypeNameIsCaseInsensitive) {
  EXPECT_EQ(parse_type_name("q4_k"), T::Q4_K);
  EXPECT_EQ(parse_type_name("Q4_K"), T::Q4_K);
  EXPECT_EQ(parse_type_name("q4_K"), T::Q4_K);
  EXPECT_EQ(parse_type_name("bf16"), T::BF16);
  EXPECT_EQ(parse_type_name("Bf16"), T::BF16);
  EXPECT_EQ(parse_type_name("iq2_xxs"), T::IQ2_XXS);
  EXPECT_EQ(parse_type_name("f32"), T::F32);
  for (T type : kAllTypes) {
    std::string lower(type_name(type));
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(parse_type_name(lower), type) << lower;
    EXPECT_EQ(parse_type_name(type_name(type)), type);
  }
}

TEST(TypesTest, ParseTypeNameRejectsNonNames) {
  for (const char* name :
       {"", "q4", "Q4_K ", " Q4_K", "Q4_KM", "q4_k_m", "f", "F32x", "fp16", "IQ2"}) {
    EXPECT_EQ(parse_type_name(name), std::nullopt) << '"' << name << '"';
  }
}

TEST(TypesTest, RowBytes) {
  EXPECT_EQ(row_bytes(T::F32, 3), 12u);
  EXPECT_EQ(row_bytes(T::F16, 3), 6u);
  EXPECT_EQ(row_bytes(T::BF16, 0), 0u);
  EXPECT_EQ(row_bytes(T::Q4_0, 64), 36u);
  EXPECT_EQ(row_bytes(T::Q8_0, 4096), 4096u / 32 * 34);
  EXPECT_EQ(row_bytes(T::Q4_K, 512), 288u);
  EXPECT_EQ(row_bytes(T::Q6_K, 4096), 16u * 210);
  EXPECT_EQ(row_bytes(T::Q8_K, 256), 292u);
  EXPECT_EQ(row_bytes(T::IQ2_XXS, 256), 66u);
  EXPECT_EQ(row_bytes(T::MXFP4, 2880), 90u * 17);
}

TEST(TypesDeathTest, RowBytesRejectsPartialBlocks) {
  EXPECT_DEATH(row_bytes(T::Q4_0, 33), "multiple");
  EXPECT_DEATH(row_bytes(T::Q4_K, 128), "multiple");
  EXPECT_DEATH(row_bytes(T::F16, -1), "multiple");
}

TEST(TypesTest, CodecsPresentWhereTheEngineComputes) {
  for (T type : {T::F32, T::F16, T::BF16, T::Q4_0, T::Q4_1, T::Q5_0, T::Q5_1, T::Q8_0, T::Q8_1,
                 T::Q4_K, T::Q5_K, T::Q6_K, T::Q8_K, T::MXFP4}) {
    const TypeTraits& traits = type_traits(type);
    EXPECT_TRUE(is_computable(type)) << traits.name;
    EXPECT_NE(traits.quantize, nullptr) << traits.name;
    if (type == T::F32) {
      EXPECT_EQ(traits.round_trip_bound, 0.0f);
    } else {
      EXPECT_GT(traits.round_trip_bound, 0.0f) << traits.name;
      if (type == T::MXFP4) {
        // Values above 6/8 of the block's power-of-two range are clamped: up to a quarter off.
        EXPECT_EQ(traits.round_trip_bound, 0.25f);
      } else {
        EXPECT_LT(traits.round_trip_bound, 0.2f) << traits.name;
      }
    }
  }
  // Read-only: llama.cpp mixes contain them, bottega does not write them.
  for (T type : {T::Q2_K, T::Q3_K}) {
    EXPECT_TRUE(is_computable(type));
    EXPECT_EQ(type_traits(type).quantize, nullptr);
  }
  for (T type : {T::IQ2_XXS, T::IQ4_NL, T::I8, T::F64, T::TQ1_0}) {
    EXPECT_FALSE(is_computable(type)) << type_name(type);
  }
}

// More bits, smaller error: the bounds must order as the formats do.
TEST(TypesTest, BoundsOrderByPrecision) {
  auto bound = [](T type) { return type_traits(type).round_trip_bound; };
  EXPECT_LT(bound(T::Q5_0), bound(T::Q4_0));
  EXPECT_LT(bound(T::Q5_1), bound(T::Q4_1));
  EXPECT_LT(bound(T::Q5_K), bound(T::Q4_K));
  EXPECT_LT(bound(T::Q6_K), bound(T::Q5_K));
  EXPECT_LT(bound(T::Q8_0), bound(T::Q6_K));
  EXPECT_LT(bound(T::Q8_K), bound(T::Q8_0));
  EXPECT_LT(bound(T::Q4_0), bound(T::MXFP4));  // 4 bits, but only 8 magnitudes and no scale fit
  EXPECT_LT(bound(T::F16), bound(T::BF16));
}

}  // namespace
}  // namespace bottega
