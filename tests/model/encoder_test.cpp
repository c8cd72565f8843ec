// The encoder on random-weight models written by `synth --arch bert` and `--arch nomic-bert` (the
// BGE vocabulary, 128 wide, 4 heads, 2 layers, 64 positions) against the double-precision
// reference in reference_encoder.cpp.
//
// Embeddings are unit vectors, so the bound is absolute on each component: float weights differ
// from the reference by float32 rounding only, |engine - reference| <= 1e-6 (measured: 7e-8).
// Quantized weights make matmul round its inputs (Q8_0 for Q8_0 weights; F16 weights take float
// inputs); the bound adds twice the effect of that rounding on the reference itself, as
// decoder_forward_test does. Each piece of a family (the token-type row, the post-LayerNorms,
// attention kept within each input; BERT's position embeddings and exact GELU; nomic-bert's rotary
// positions and their NeoX pairs) is proven to matter: the reference without it must be off by
// more than ten times the bound.
#include "model/encoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "convert/synth.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "model/reference_encoder.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace bottega {
namespace {

using testing::EncoderQuirks;
using testing::ReferenceEncoder;
using testing::TempDir;
using Inputs = std::vector<std::vector<int32_t>>;

constexpr double kFloatBound = 1e-6;
constexpr int64_t kContext = 64;

std::filesystem::path write_encoder(const TempDir& dir, const std::string& type,
                                    const std::string& arch = "bert") {
  convert::SynthOptions options;
  options.arch = arch;
  options.dim = 128;
  options.layers = 2;
  options.heads = 4;
  options.ffn = 256;
  options.ctx = kContext;
  options.type = type;
  options.seed = 11;
  options.vocab_from = testing::shared_file("vocab/ggml-vocab-bert-bge.gguf");
  options.out = dir / (arch + "-" + type + ".gguf");
  ThreadPool pool(2);
  convert::synth_model(options, pool);
  return options.out;
}

// Real text through the model's WordPiece tokenizer ([CLS] ... [SEP]), plus random ids.
Inputs test_inputs(const std::filesystem::path& path) {
  const auto tokenizer = tokenizer::load_tokenizer(gguf::File::open(path));
  Inputs inputs = {tokenizer->encode("The quick brown fox jumps over the lazy dog.", true, false),
                   tokenizer->encode("Embeddings", true, false)};
  std::vector<int32_t> random;
  uint32_t state = 5;
  for (int i = 0; i < kContext; ++i) {  // exactly the longest input the model reads
    state = state * 1664525u + 1013904223u;
    random.push_back(static_cast<int32_t>((state >> 8) % 30522u));
  }
  inputs.push_back(random);
  return inputs;
}

double max_diff(const std::vector<std::vector<float>>& engine,
                const std::vector<std::vector<double>>& reference) {
  double m = 0.0;
  for (size_t i = 0; i < engine.size(); ++i) {
    for (size_t d = 0; d < engine[i].size(); ++d) {
      m = std::max(m, std::fabs(engine[i][d] - reference[i][d]));
    }
  }
  return m;
}

double max_diff(const std::vector<std::vector<double>>& a,
                const std::vector<std::vector<double>>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t d = 0; d < a[i].size(); ++d) m = std::max(m, std::fabs(a[i][d] - b[i][d]));
  }
  return m;
}

double bound_for(const ReferenceEncoder& reference, const Inputs& inputs, bool mean,
                 const std::vector<std::vector<double>>& expected, bool float_weights) {
  if (float_weights) return kFloatBound;
  ReferenceEncoder unrounded = reference;
  unrounded.round_activations = false;
  return kFloatBound +
         2.0 * max_diff(testing::reference_embeddings(unrounded, inputs, mean), expected);
}

using Piece = std::pair<bool EncoderQuirks::*, const char*>;

// What each family has, each piece proven to matter by switching it off in the reference.
std::vector<Piece> pieces_of(const std::string& arch) {
  using Q = EncoderQuirks;
  std::vector<Piece> pieces = {{&Q::token_type, "the token-type row"},
                               {&Q::post_norms, "the post-LayerNorms"},
                               {&Q::attention_within_input, "attention kept within each input"}};
  if (arch == "bert") {
    pieces.push_back({&Q::positions, "position embeddings"});
    pieces.push_back({&Q::gelu_erf, "the exact GELU"});
  } else {
    pieces.push_back({&Q::positions, "rotary positions"});
    pieces.push_back({&Q::neox, "NeoX rotary pairs"});
  }
  return pieces;
}

