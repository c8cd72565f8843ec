# Writes a C++ source that holds files' bytes, so that the binary serves them without reading the
# disk or the network (the chat page of `bottega serve`). Script mode, run at build time:
#
#   cmake -DOUTPUT=web_files.cpp -DDIR=src/server/web -DNAMES=index.html,app.js -P EmbedFiles.cmake
#
# NAMES is comma-separated because a semicolon-separated list would not survive the build tool's
# command line. The generated file defines server::embedded_web_files() (server/web_assets.h).
# Each array ends in an extra 0 so that an empty file is still a valid array; sizes leave it out.

foreach(var OUTPUT DIR NAMES)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "EmbedFiles.cmake: -D${var}=... is required")
  endif()
endforeach()

string(REPLACE "," ";" names "${NAMES}")
set(arrays "")
set(entries "")
set(index 0)
foreach(name IN LISTS names)
  file(READ "${DIR}/${name}" hex HEX)
  # 32 bytes (64 hex digits) a line, then each byte as 0xNN.
  string(REGEX REPLACE "(................................................................)" "\\1\n"
         hex "${hex}")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND arrays "// ${name}\nconst unsigned char k_file${index}[] = {\n${bytes}0};\n\n")
  string(APPEND entries
         "      {\"${name}\", {reinterpret_cast<const char*>(k_file${index}), "
         "sizeof k_file${index} - 1}},\n")
  math(EXPR index "${index} + 1")
endforeach()

set(source "// Generated at build time by cmake/EmbedFiles.cmake from ${DIR}; do not edit.
#include \"server/web_assets.h\"

namespace bottega::server {
namespace {

${arrays}}  // namespace

std::span<const EmbeddedFile> embedded_web_files() {
  static const EmbeddedFile files[] = {
${entries}  };
  return files;
}

}  // namespace bottega::server
")

file(WRITE "${OUTPUT}" "${source}")
