# Helpers that keep each module's CMakeLists.txt to a list of sources and dependencies.

set(BOTTEGA_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Wunused -Woverloaded-virtual -Wimplicit-fallthrough -Werror)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 at -O3 reports std::vector growth paths as overflows (GCC bugs 106199, 107852); the
  # sanitizer build checks real out-of-bounds accesses instead.
  list(APPEND BOTTEGA_WARNINGS -Wno-stringop-overflow -Wno-stringop-overread -Wno-array-bounds)
endif()

if(BOTTEGA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Under the sanitizers these modules compile at -Og: their code handles requests, files and the
# command line rather than arithmetic, and at -O2 they were half of that build's compile time (the
# CLI's unity batches 100 and 57 s, server.cpp 35 s; at -Og 27 and 13 s). The modules the tests
# spend their time in (kernels, model, backend, tokenizer, engine) keep -O2.
set(BOTTEGA_SANITIZE_OG_MODULES cli server store template grammar)

function(bottega_sanitize_og target name)
  if(BOTTEGA_SANITIZE AND name IN_LIST BOTTEGA_SANITIZE_OG_MODULES)
    target_compile_options(${target} PRIVATE -Og)
  endif()
endfunction()

# Files per unity batch: the test binaries always, the modules under the sanitizers.
set(BOTTEGA_UNITY_BATCH 4)

# Modules whose files compile one by one even under the sanitizers: the kernels' files carry their
# own ISA flags; the architecture files (model) and the tokenizers name their file-local helpers
# alike (read, synth, Symbol), and gguf's reader and the encoder hold file-local types in their
# classes.
set(BOTTEGA_ONE_FILE_MODULES kernels gguf model tokenizer)

# bottega_module(NAME SOURCES a.cpp b.cpp DEPS other_module ...)
# Creates the static library bottega_NAME; headers are included as "NAME/file.h" from src/.
function(bottega_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(bottega_${name} STATIC ${ARG_SOURCES})
  target_include_directories(bottega_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(bottega_${name} PRIVATE ${BOTTEGA_WARNINGS})
  target_link_libraries(bottega_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  bottega_sanitize_og(bottega_${name} ${name})
  # Under the sanitizers a module's files compile in batches, as the tests do: the headers they
  # share (nlohmann-json, httplib, the modules') are parsed once per batch.
  if(BOTTEGA_SANITIZE AND NOT name IN_LIST BOTTEGA_ONE_FILE_MODULES)
    set_target_properties(bottega_${name} PROPERTIES UNITY_BUILD ON
                                                     UNITY_BUILD_BATCH_SIZE ${BOTTEGA_UNITY_BATCH})
  endif()
endfunction()

# bottega_test(NAME SOURCES a_test.cpp DEPS bottega_x ... [SANITIZER_COST SECONDS])
# One GoogleTest executable per module; each TEST becomes its own ctest entry, except under the
# sanitizers: there listing the tests at build time and starting an instrumented process per test
# (about 600) cost minutes, so each executable is one entry that runs all of its tests.
function(bottega_test name)
  cmake_parse_arguments(ARG "" "SANITIZER_COST" "SOURCES;DEPS" ${ARGN})
  add_executable(${name}_test ${ARG_SOURCES})
  target_compile_options(${name}_test PRIVATE ${BOTTEGA_WARNINGS})
  target_include_directories(${name}_test PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  # Parsing gtest.h costs each test file about 1.7 s; a header compiled once per binary saves it.
  target_precompile_headers(${name}_test PRIVATE <gtest/gtest.h> <string> <vector>)
  # Test files compile in unity batches: the headers they share (the modules', nlohmann-json,
  # httplib) are parsed once per batch. A file whose file-local names clash with another's sets
  # SKIP_UNITY_BUILD_INCLUSION and compiles alone.
  set_target_properties(${name}_test PROPERTIES UNITY_BUILD ON
                                                UNITY_BUILD_BATCH_SIZE ${BOTTEGA_UNITY_BATCH})
  target_link_libraries(${name}_test PRIVATE ${ARG_DEPS} bottega_testutil GTest::gtest_main)
  # Tests that drive the CLI find the binary through BOTTEGA_BIN.
  set(environment "BOTTEGA_BIN=${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/bottega")
  if(BOTTEGA_SANITIZE)
    # The tests' own code is mostly GoogleTest macros, which take 2.5 times as long to compile
    # optimised under the sanitizers; the code under test keeps the preset's -O2.
    target_compile_options(${name}_test PRIVATE -O0)
    target_sources(${name}_test PRIVATE ${PROJECT_SOURCE_DIR}/tests/testutil/keep_vulkan_driver_loaded.cpp)
    set_source_files_properties(${PROJECT_SOURCE_DIR}/tests/testutil/keep_vulkan_driver_loaded.cpp
                                PROPERTIES SKIP_PRECOMPILE_HEADERS ON SKIP_UNITY_BUILD_INCLUSION ON)
    target_link_libraries(${name}_test PRIVATE ${CMAKE_DL_LIBS})
    add_test(NAME ${name}_test COMMAND ${name}_test --gtest_brief=1)
    set_tests_properties(${name}_test PROPERTIES ENVIRONMENT "${environment}")
    if(ARG_SANITIZER_COST)
      # A clean build has no timings yet: the longest binaries start first, so the last one
      # does not run alone while the other core idles.
      set_tests_properties(${name}_test PROPERTIES COST ${ARG_SANITIZER_COST})
    endif()
  else()
    # Test code is GoogleTest macros and small checks; -O1 compiles it in about half the time of
    # -O3. The double-precision references, where the tests' arithmetic is, set -O2 per file.
    target_compile_options(${name}_test PRIVATE -O1)
    gtest_discover_tests(${name}_test DISCOVERY_TIMEOUT 60 PROPERTIES ENVIRONMENT "${environment}")
  endif()
endfunction()
