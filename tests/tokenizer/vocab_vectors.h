// llama.cpp's tokenizer test vectors in shared/vocab, shared by the SPM and BPE vector tests.
//
// NAME.gguf.inp is a sequence of strings each followed by "\n__ggml_vocab_test__\n" (so a string
// may be empty or consist of newlines); NAME.gguf.out has one line of space-separated ids per
// string. The ids carry no BOS and no special-token parsing: llama.cpp's test-tokenizer-0 encodes
// with add_special=false, parse_special=false (the strings contain no special-token text anyway).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace bottega::tokenizer {

struct TestVector {
  std::string text;
  std::vector<int32_t> ids;
};

inline std::vector<std::string> read_inputs(const std::string& content) {
  static const std::string kSeparator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  size_t at = 0;
  for (size_t end = content.find(kSeparator, at); end != std::string::npos;
       end = content.find(kSeparator, at)) {
    inputs.push_back(content.substr(at, end - at));
    at = end + kSeparator.size();
  }
  EXPECT_EQ(at, content.size()) << "text after the last separator";
  return inputs;
}

inline std::vector<std::vector<int32_t>> read_outputs(const std::string& content) {
  std::vector<std::vector<int32_t>> outputs;
  std::istringstream lines(content);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream numbers(line);
    std::vector<int32_t> ids;
    for (int32_t id = 0; numbers >> id;) ids.push_back(id);
    outputs.push_back(std::move(ids));
  }
  return outputs;
}

inline std::vector<TestVector> read_vectors(const std::string& vocab_file) {
  const std::vector<std::string> inputs =
      read_inputs(testing::read_file(testing::shared_file(vocab_file + ".inp")));
  const std::vector<std::vector<int32_t>> outputs =
      read_outputs(testing::read_file(testing::shared_file(vocab_file + ".out")));
  EXPECT_EQ(inputs.size(), outputs.size()) << vocab_file;
  std::vector<TestVector> vectors;
  for (size_t i = 0; i < std::min(inputs.size(), outputs.size()); ++i) {
    vectors.push_back({inputs[i], outputs[i]});
  }
  return vectors;
}

inline std::string ids_text(const std::vector<int32_t>& ids) {
  std::ostringstream out;
  for (const int32_t id : ids) out << ' ' << id;
  return out.str();
}

// Shows control characters so a failing string is readable in the log.
inline std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

inline std::unique_ptr<Tokenizer> open_tokenizer(const std::string& vocab_file) {
  const gguf::File file = gguf::File::open(testing::shared_file(vocab_file));
  return load_tokenizer(file);
}

}  // namespace bottega::tokenizer
