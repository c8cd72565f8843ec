// bottega embed on a random-weight BERT model (synth --arch bert with the BGE vocabulary): the
// printed vectors are the library's embeddings, unit length, the same for the same text in any
// position of a file, and the plain and JSON outputs agree.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "model/encoder.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace bottega {
namespace {

using testing::run_bottega;
using Vectors = std::vector<std::vector<float>>;

std::string write_bert(const testing::TempDir& dir) {
  const auto out = dir / "bge.gguf";
  const auto r = run_bottega({"synth", "--arch", "bert", "--dim", "64", "--layers", "2", "--heads",
                              "4", "--ffn", "128", "--ctx", "32", "--type", "Q8_0", "--vocab-from",
                              testing::shared_file("vocab/ggml-vocab-bert-bge.gguf").string(), "-o",
                              out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out.string();
}

Vectors parse_json(const std::string& out) {
  return nlohmann::json::parse(out).get<Vectors>();
}

Vectors parse_plain(const std::string& out) {
  Vectors vectors;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream values(line);
    auto& v = vectors.emplace_back();
    for (float x; values >> x;) v.push_back(x);
  }
  return vectors;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

TEST(Embed, PrintsTheLibrarysEmbeddings) {
  const testing::TempDir dir;
  const std::string model = write_bert(dir);
  std::ofstream(dir / "in.txt")
      << "The cat sat on the mat.\nA dog barked.\n\nThe cat sat on the mat.\n";
  const auto json =
      run_bottega({"embed", "-m", model, "-f", (dir / "in.txt").string(), "--json", "-t", "2"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const Vectors printed = parse_json(json.out);
  ASSERT_EQ(printed.size(), 3u);  // the empty line is skipped
  ASSERT_EQ(printed[0].size(), 64u);
  EXPECT_NEAR(dot(printed[0], printed[0]), 1.0, 1e-6);
  EXPECT_NEAR(dot(printed[0], printed[2]), 1.0, 1e-6);  // the same text: cosine 1
  EXPECT_EQ(printed[0], printed[2]);                    // exactly, batched with other inputs
  EXPECT_LT(dot(printed[0], printed[1]), 0.999);        // a different text is another vector

  // The same numbers as the library gives for [CLS] text [SEP] with the file's pooling (cls).
  const auto tokenizer = tokenizer::load_tokenizer(gguf::File::open(model));
  const Encoder encoder(gguf::File::open(model));
  ThreadPool pool(1);
  const std::vector<int32_t> tokens = tokenizer->encode("A dog barked.", true, false);
  EXPECT_EQ(tokens.front(), 101);  // [CLS]: the vocabulary's add_bos
  EXPECT_EQ(tokens.back(), 102);   // [SEP]: its add_eos
  const Vectors expected = encoder.embed(std::vector<std::vector<int32_t>>{tokens}, {}, pool);
  EXPECT_EQ(printed[1], expected[0]);

  // Plain output holds the same floats (printed with 9 significant digits: exact for floats).
  const auto plain = run_bottega({"embed", "-m", model, "-p", "A dog barked."});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(parse_plain(plain.out), expected);
}

TEST(Embed, PoolingAndNormalisationFlags) {
  const testing::TempDir dir;
  const std::string model = write_bert(dir);
  const std::string text = "Pooling changes the vector.";
  auto embed = [&](std::vector<std::string> flags) {
    std::vector<std::string> args = {"embed", "-m", model, "-p", text, "--json"};
    args.insert(args.end(), flags.begin(), flags.end());
    const auto r = run_bottega(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return parse_json(r.out).at(0);
  };
  const auto cls = embed({});
  const auto mean = embed({"--pooling", "mean"});
  EXPECT_EQ(embed({"--pooling", "cls"}), cls);  // the file's pooling_type is cls
  EXPECT_LT(dot(cls, mean), 0.999);
  const auto raw = embed({"--pooling", "mean", "--no-normalize"});
  const double norm = std::sqrt(dot(raw, raw));
  EXPECT_GT(std::fabs(norm - 1.0), 0.01);
  for (size_t i = 0; i < raw.size(); ++i) EXPECT_NEAR(raw[i] / norm, mean[i], 1e-6);
}

TEST(Embed, ErrorsNameTheProblem) {
  const testing::TempDir dir;
  const std::string model = write_bert(dir);
  const auto missing = run_bottega({"embed", "-m", model});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("-p or -f"), std::string::npos) << missing.err;
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "word ";
  const auto too_long = run_bottega({"embed", "-m", model, "-p", long_text});
  EXPECT_EQ(too_long.exit_code, 1);
  EXPECT_NE(too_long.err.find("42 tokens, more than the 32 this model reads"), std::string::npos)
      << too_long.err;
  // A text-generating model is not an embedding model.
  const auto decoder = run_bottega(
      {"embed", "-m", testing::shared_file("models/aidreams260K.gguf").string(), "-p", "hi"});
  EXPECT_EQ(decoder.exit_code, 1);
  EXPECT_NE(decoder.err.find("not an embedding model"), std::string::npos) << decoder.err;
}

// quantize keeps an embedding model an embedding model: its matrices in Q8_0, the position and
// token-type tables in F32, and vectors close to the float model's.
TEST(Embed, QuantizedModelGivesCloseVectors) {
  const testing::TempDir dir;
  const auto f32 = dir / "f32.gguf";
  const auto q8 = dir / "q8.gguf";
  auto r = run_bottega({"synth", "--arch", "bert", "--dim", "64", "--layers", "2", "--heads", "4",
                        "--ffn", "128", "--ctx", "32", "--type", "F32", "--vocab-from",
                        testing::shared_file("vocab/ggml-vocab-bert-bge.gguf").string(), "-o",
                        f32.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_bottega({"quantize", f32.string(), q8.string(), "Q8_0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const gguf::File file = gguf::File::open(q8);
  EXPECT_EQ(file.find_tensor("blk.0.attn_q.weight")->type, TensorType::Q8_0);
  EXPECT_EQ(file.find_tensor("position_embd.weight")->type, TensorType::F32);
  EXPECT_EQ(file.find_tensor("blk.0.attn_q.bias")->type, TensorType::F32);
  auto embed = [&](const std::filesystem::path& model) {
    const auto out =
        run_bottega({"embed", "-m", model.string(), "-p", "Quantized or not.", "--json"});
    EXPECT_EQ(out.exit_code, 0) << out.err;
    return parse_json(out.out).at(0);
  };
  const double cosine = dot(embed(f32), embed(q8));
  EXPECT_GT(cosine, 0.999);
  EXPECT_LT(cosine, 1.0);  // really another model
}

}  // namespace
}  // namespace bottega
