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

# bottega_module(NAME SOURCES a.cpp b.cpp DEPS other_module ...)
# Creates the static library bottega_NAME; headers are included as "NAME/file.h" from src/.
function(bottega_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(bottega_${name} STATIC ${ARG_SOURCES})
  target_include_directories(bottega_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(bottega_${name} PRIVATE ${BOTTEGA_WARNINGS})
  target_link_libraries(bottega_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# bottega_test(NAME SOURCES a_test.cpp DEPS bottega_x ...)
# One GoogleTest executable per module; each TEST becomes its own ctest entry, except under the
# sanitizers: there listing the tests at build time and starting an instrumented process per test
# (about 600) cost minutes, so each executable is one entry that runs all of its tests.
function(bottega_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name}_test ${ARG_SOURCES})
  target_compile_options(${name}_test PRIVATE ${BOTTEGA_WARNINGS})
  target_include_directories(${name}_test PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name}_test PRIVATE ${ARG_DEPS} bottega_testutil GTest::gtest_main)
  # Tests that drive the CLI find the binary through BOTTEGA_BIN.
  set(environment "BOTTEGA_BIN=${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/bottega")
  if(BOTTEGA_SANITIZE)
    # The tests' own code is mostly GoogleTest macros, which take 2.5 times as long to compile
    # optimised under the sanitizers; the code under test keeps the preset's -O2.
    target_compile_options(${name}_test PRIVATE -O0)
    add_test(NAME ${name}_test COMMAND ${name}_test --gtest_brief=1)
    set_tests_properties(${name}_test PROPERTIES ENVIRONMENT "${environment}")
  else()
    gtest_discover_tests(${name}_test DISCOVERY_TIMEOUT 60 PROPERTIES ENVIRONMENT "${environment}")
  endif()
endfunction()
