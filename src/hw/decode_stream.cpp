#include "hw/decode_stream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <random>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/host_memory.h"
#include "hw/rates.h"
#include "kernels/cpu/matmul.h"
#include "tensor/blocks.h"

namespace bottega::hw {
namespace {

constexpr int64_t kInputs = 2048;
constexpr int64_t kOutputs = 5632;

// Random quants with one small scale per block: the kernel's work does not depend on the values,
// and finite results let the check below compare copies exactly.
std::vector<uint8_t> random_q4_0_matrix(std::mt19937& rng) {
  const int64_t blocks = kInputs / 32 * kOutputs;
  std::vector<uint8_t> data(static_cast<size_t>(blocks) * sizeof(BlockQ4_0));
  auto* block = reinterpret_cast<BlockQ4_0*>(data.data());
  std::uniform_int_distribution<int> byte(0, 255);
  for (int64_t b = 0; b < blocks; ++b) {
    block[b].d = f32_to_f16(1.0f / 64.0f);
    for (uint8_t& q : block[b].qs) q = static_cast<uint8_t>(byte(rng));
  }
  return data;
}

}  // namespace

double measure_decode_stream(ThreadPool& pool, size_t bytes, int sweeps) {
  BOTTEGA_CHECK(sweeps > 0, "sweeps ", sweeps);
  std::mt19937 rng(7);
  const std::vector<uint8_t> stored = random_q4_0_matrix(rng);
  kernels::WeightMatrix w;
  w.type = TensorType::Q4_0;
  w.n_in = kInputs;
  w.n_out = kOutputs;
  w.data = stored.data();
  const bool interleave = kernels::prefers_interleaved(w);
  const size_t matrix_bytes = interleave ? kernels::interleaved_bytes(w) : stored.size();
  const size_t copies = std::max<size_t>(2, bytes / matrix_bytes);
  // On huge pages, as the CPU backend keeps a model's matrices (backend/cpu/interleave.h).
  HostMemory buffer;
  try {
    buffer = HostMemory(copies * matrix_bytes);
  } catch (const std::bad_alloc&) {
    throw Error(str("cannot allocate ", copies * matrix_bytes >> 20,
                    " MiB for the decode measurement; ask for a smaller buffer"));
  }
  if (interleave) {
    kernels::interleave(w, buffer.data());
  } else {
    std::memcpy(buffer.data(), stored.data(), matrix_bytes);
  }
  for (size_t c = 1; c < copies; ++c) {
    std::memcpy(buffer.data() + c * matrix_bytes, buffer.data(), matrix_bytes);
  }

  std::vector<float> x(kInputs);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (float& v : x) v = value(rng);
  std::vector<float> y(kOutputs), first(kOutputs);
  std::vector<double> rates;
  for (size_t i = 0; i < copies * static_cast<size_t>(sweeps); ++i) {
    kernels::WeightMatrix copy = w;
    copy.data = buffer.data() + (i % copies) * matrix_bytes;
    copy.interleaved = interleave;
    const auto start = std::chrono::steady_clock::now();
    kernels::matmul(copy, x.data(), 1, y.data(), pool);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Identical copies give identical products; checking them keeps the work observable.
    if (i == 0) {
      first = y;
      for (float v : y) BOTTEGA_CHECK(std::isfinite(v), "decode probe produced ", v);
    } else {
      BOTTEGA_CHECK(y == first, "decode probe: copy ", i % copies, " gave another product");
    }
    if (seconds > 0.0) rates.push_back(static_cast<double>(stored.size()) / seconds);
  }
  // The median, as for the read bandwidth: decoding lasts seconds and meets the typical matrix.
  return rate_at(std::move(rates), 0.5);
}

}  // namespace bottega::hw
