// KV cache row conversions: every ISA's half converters are bit-identical to core/half.h's scalar
// conversions (which are IEEE round-to-nearest-even) on normal, subnormal, huge and odd-length
// rows; decode(encode(x)) stays within each cache type's round-trip bound.
#include "kernels/cpu/kv_rows.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/half.h"

namespace bottega::kernels {
namespace {

std::vector<float> values_across_half_range(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> exponent(-26.0f, 17.0f);  // subnormal half .. overflow
  std::uniform_int_distribution<int> sign(0, 1);
  std::vector<float> v(n);
  for (float& x : v) x = (sign(rng) != 0 ? -1.0f : 1.0f) * std::exp2(exponent(rng));
  v[0] = 0.0f;
  if (n > 1) v[1] = std::numeric_limits<float>::infinity();
  if (n > 2) v[2] = 65504.0f;
  return v;
}

TEST(KvRows, HalfConvertersMatchScalarOnEveryIsa) {
  for (Isa isa : available_isas()) {
    const HalfConverters c = half_converters(isa);
    for (int64_t n : {1, 7, 8, 9, 64, 131}) {
      const auto floats = values_across_half_range(static_cast<size_t>(n), 5);
      std::vector<uint16_t> halves(floats.size());
      c.to_half(floats.data(), halves.data(), n);
      std::vector<float> back(floats.size());
      c.to_float(halves.data(), back.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const auto idx = static_cast<size_t>(i);
        ASSERT_EQ(halves[idx], f32_to_f16(floats[idx]))
            << isa_name(isa) << " n " << n << " value " << floats[idx];
        ASSERT_EQ(back[idx], f16_to_f32(halves[idx])) << isa_name(isa) << " n " << n;
      }
    }
  }
}

// A run of strided rows decodes as each row alone: rows 320 bytes apart, of which the middle
// values are read (attention's one KV head of a cache row), for every cache type.
TEST(KvRows, StridedRunsDecodeAsEachRowAlone) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  const int64_t n = 64, n_rows = 5;
  const size_t stride = 320;
  for (TensorType type : {TensorType::F16, TensorType::Q8_0, TensorType::Q4_0}) {
    const size_t offset = row_bytes(type, 32);  // the second block of 32 values of each row
    std::vector<uint8_t> rows(stride * n_rows);
    for (int64_t r = 0; r < n_rows; ++r) {
      std::vector<float> values(static_cast<size_t>(n) + 32);
      for (float& v : values) v = dist(rng);
      encode_row(type, values.data(), rows.data() + static_cast<size_t>(r) * stride,
                 static_cast<int64_t>(values.size()));
    }
    std::vector<float> run(static_cast<size_t>(n * n_rows), NAN);
    decode_rows(type, rows.data() + offset, stride, n_rows, run.data(), n);
    for (int64_t r = 0; r < n_rows; ++r) {
      std::vector<float> alone(static_cast<size_t>(n));
      decode_row(type, rows.data() + static_cast<size_t>(r) * stride + offset, alone.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(run[static_cast<size_t>(r * n + i)], alone[static_cast<size_t>(i)])
            << type_name(type) << " row " << r << " value " << i;
      }
    }
  }
}

TEST(KvRows, RoundTripWithinTypeBound) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_0}) {
    const int64_t n = 128;
    std::vector<float> row(static_cast<size_t>(n));
    for (float& x : row) x = dist(rng);
    std::vector<uint8_t> encoded(row_bytes(type, n));
    encode_row(type, row.data(), encoded.data(), n);
    std::vector<float> decoded(row.size());
    decode_row(type, encoded.data(), decoded.data(), n);
    const int64_t block = type_traits(type).block_size;
    for (int64_t b = 0; b < n; b += block) {
      float block_max = 0.0f;
      for (int64_t i = b; i < b + block; ++i) block_max = std::max(block_max, std::fabs(row[i]));
      for (int64_t i = b; i < b + block; ++i) {
        const float bound = type == TensorType::F16
                                ? std::max(std::fabs(row[i]) / 2048.0f, 0x1p-24f)
                                : type_traits(type).round_trip_bound * block_max;
        EXPECT_LE(std::fabs(decoded[i] - row[i]), bound) << type_name(type) << " at " << i;
      }
    }
  }
}

}  // namespace
}  // namespace bottega::kernels
