// The compute shaders compiled into the binary (shaders/*.comp, by glslc at build time; the
// generated shaders.cpp holds their SPIR-V).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace bottega::vulkan {

// "rms_norm", "matmul_q4_0", "get_rows_f16", ...: empty when no shader has that name.
std::span<const uint32_t> shader_spirv(std::string_view name);

}  // namespace bottega::vulkan
