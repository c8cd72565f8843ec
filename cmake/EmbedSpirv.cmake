# Writes a C++ source that holds compiled compute shaders (SPIR-V) as 32-bit word arrays, so the
# Vulkan backend needs no shader files at run time. Script mode, run at build time:
#
#   cmake -DOUTPUT=shaders.cpp -DDIR=build/shaders -DNAMES=add,matmul_q4_0 -P EmbedSpirv.cmake
#
# Each NAME is read from DIR/NAME.spv. NAMES is comma-separated for the same reason as in
# EmbedFiles.cmake. The generated file defines vulkan::shader_spirv() (backend/vulkan/shaders.h).

foreach(var OUTPUT DIR NAMES)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "EmbedSpirv.cmake: -D${var}=... is required")
  endif()
endforeach()

string(REPLACE "," ";" names "${NAMES}")
set(arrays "")
set(entries "")
set(index 0)
foreach(name IN LISTS names)
  file(READ "${DIR}/${name}.spv" hex HEX)
  string(LENGTH "${hex}" digits)
  math(EXPR remainder "${digits} % 8")
  if(digits EQUAL 0 OR NOT remainder EQUAL 0)
    message(FATAL_ERROR "EmbedSpirv.cmake: ${DIR}/${name}.spv is not whole 32-bit words")
  endif()
  # SPIR-V is a stream of little-endian words: bytes b0 b1 b2 b3 become 0xb3b2b1b0.
  string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
  # Eight words a line.
  string(REGEX REPLACE "((0x[0-9a-f]+u,){8})" "\\1\n" words "${words}")
  string(APPEND arrays "// ${name}.spv\nconst uint32_t k_shader${index}[] = {\n${words}};\n\n")
  string(APPEND entries "      {\"${name}\", k_shader${index}},\n")
  math(EXPR index "${index} + 1")
endforeach()

set(source "// Generated at build time by cmake/EmbedSpirv.cmake from ${DIR}; do not edit.
#include \"backend/vulkan/shaders.h\"

namespace bottega::vulkan {
namespace {

${arrays}struct NamedShader {
  std::string_view name;
  std::span<const uint32_t> words;
};

}  // namespace

std::span<const uint32_t> shader_spirv(std::string_view name) {
  static const NamedShader shaders[] = {
${entries}  };
  for (const NamedShader& shader : shaders) {
    if (shader.name == name) return shader.words;
  }
  return {};
}

}  // namespace bottega::vulkan
")

file(WRITE "${OUTPUT}" "${source}")
