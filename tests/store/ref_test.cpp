// References, name encoding and file selection: no network, no binary.
#include "store/ref.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "store/store.h"

namespace bottega::store {
namespace {

TEST(StoreRef, ParsesBothFormsAndNormalizes) {
  const Ref quant = parse_ref("  TheBloke/Llama-2-7B-GGUF:q4_k_m ");
  EXPECT_EQ(quant.repo, "TheBloke/Llama-2-7B-GGUF");
  EXPECT_EQ(quant.quant, "Q4_K_M");
  EXPECT_EQ(quant.name, "TheBloke/Llama-2-7B-GGUF:Q4_K_M");
  const Ref file = parse_ref("HF://owner/repo/sub/model.Q8_0.gguf");
  EXPECT_EQ(file.repo, "owner/repo");
  EXPECT_EQ(file.file, "sub/model.Q8_0.gguf");
  EXPECT_EQ(file.name, "hf://owner/repo/sub/model.Q8_0.gguf");
}

TEST(StoreRef, RejectsUnsafeOrMalformed) {
  for (const char* bad : {"../x:Q4_0", "owner/../x:Q4_0", "/abs/path:Q4_0", "owner\\repo:Q4_0",
                          "hf://o/r/../../x.gguf", "hf://o/r", "hf://o/r/file.bin", "justaname",
                          "o/r:", "o/r:Q4/0", "o/r/x:Q4_0"}) {
    EXPECT_THROW(parse_ref(bad), Error) << bad;
  }
  EXPECT_THROW(parse_ref(std::string("o/r:Q4\0x", 8)), Error);
}

TEST(StoreRef, NameEncodingIsReversibleAndSafe) {
  for (const std::string name : {"owner/repo:Q4_K_M", "hf://o/r/sub dir/m%1.gguf", "plain"}) {
    const std::string encoded = encode_name(name);
    EXPECT_EQ(encoded.find('/'), std::string::npos);
    EXPECT_EQ(encoded.find(':'), std::string::npos);
    EXPECT_EQ(decode_name(encoded), name);
  }
  EXPECT_THROW(encode_name("../../etc/passwd"), Error);
  EXPECT_THROW(encode_name("/etc/passwd"), Error);
  EXPECT_THROW(encode_name(""), Error);
}

TEST(StoreRef, SplitNamesAndQuantTags) {
  const auto part = parse_split("dir/model-Q4_K_M-00002-of-00003.gguf");
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(part->prefix, "dir/model-Q4_K_M");
  EXPECT_EQ(part->index, 2);
  EXPECT_EQ(part->count, 3);
  EXPECT_FALSE(parse_split("model-Q4_K_M.gguf").has_value());
  EXPECT_FALSE(parse_split("model-00004-of-00003.gguf").has_value());
  EXPECT_EQ(quant_from_path("a/llama.Q5_K_S.gguf"), "Q5_K_S");
  EXPECT_EQ(quant_from_path("model-iq2_xxs-00001-of-00002.gguf"), "IQ2_XXS");
  EXPECT_EQ(quant_from_path("model-f16.gguf"), "F16");
  EXPECT_EQ(quant_from_path("model.gguf"), "");
}

std::vector<RemoteFile> listing(const std::vector<std::string>& paths) {
  std::vector<RemoteFile> files;
  for (const auto& path : paths) files.push_back({path, 1, std::string(64, 'a')});
  return files;
}

TEST(StoreRef, QuantSelectionPrefersTagBoundaries) {
  const auto tree =
      listing({"m-Q4_K_M.gguf", "m-Q4_K_S.gguf", "m-IQ4_XS.gguf", "m.Q8_0.gguf", "README.md"});
  EXPECT_EQ(select_files(parse_ref("o/r:q4_k_m"), tree).front().path, "m-Q4_K_M.gguf");
  EXPECT_EQ(select_files(parse_ref("o/r:Q8_0"), tree).front().path, "m.Q8_0.gguf");
  EXPECT_EQ(select_files(parse_ref("o/r:IQ4_XS"), tree).front().path, "m-IQ4_XS.gguf");
  try {
    select_files(parse_ref("o/r:Q4_K"), tree);
    FAIL() << "Q4_K should be ambiguous";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m-Q4_K_M.gguf, m-Q4_K_S.gguf"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(select_files(parse_ref("o/r:Q2_K"), tree), Error);
  EXPECT_THROW(select_files(parse_ref("o/r"), tree), Error);  // several models: say which
}

TEST(StoreRef, SplitModelsComeWhole) {
  const auto tree =
      listing({"big-Q4_0-00002-of-00002.gguf", "big-Q4_0-00001-of-00002.gguf", "small-Q8_0.gguf"});
  const auto files = select_files(parse_ref("o/r:Q4_0"), tree);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, "big-Q4_0-00001-of-00002.gguf");
  EXPECT_EQ(files[1].path, "big-Q4_0-00002-of-00002.gguf");
  EXPECT_EQ(select_files(parse_ref("hf://o/r/big-Q4_0-00002-of-00002.gguf"), tree).size(), 2u);
  EXPECT_THROW(select_files(parse_ref("o/r:Q4_0"), listing({"big-Q4_0-00001-of-00002.gguf"})),
               Error);
}

TEST(StoreRef, ParsesHubListing) {
  const auto files = parse_tree(R"([{"type":"directory","path":"sub","size":0},
    {"type":"file","path":"README.md","size":12,"oid":"abc"},
    {"type":"file","path":"sub/m.gguf","size":5,"oid":"def","lfs":{"oid":"ABCDEF","size":99,"pointerSize":134}},
    {"type":"file","path":"../evil.gguf","size":1,"lfs":{"oid":"00","size":1}}])");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[1].path, "sub/m.gguf");
  EXPECT_EQ(files[1].size, 99u);
  EXPECT_EQ(files[1].sha256, "abcdef");
  EXPECT_THROW(parse_tree("{\"error\":\"x\"}"), Error);
}

}  // namespace
}  // namespace bottega::store