void expect_matches_reference(const std::string& arch, const std::string& type, bool prove_pieces) {
  TempDir dir;
  const auto path = write_encoder(dir, type, arch);
  const ReferenceEncoder reference = testing::load_reference_encoder(path);
  const Encoder encoder(gguf::File::open(path));
  // synth writes each family's usual pooling: BGE's cls, nomic-embed-text's mean.
  EXPECT_EQ(encoder.config().pooling, arch == "bert" ? Pooling::kCls : Pooling::kMean);
  const Inputs inputs = test_inputs(path);
  ThreadPool pool(2);
  for (const bool mean : {false, true}) {
    const auto engine = encoder.embed(inputs, {mean ? Pooling::kMean : Pooling::kCls, true}, pool);
    const auto expected = testing::reference_embeddings(reference, inputs, mean);
    const double bound = bound_for(reference, inputs, mean, expected, type == "F32");
    const double diff = max_diff(engine, expected);
    const std::string what = arch + " " + type + (mean ? " mean" : " cls");
    EXPECT_LE(diff, bound) << what;
    std::printf("%s pooling: max |engine - reference| %.3g, bound %.3g\n", what.c_str(), diff,
                bound);
    for (const auto& embedding : engine) {
      double norm = 0.0;
      for (float v : embedding) norm += static_cast<double>(v) * v;
      EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-6);
    }
    if (!prove_pieces) continue;
    for (const auto& [piece, name] : pieces_of(arch)) {
      ReferenceEncoder without = reference;
      without.quirks.*piece = false;
      const double wrong = max_diff(engine, testing::reference_embeddings(without, inputs, mean));
      EXPECT_GT(wrong, 10.0 * bound)
          << what << ": the reference without " << name << " still agrees";
      std::printf("  without %s: off by %.3g\n", name, wrong);
    }
  }
}

TEST(Encoder, MatchesTheReferenceWithFloatWeights) {
  for (const char* arch : {"bert", "nomic-bert"}) expect_matches_reference(arch, "F32", true);
}

TEST(Encoder, MatchesTheReferenceWithQuantizedWeights) {
  for (const char* arch : {"bert", "nomic-bert"}) {
    expect_matches_reference(arch, "Q8_0", false);
    expect_matches_reference(arch, "F16", false);
  }
}

TEST(Encoder, UnnormalisedEmbeddingIsThePooledState) {
  TempDir dir;
  const auto path = write_encoder(dir, "F32");
  const ReferenceEncoder reference = testing::load_reference_encoder(path);
  const Encoder encoder(gguf::File::open(path));
  const Inputs inputs = test_inputs(path);
  ThreadPool pool(1);
  const auto engine = encoder.embed(inputs, {Pooling::kMean, false}, pool);
  const auto expected = testing::reference_embeddings(reference, inputs, true, false);
  // LayerNorm outputs are of unit scale, so the float bound holds relative to about 1.
  EXPECT_LE(max_diff(engine, expected), 10 * kFloatBound);
  double norm = 0.0;
  for (float v : engine[0]) norm += static_cast<double>(v) * v;
  EXPECT_GT(std::fabs(std::sqrt(norm) - 1.0), 0.01);  // really not normalised
}

// Several inputs in one forward pass give each input exactly what it gets alone, on any thread
// count: attention stays within an input and every row is computed the same way in any batch.
TEST(Encoder, BatchedInputsEqualEachAloneBitForBit) {
  TempDir dir;
  for (const auto& [arch, type] : std::vector<std::pair<std::string, std::string>>{
           {"bert", "F32"}, {"bert", "Q8_0"}, {"nomic-bert", "Q8_0"}}) {
    const auto path = write_encoder(dir, type, arch);
    const Encoder encoder(gguf::File::open(path));
    const Inputs inputs = test_inputs(path);
    ThreadPool two(2), three(3);
    const auto together = encoder.embed(inputs, {}, two);
    ASSERT_EQ(together.size(), inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto alone = encoder.embed(Inputs{inputs[i]}, {}, three);
      ASSERT_EQ(alone.size(), 1u);
      EXPECT_EQ(alone[0], together[i]) << arch << " " << type << " input " << i;
    }
  }
}

TEST(Encoder, RejectsInputsItCannotRead) {
  TempDir dir;
  const Encoder encoder(gguf::File::open(write_encoder(dir, "F32")));
  ThreadPool pool(1);
  auto message = [&](const Inputs& inputs) {
    try {
      encoder.embed(inputs, {}, pool);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({{101, 102}, {}}), "input 1 is empty: there is nothing to embed");
  EXPECT_NE(message({std::vector<int32_t>(kContext + 1, 100)}).find("more than the 64"),
            std::string::npos);
  EXPECT_NE(message({{101, 30522}}).find("token id 30522, outside the vocabulary of 30522"),
            std::string::npos);
  EXPECT_NE(message({{-1}}).find("token id -1"), std::string::npos);
}

// A decoder loader given an embedding model says what to use instead.
TEST(Encoder, DecoderLoaderPointsToEmbed) {
  TempDir dir;
  const auto path = write_encoder(dir, "F32");
  try {
    load_model(gguf::File::open(path));
    FAIL() << "loaded an embedding model as a decoder";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is an embedding model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bottega
