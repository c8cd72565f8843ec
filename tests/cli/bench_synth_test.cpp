// bottega synth, bench and hw: synthetic models have the shape, types and metadata asked for and
// run; bench measures them in llama-bench's formats; hw reports the machine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "testutil/testutil.h"

namespace bottega {
namespace {

using nlohmann::json;
using testing::hw_env;
using testing::run_bottega;

struct Shape {
  int dim;
  int layers;
  int heads;
  int kv_heads;
  int ffn;
};

// Small models: 64 wide, or 256 for the K-quants, whose rows must hold whole 256-value
// super-blocks.
Shape small_shape(const std::string& type) {
  const bool k_quant = type.find("_K") != std::string::npos;
  return k_quant ? Shape{256, 2, 4, 2, 512} : Shape{64, 2, 4, 2, 128};
}

std::vector<std::string> synth_args(const Shape& s, const std::string& type,
                                    const std::string& out) {
  const std::string vocab = testing::shared_file("vocab/ggml-vocab-llama-spm.gguf").string();
  std::vector<std::string> args = {"synth", "--arch", "llama",        "--type", type,
                                   "-o",    out,      "--vocab-from", vocab};
  for (const auto& [flag, value] :
       {std::pair{"--dim", s.dim}, std::pair{"--layers", s.layers}, std::pair{"--heads", s.heads},
        std::pair{"--kv-heads", s.kv_heads}, std::pair{"--ffn", s.ffn}}) {
    args.insert(args.end(), {flag, std::to_string(value)});
  }
  return args;
}

std::string synth(const testing::TempDir& dir, const Shape& s, const std::string& type,
                  const std::string& name = "model.gguf") {
  const std::string out = (dir / name).string();
  const auto r = run_bottega(synth_args(s, type, out));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

json show(const std::string& path) {
  const auto r = run_bottega({"show", path, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

struct TypeCase {
  std::string type;
  int file_type;  // llama.cpp's LLAMA_FTYPE
};

// The type each matrix should have in a 2-layer model of small_shape(type), by llama.cpp's policy:
// the output matrix gets Q6_K in quantized files (Q8_0 when its 64-value rows cannot hold a Q6_K
// super-block, or in Q8_0 files); the _M mixes give the last layer's attn_v and ffn_down Q6_K
// (use_more_bits(1, 2)); plain Q4_K/Q5_K and float files are uniform.
std::string expected_type(const std::string& file_type, const std::string& tensor) {
  const bool is_float = file_type == "F32" || file_type == "F16" || file_type == "BF16";
  const bool uniform = is_float || file_type == "Q4_K" || file_type == "Q5_K";
  const bool medium = file_type.ends_with("_M");
  const std::string base = medium ? file_type.substr(0, file_type.size() - 2) : file_type;
  if (uniform) return base;
  if (tensor == "output.weight") {
    return base == "Q8_0" || small_shape(file_type).dim % 256 != 0 ? "Q8_0" : "Q6_K";
  }
  if (medium && (tensor == "blk.1.attn_v.weight" || tensor == "blk.1.ffn_down.weight")) {
    return "Q6_K";
  }
  return base;
}

void PrintTo(const TypeCase& c, std::ostream* out) {
  *out << c.type;
}

class SynthTypes : public ::testing::TestWithParam<TypeCase> {};

TEST_P(SynthTypes, ShowReportsShapeTypesFileTypeAndVocabulary) {
  const TypeCase& c = GetParam();
  const Shape s = small_shape(c.type);
  testing::TempDir dir;
  const json info = show(synth(dir, s, c.type));
  const json& meta = info["metadata"];
  EXPECT_EQ(info["architecture"], "llama");
  EXPECT_EQ(meta["general.file_type"], c.file_type);
  EXPECT_EQ(meta["llama.embedding_length"], s.dim);
  EXPECT_EQ(meta["llama.block_count"], s.layers);
  EXPECT_EQ(meta["llama.attention.head_count"], s.heads);
  EXPECT_EQ(meta["llama.attention.head_count_kv"], s.kv_heads);
  EXPECT_EQ(meta["llama.feed_forward_length"], s.ffn);
  EXPECT_EQ(meta["llama.rope.dimension_count"], s.dim / s.heads);
  EXPECT_EQ(meta["llama.context_length"], 2048);
  EXPECT_EQ(meta["llama.vocab_size"], 32000);
  EXPECT_EQ(info["tokenizer"]["vocab_size"], 32000);
  EXPECT_EQ(info["tokenizer"]["model"], "llama");
  EXPECT_EQ(meta["tokenizer.ggml.bos_token_id"], 1);

  const int kv_dim = s.dim / s.heads * s.kv_heads;
  std::map<std::string, std::vector<int>> shapes = {{"token_embd.weight", {s.dim, 32000}},
                                                    {"output_norm.weight", {s.dim}},
                                                    {"output.weight", {s.dim, 32000}}};
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    shapes[p + "attn_norm.weight"] = {s.dim};
    shapes[p + "attn_q.weight"] = {s.dim, s.dim};
    shapes[p + "attn_k.weight"] = {s.dim, kv_dim};
    shapes[p + "attn_v.weight"] = {s.dim, kv_dim};
    shapes[p + "attn_output.weight"] = {s.dim, s.dim};
    shapes[p + "ffn_norm.weight"] = {s.dim};
    shapes[p + "ffn_gate.weight"] = {s.dim, s.ffn};
    shapes[p + "ffn_up.weight"] = {s.dim, s.ffn};
    shapes[p + "ffn_down.weight"] = {s.ffn, s.dim};
  }
  ASSERT_EQ(info["tensors"].size(), shapes.size());
  for (const json& t : info["tensors"]) {
    const std::string name = t["name"];
    ASSERT_EQ(shapes.count(name), 1u) << name;
    EXPECT_EQ(t["shape"], json(shapes[name])) << name;
    const bool norm = name.find("_norm.") != std::string::npos;
    EXPECT_EQ(t["type"], norm ? "F32" : expected_type(c.type, name)) << name;
  }
}

TEST_P(SynthTypes, RunGeneratesTheRequestedTokens) {
  const TypeCase& c = GetParam();
  testing::TempDir dir;
  const std::string model = synth(dir, small_shape(c.type), c.type);
  const auto r = run_bottega(
      {"run", "-m", model, "-p", "Once upon a time", "-n", "6", "--temp", "0", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("generation 6 tokens"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, SynthTypes,
                         ::testing::Values(TypeCase{"F32", 0}, TypeCase{"F16", 1},
                                           TypeCase{"BF16", 32}, TypeCase{"Q8_0", 7},
                                           TypeCase{"Q4_0", 2}, TypeCase{"Q4_1", 3},
                                           TypeCase{"Q5_0", 8}, TypeCase{"Q5_1", 9},
                                           TypeCase{"Q4_K", 14}, TypeCase{"Q4_K_M", 15},
                                           TypeCase{"Q5_K", 16}, TypeCase{"Q5_K_M", 17},
                                           TypeCase{"Q6_K", 18}),
                         [](const auto& param_info) { return param_info.param.type; });

TEST(Synth, MediumMixUsesMoreBitsInLlamaCppsLayers) {
  // 8 layers: use_more_bits picks the first eighth (0), the last eighth (7) and every third layer
  // in between counted from the first eighth (3, 6).
  testing::TempDir dir;
  const json info = show(synth(dir, {256, 8, 4, 2, 512}, "Q4_K_M"));
  std::vector<int> q6_attn_v, q6_ffn_down;
  for (const json& t : info["tensors"]) {
    int layer = 0;
    char role[32] = {};
    const std::string name = t["name"];
    if (std::sscanf(name.c_str(), "blk.%d.%31[a-z_]", &layer, role) != 2) continue;
    if (t["type"] == "Q6_K" && std::string(role) == "attn_v") q6_attn_v.push_back(layer);
    if (t["type"] == "Q6_K" && std::string(role) == "ffn_down") q6_ffn_down.push_back(layer);
    if (t["type"] != "Q6_K" && name.find("_norm") == std::string::npos) {
      EXPECT_EQ(t["type"], "Q4_K") << name;
    }
  }
  EXPECT_EQ(q6_attn_v, (std::vector<int>{0, 3, 6, 7}));
  EXPECT_EQ(q6_ffn_down, (std::vector<int>{0, 3, 6, 7}));
}

TEST(Synth, SameSeedGivesTheSameBytesWhateverTheThreadsOrPath) {
  testing::TempDir dir;
  const Shape s = small_shape("Q4_K_M");
  auto args = synth_args(s, "Q4_K_M", (dir / "a.gguf").string());
  args.insert(args.end(), {"--seed", "7", "-t", "1"});
  ASSERT_EQ(run_bottega(args).exit_code, 0);
  args = synth_args(s, "Q4_K_M", (dir / "b.gguf").string());
  args.insert(args.end(), {"--seed", "7", "-t", "2"});
  ASSERT_EQ(run_bottega(args).exit_code, 0);
  args = synth_args(s, "Q4_K_M", (dir / "c.gguf").string());
  args.insert(args.end(), {"--seed", "8"});
  ASSERT_EQ(run_bottega(args).exit_code, 0);
  const std::string a = testing::read_file(dir / "a.gguf");
  EXPECT_TRUE(a == testing::read_file(dir / "b.gguf"));
  EXPECT_FALSE(a == testing::read_file(dir / "c.gguf"));
}

void expect_synth_error(std::vector<std::string> args, int code, const std::string& needle) {
  testing::TempDir dir;
  const auto out = dir / "bad.gguf";
  args.insert(args.end(), {"-o", out.string()});
  const auto r = run_bottega(args);
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Synth, BadFlagsAreRefusedNamingTheFlag) {
  const std::string vocab = testing::shared_file("vocab/ggml-vocab-llama-spm.gguf").string();
  const std::vector<std::string> base = {"synth", "--layers", "2", "--ffn", "128", "--vocab-from"};
  auto with = [&](const std::string& vocab_path, std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.push_back(vocab_path);
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  expect_synth_error(with(vocab, {"--dim", "-64", "--heads", "4"}), 2, "--dim");
  expect_synth_error(with(vocab, {"--dim", "64", "--heads", "5"}), 1, "--heads 5 does not divide");
  expect_synth_error(with(vocab, {"--dim", "64", "--heads", "4", "--kv-heads", "3"}), 1,
                     "--kv-heads 3");
  expect_synth_error(with(vocab, {"--dim", "64", "--heads", "4", "--type", "Q3_K_XL"}), 1,
                     "--type 'Q3_K_XL'");
  expect_synth_error(with(vocab, {"--dim", "64", "--heads", "4", "--type", "Q4_K"}), 1,
                     "--dim 64 is not a multiple of 256");
  expect_synth_error(with("/nonexistent/vocab.gguf", {"--dim", "64", "--heads", "4"}), 1,
                     "--vocab-from '/nonexistent/vocab.gguf'");
  expect_synth_error(with(vocab, {"--dim", "64", "--heads", "4", "--arch", "gpt2"}), 1,
                     "--arch 'gpt2'");
}

// ---- bench ----

class Bench : public ::testing::Test {
 protected:
  void SetUp() override { model_ = synth(dir_, small_shape("Q4_0"), "Q4_0"); }

  testing::CommandResult bench(std::vector<std::string> extra) {
    std::vector<std::string> args = {"bench", "-m", model_, "-t", "2", "--bandwidth", "10"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_bottega(args);
  }

  testing::TempDir dir_;
  std::string model_;
};

// The trimmed cells of a markdown table row.
std::vector<std::string> cells_of(const std::string& row) {
  std::vector<std::string> cells;
  std::istringstream in(row.substr(1));
  for (std::string cell; std::getline(in, cell, '|');) {
    const auto first = cell.find_first_not_of(' ');
    const auto last = cell.find_last_not_of(' ');
    cells.push_back(first == std::string::npos ? "" : cell.substr(first, last - first + 1));
  }
  return cells;
}

// "2025-04-24T11:57:09Z"
bool is_rfc3339_utc(const std::string& text) {
  const std::string pattern = "dddd-dd-ddTdd:dd:ddZ";
  if (text.size() != pattern.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool digit = std::isdigit(static_cast<unsigned char>(text[i])) != 0;
    if (pattern[i] == 'd' ? !digit : text[i] != pattern[i]) return false;
  }
  return true;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_F(Bench, JsonHasOneEntryPerTestWithLlamaBenchFields) {
  const auto r = bench({"-p", "16", "-n", "8", "-r", "2", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json results = json::parse(r.out);
  ASSERT_EQ(results.size(), 2u);
  const json& pp = results[0];
  const json& tg = results[1];
  EXPECT_EQ(pp["n_prompt"], 16);
  EXPECT_EQ(pp["n_gen"], 0);
  EXPECT_EQ(tg["n_prompt"], 0);
  EXPECT_EQ(tg["n_gen"], 8);
  const json model = show(model_);
  for (const json& t : results) {
    EXPECT_EQ(t["model_filename"], model_);
    EXPECT_EQ(t["model_type"], "llama 4M Q4_0");
    EXPECT_EQ(t["model_n_params"], model["parameters"]);
    EXPECT_EQ(t["model_size"], model["tensor_bytes"]);
    EXPECT_EQ(t["n_threads"], 2);
    EXPECT_EQ(t["backends"], "CPU");
    EXPECT_GT(t["avg_ts"].get<double>(), 0.0);
    EXPECT_GT(t["avg_ns"].get<double>(), 0.0);
    EXPECT_GE(t["stddev_ts"].get<double>(), 0.0);
    EXPECT_EQ(t["samples_ns"].size(), 2u);
    EXPECT_EQ(t["samples_ts"].size(), 2u);
    EXPECT_EQ(t["bandwidth_gb_per_s"], 10.0);
    EXPECT_TRUE(is_rfc3339_utc(t["test_time"])) << t["test_time"];
  }
  EXPECT_GT(pp["gflop_per_s"].get<double>(), 0.0);
  EXPECT_TRUE(pp["gb_per_s"].is_null());
  EXPECT_GT(tg["gb_per_s"].get<double>(), 0.0);
  EXPECT_GT(tg["roofline_pct"].get<double>(), 0.0);
  EXPECT_TRUE(tg["gflop_per_s"].is_null());
}

TEST_F(Bench, MarkdownHasLlamaBenchColumnsThenOurs) {
  const auto r = bench({"-p", "16", "-n", "8", "-r", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[0],
            "| model                          |         size |       params | backend    | threads "
            "|            test |                  t/s |     GB/s | % roofline |   GFLOP/s |");
  EXPECT_EQ(lines[1],
            "| ------------------------------ | -----------: | -----------: | ---------- | ------: "
            "| --------------: | -------------------: | -------: | ---------: | --------: |");
  // Cells line up under the header; "±" takes two bytes for one column.
  EXPECT_EQ(lines[2].size(), lines[0].size() + 1) << lines[2];
  EXPECT_EQ(lines[3].size(), lines[0].size() + 1) << lines[3];
  const auto pp = cells_of(lines[2]);
  const auto tg = cells_of(lines[3]);
  ASSERT_EQ(pp.size(), 10u) << lines[2];
  ASSERT_EQ(tg.size(), 10u) << lines[3];
  EXPECT_EQ(pp[0], "llama 4M Q4_0");
  EXPECT_TRUE(pp[1].ends_with(" MiB")) << pp[1];
  EXPECT_EQ(pp[2], "4.17 M");
  EXPECT_EQ(pp[3], "CPU");
  EXPECT_EQ(pp[4], "2");
  EXPECT_EQ(pp[5], "pp16");
  EXPECT_EQ(tg[5], "tg8");
  for (const auto& row : {pp, tg}) {
    EXPECT_NE(row[6].find(" \u00b1 "), std::string::npos) << row[6];
    EXPECT_GT(std::stod(row[6]), 0.0) << row[6];
  }
  // Our columns: bandwidth and roofline for tg, GFLOP/s for pp.
  EXPECT_EQ(pp[7], "-");
  EXPECT_EQ(pp[8], "-");
  EXPECT_GT(std::stod(pp[9]), 0.0);
  EXPECT_GT(std::stod(tg[7]), 0.0);
  EXPECT_GT(std::stod(tg[8]), 0.0);
  EXPECT_EQ(tg[9], "-");
}

// -d as llama-bench takes it: each depth runs every test, named "tg4 @ d8", with n_depth in JSON.
TEST_F(Bench, DepthRunsEveryTestAfterThatManyTokens) {
  const auto r = bench({"-p", "0", "-n", "4", "-d", "0,8", "-r", "1", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json results = json::parse(r.out);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]["n_depth"], 0);
  EXPECT_EQ(results[1]["n_depth"], 8);
  EXPECT_EQ(results[1]["n_gen"], 4);
  EXPECT_NE(r.err.find("tg4 @ d8"), std::string::npos) << r.err;
  const auto md = bench({"-p", "0", "-n", "4", "-d", "8", "-r", "1"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  const auto lines = lines_of(md.out);
  ASSERT_EQ(lines.size(), 3u) << md.out;
  EXPECT_EQ(cells_of(lines[2])[5], "tg4 @ d8") << lines[2];
  const auto negative = bench({"-d", "-1"});
  EXPECT_EQ(negative.exit_code, 2);
  EXPECT_NE(negative.err.find("-d"), std::string::npos) << negative.err;
}

TEST_F(Bench, CsvHasAHeaderAndOneLinePerTest) {
  const auto r = bench({"-p", "16", "-n", "8", "-pg", "4,2", "-r", "2", "-o", "csv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[0].rfind("cpu_info,gpu_info,backends,model_filename,model_type,model_size,"
                           "model_n_params,",
                           0),
            0u)
      << lines[0];
  EXPECT_NE(lines[0].find(",n_prompt,n_gen,"), std::string::npos);
  EXPECT_NE(lines[0].find(",avg_ts,stddev_ts,"), std::string::npos);
  const size_t columns = std::count(lines[0].begin(), lines[0].end(), ',');
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(std::count(lines[i].begin(), lines[i].end(), ','), columns) << lines[i];
    EXPECT_NE(lines[i].find("\"llama 4M Q4_0\""), std::string::npos) << lines[i];
  }
  EXPECT_NE(lines[3].find("\"4\",\"2\""), std::string::npos) << lines[3];  // n_prompt, n_gen
}

TEST_F(Bench, JsonlMeasuresBandwidthAndReportsPeakMemory) {
  const auto r = run_bottega(
      {"bench", "-m", model_, "-p", "0", "-n", "4", "-r", "1", "-t", "1", "-o", "jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const json t = json::parse(lines[0]);
  EXPECT_EQ(t["n_gen"], 4);
  EXPECT_GT(t["bandwidth_gb_per_s"].get<double>(), 0.0);
  EXPECT_NE(r.err.find("peak resident memory"), std::string::npos) << r.err;
}

TEST_F(Bench, BadFlagsAreRefused) {
  EXPECT_EQ(bench({"-o", "xml"}).exit_code, 2);
  const auto nothing = bench({"-p", "0", "-n", "0"});
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_NE(nothing.err.find("nothing to measure"), std::string::npos) << nothing.err;
  const auto bad_pg = bench({"-pg", "5"});
  EXPECT_EQ(bad_pg.exit_code, 1);
  EXPECT_NE(bad_pg.err.find("-pg"), std::string::npos) << bad_pg.err;
  const auto missing = run_bottega({"bench", "-m", "/nonexistent/model.gguf", "--bandwidth", "1"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent/model.gguf"), std::string::npos) << missing.err;
}

TEST(Hw, JsonReportsCpuAndBandwidth) {
  const auto r = run_bottega(
      {"hw", "--bandwidth", "--buffer-mib", "64", "-t", "1", "-r", "2", "--json"}, hw_env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json info = json::parse(r.out);
  EXPECT_GE(info["cpu"]["logical_cpus"].get<int>(), 1);
  EXPECT_GE(info["cpu"]["physical_cores"].get<int>(), 1);
  EXPECT_FALSE(info["cpu"]["model"].get<std::string>().empty());
  EXPECT_TRUE(info["cpu"]["simd"].is_array());
  EXPECT_GT(info["bandwidth"]["read_gb_per_s"].get<double>(), 0.0);
  EXPECT_EQ(info["bandwidth"]["threads"], 1);
  EXPECT_EQ(info["bandwidth"]["buffer_bytes"], 64 << 20);
}

TEST(Hw, TextNamesTheBandwidthInGigabytesPerSecond) {
  const auto r =
      run_bottega({"hw", "--bandwidth", "--buffer-mib", "64", "-t", "2", "-r", "1"}, hw_env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto at = r.out.find("read bandwidth: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  EXPECT_GT(std::stod(line.substr(16)), 0.0) << line;
  EXPECT_NE(line.find(" GB/s (2 threads"), std::string::npos) << line;
  EXPECT_NE(r.out.find("logical cpus:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace bottega
