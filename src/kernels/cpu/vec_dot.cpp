// The dot-kernel table (one row per computable weight type) and the ISA choice.
#include "kernels/cpu/vec_dot.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "kernels/cpu/vec_dot_impl.h"

namespace bottega::kernels {
namespace {

using T = TensorType;

struct RefRow {
  TensorType weight;
  TensorType activation;
  VecDotFn dot;
};

// The activation rows' writer where it is not the activation type's own encoder.
ActivationQuantizeFn activation_writer(TensorType activation) {
  if (activation == T::F32) return nullptr;
  if (activation == T::BF16) return round_to_bf16_values;
  return type_traits(activation).quantize;
}

// One row per weight type the engine computes with; a type missing here cannot be multiplied.
constexpr std::array kRefRows = {
    RefRow{T::F32, T::F32, dot_ref::f32_f32},     RefRow{T::F16, T::F32, dot_ref::f16_f32},
    RefRow{T::BF16, T::BF16, dot_ref::bf16_f32},  RefRow{T::Q4_0, T::Q8_0, dot_ref::q4_0_q8_0},
    RefRow{T::Q4_1, T::Q8_1, dot_ref::q4_1_q8_1}, RefRow{T::Q5_0, T::Q8_0, dot_ref::q5_0_q8_0},
    RefRow{T::Q5_1, T::Q8_1, dot_ref::q5_1_q8_1}, RefRow{T::Q8_0, T::Q8_0, dot_ref::q8_0_q8_0},
    RefRow{T::Q8_1, T::Q8_0, dot_ref::q8_1_q8_0}, RefRow{T::Q2_K, T::Q8_K, dot_ref::q2_k_q8_k},
    RefRow{T::Q3_K, T::Q8_K, dot_ref::q3_k_q8_k}, RefRow{T::Q4_K, T::Q8_K, dot_ref::q4_k_q8_k},
    RefRow{T::Q5_K, T::Q8_K, dot_ref::q5_k_q8_k}, RefRow{T::Q6_K, T::Q8_K, dot_ref::q6_k_q8_k},
    RefRow{T::Q8_K, T::Q8_K, dot_ref::q8_k_q8_k}, RefRow{T::MXFP4, T::Q8_0, dot_ref::mxfp4_q8_0},
};

const RefRow& ref_row(TensorType weight) {
  const auto it = std::find_if(kRefRows.begin(), kRefRows.end(),
                               [&](const RefRow& row) { return row.weight == weight; });
  BOTTEGA_CHECK(it != kRefRows.end(), "no dot kernel for weight type ", type_name(weight));
  return *it;
}

// BOTTEGA_ISA=NAME limits the engine to the ISAs up to NAME (ref, avx2, ...): to compare paths
// end to end, to measure what a newer ISA gains, or to stand in for an older CPU. It is read once,
// with the CPU's features; a name this CPU does not run is an error.
std::vector<Isa> detect_isas() {
  std::vector<Isa> isas = {Isa::kRef};
  for (Isa isa : cpu_simd_isas()) isas.push_back(isa);
  const char* forced = std::getenv("BOTTEGA_ISA");
  if (forced == nullptr || *forced == '\0') return isas;
  std::string names;
  for (size_t i = 0; i < isas.size(); ++i) {
    names += (i == 0 ? "" : ", ") + std::string(isa_name(isas[i]));
    if (std::string_view(forced) == isa_name(isas[i])) {
      isas.resize(i + 1);
      return isas;
    }
  }
  throw Error("BOTTEGA_ISA=" + std::string(forced) + " is not an instruction set this CPU runs (" +
              names + "); unset it or pick one of those");
}

// Detected once; const afterwards.
const std::vector<Isa>& isas() {
  static const std::vector<Isa> detected = detect_isas();
  return detected;
}

}  // namespace

void round_to_bf16_values(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<float*>(dst);
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(f32_to_bf16(src[i]));
}

size_t DotKernel::activation_row_bytes(int64_t n) const {
  return float_rows() ? static_cast<size_t>(n) * sizeof(float) : row_bytes(activation, n);
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kRef:
      return "ref";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kNeon:
      return "neon";
    case Isa::kNeonDot:
      return "neon-dotprod";
  }
  return "?";
}

Isa best_isa() {
  return isas().back();
}

std::span<const Isa> available_isas() {
  return isas();
}

TensorType activation_type(TensorType weight) {
  return ref_row(weight).activation;
}

VecDotFn reference_dot(TensorType weight) {
  return ref_row(weight).dot;
}

void check_available(Isa isa) {
  BOTTEGA_CHECK(std::find(isas().begin(), isas().end(), isa) != isas().end(), "ISA ", isa_name(isa),
                " is not available on this CPU");
}

DotKernel dot_kernel(TensorType weight, Isa isa) {
  const RefRow& row = ref_row(weight);
  check_available(isa);
  DotKernel kernel;
  kernel.activation = row.activation;
  kernel.dot = row.dot;
  kernel.quantize = activation_writer(row.activation);
  for (const IsaKernel& k : simd_kernels(isa)) {
    if (k.weight != weight) continue;
    if (k.dot != nullptr) kernel.dot = k.dot;
    kernel.tile = k.tile;
  }
  for (const IsaQuantizer& q : simd_quantizers(isa)) {
    if (q.activation == row.activation) kernel.quantize = q.quantize;
  }
  return kernel;
}

}  // namespace bottega::kernels
