// Reader tests: the shared real-world fixtures, typed getters, and one test per kind of malformed
// input the reader must reject (each checking the words of its message).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "gguf/gguf.h"
#include "gguf_test_helpers.h"
#include "testutil/testutil.h"

namespace bottega::gguf {
namespace {

using testing::Bytes;
using testing::expect_format_error;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ4_0 = 2;
constexpr uint32_t kMxfp4 = 39;  // 32 FP4 values and one E8M0 scale: 17 bytes

File parse(const Bytes& b) {
  return File::parse(b.bytes(), "bad.gguf");
}

// A valid file with one 4-float tensor: the base that most malformed cases alter one field of.
Bytes valid_file() {
  Bytes b;
  b.header(1, 1).kv_string("general.architecture", "llama").tensor("t", {4}, kF32, 0).pad_to(32);
  return b.zeros(16);
}

TEST(GgufReader, ReadsTheSharedModelFixture) {
  const File file = File::open(bottega::testing::shared_file("models/aidreams260K.gguf"));
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.get_string("general.architecture"), "llama");
  EXPECT_EQ(file.get_int("llama.embedding_length"), 64);
  EXPECT_EQ(file.get_int("llama.block_count"), 4);
  EXPECT_EQ(file.get_int("llama.context_length"), 128);
  EXPECT_EQ(file.get_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(file.get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(file.get_int("tokenizer.ggml.padding_token_id"), 4294967295);
  EXPECT_NEAR(*file.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
  EXPECT_EQ(file.metadata().size(), 19u);

  const Array* tokens = file.get_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->element_type, ValueType::kString);
  ASSERT_EQ(tokens->elements.size(), 512u);
  EXPECT_EQ(*tokens->elements[0].as_string(), "<unk>");
  EXPECT_EQ(*tokens->elements[3].as_string(), "<0x00>");
  EXPECT_EQ(file.get_array("tokenizer.ggml.scores")->element_type, ValueType::kFloat32);
  EXPECT_EQ(file.get_array("tokenizer.ggml.token_type")->elements[0].as_int(), 2);

  ASSERT_EQ(file.tensors().size(), 39u);
  EXPECT_EQ(file.data_offset(), 13664u);
  const TensorInfo* embd = file.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(embd->type, TensorType::F32);
  EXPECT_EQ(embd->n_elements(), 64 * 512);
  EXPECT_EQ(embd->n_bytes, 64u * 512 * 4);
  EXPECT_EQ(file.find_tensor("blk.0.ffn_down.weight")->shape, (std::vector<int64_t>{172, 64}));
  EXPECT_EQ(file.find_tensor("nope"), nullptr);
  for (const TensorInfo& info : file.tensors()) EXPECT_EQ(info.offset % 32, 0u) << info.name;
  // The last tensor ends exactly at the end of the file.
  const TensorInfo& last = file.tensors().back();
  EXPECT_EQ(file.data_offset() + last.offset + last.n_bytes, file.file_size());

  // The same weights in llama2.c format: a 28-byte header, then the token embedding.
  const std::string checkpoint =
      bottega::testing::read_file(bottega::testing::shared_file("models/aidreams260K.bin"));
  const std::span<const uint8_t> data = file.tensor_data(*embd);
  ASSERT_EQ(data.size(), embd->n_bytes);
  EXPECT_EQ(std::memcmp(data.data(), checkpoint.data() + 28, data.size()), 0);
}

TEST(GgufReader, ReadsAVocabularyOnlyFile) {
  const File file = File::open(bottega::testing::shared_file("vocab/ggml-vocab-llama-spm.gguf"));
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(file.get_array("tokenizer.ggml.tokens")->elements.size(), 32000u);
  EXPECT_EQ(file.get_array("tokenizer.ggml.scores")->elements.size(), 32000u);
  EXPECT_EQ(file.get_int("llama.vocab_size"), 32000);
  EXPECT_EQ(file.get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(file.get_bool("tokenizer.ggml.add_eos_token"), false);
  EXPECT_TRUE(file.tensors().empty());
  // The file ends right after the last key, before the aligned data section would start.
  EXPECT_GE(file.data_offset(), file.file_size());
}

TEST(GgufReader, ParseOfABufferMatchesOpen) {
  const auto path = bottega::testing::shared_file("models/aidreams260K.gguf");
  const std::string content = bottega::testing::read_file(path);
  const File file = File::parse({reinterpret_cast<const uint8_t*>(content.data()), content.size()},
                                "buffer.gguf");
  EXPECT_EQ(file.name(), "buffer.gguf");
  EXPECT_EQ(file.tensors().size(), 39u);
  EXPECT_EQ(file.file_size(), content.size());
  EXPECT_EQ(File::open(path).name(), path.string());
}

TEST(GgufReader, MovedFileKeepsWorking) {
  File file = File::open(bottega::testing::shared_file("models/aidreams260K.gguf"));
  File moved = std::move(file);
  EXPECT_EQ(moved.get_int("llama.block_count"), 4);
  EXPECT_NE(moved.find_tensor("output.weight"), nullptr);
  EXPECT_EQ(moved.tensor_data(*moved.find_tensor("output_norm.weight")).size(), 256u);
}

TEST(GgufReader, TypedGettersConvertAndReject) {
  Bytes b;
  b.header(0, 4).kv_u32("n", 7).kv_string("s", "text");
  b.str("f").u32(static_cast<uint32_t>(ValueType::kFloat32)).f32(0.5f);
  b.str("big").u32(static_cast<uint32_t>(ValueType::kUint64)).u64(UINT64_MAX);
  const File file = parse(b);
  EXPECT_EQ(file.get_int("n"), 7);
  EXPECT_EQ(file.get_float("n"), 7.0);  // any number reads as a float
  EXPECT_EQ(file.get_float("f"), 0.5);
  EXPECT_EQ(file.get_string("s"), "text");
  EXPECT_EQ(file.get_int("absent"), std::nullopt);
  EXPECT_EQ(file.get_string("absent"), std::nullopt);
  EXPECT_EQ(file.get_array("absent"), nullptr);
  EXPECT_EQ(file.find("absent"), nullptr);
  expect_format_error([&] { (void)file.get_int("s"); }, {"bad.gguf", "'s'", "string", "integer"});
  expect_format_error([&] { (void)file.get_int("f"); }, {"'f'", "f32", "integer"});
  expect_format_error([&] { (void)file.get_int("big"); }, {"'big'", "u64", "range"});
  expect_format_error([&] { (void)file.get_float("s"); }, {"'s'", "string", "number"});
  expect_format_error([&] { (void)file.get_string("n"); }, {"'n'", "u32", "string"});
  expect_format_error([&] { (void)file.get_bool("n"); }, {"'n'", "u32", "bool"});
  expect_format_error([&] { (void)file.get_array("s"); }, {"'s'", "string", "array"});
}

TEST(GgufReader, AcceptsVersion2AndOverlappingTensors) {
  Bytes b;
  b.header(2, 0, 2).tensor("a", {4}, kF32, 0).tensor("b", {2, 2}, kF32, 0).pad_to(32).zeros(16);
  const File file = parse(b);
  EXPECT_EQ(file.version(), 2u);
  EXPECT_EQ(file.tensor_data(file.tensors()[0]).data(), file.tensor_data(file.tensors()[1]).data());
}

TEST(GgufReader, AcceptsAScalarTensor) {
  Bytes b;
  b.header(1, 0).tensor("s", {}, kF32, 0).pad_to(32).zeros(4);
  const File file = parse(b);
  EXPECT_TRUE(file.tensors()[0].shape.empty());
  EXPECT_EQ(file.tensors()[0].n_elements(), 1);
  EXPECT_EQ(file.tensors()[0].n_bytes, 4u);
}

TEST(GgufReader, ValidBaseFileParses) {
  const Bytes b = valid_file();  // File::parse views the buffer: it must outlive the File
  const File file = parse(b);
  EXPECT_EQ(file.tensors().size(), 1u);
  EXPECT_EQ(file.data_offset(), 128u);  // infos end at 102
}

// --- Malformed input: one test per rejection. ---

TEST(GgufReaderRejects, BadMagic) {
  Bytes b = valid_file();
  std::vector<uint8_t> bytes = b.bytes();
  bytes[3] = 'X';
  expect_format_error([&] { (void)File::parse(bytes, "bad.gguf"); },
                      {"bad.gguf", "magic", "offset 0"});
}

TEST(GgufReaderRejects, UnsupportedVersions) {
  for (uint32_t version : {0u, 1u, 4u, 0x03000000u}) {
    Bytes b;
    b.header(0, 0, version);
    expect_format_error([&] { (void)parse(b); }, {"bad.gguf", "version", std::to_string(version)});
  }
}

TEST(GgufReaderRejects, EveryTruncation) {
  const Bytes b = valid_file();
  // Every proper prefix that cuts into the header, a key, a value or a tensor info is rejected as
  // truncated; the prefixes that end in the data section as out of range.
  for (size_t n = 0; n < b.size(); ++n) {
    const std::span<const uint8_t> prefix(b.bytes().data(), n);
    EXPECT_THROW((void)File::parse(prefix, "bad.gguf"), FormatError) << n;
  }
  // Cut inside the tensor info's offset field (the infos run from 69 to 102).
  const std::span<const uint8_t> in_offset(b.bytes().data(), 99);
  expect_format_error([&] { (void)File::parse(in_offset, "bad.gguf"); },
                      {"bad.gguf", "truncated", "end of file", "tensor data offset", "offset 94"});
  // Cut inside the key: the counts in the header already promise more than is left.
  const std::span<const uint8_t> in_key(b.bytes().data(), 30);
  expect_format_error([&] { (void)File::parse(in_key, "bad.gguf"); },
                      {"bad.gguf", "truncated", "end of file"});
  expect_format_error([&] { (void)File::parse({}, "empty.gguf"); }, {"empty.gguf", "truncated"});
}

TEST(GgufReaderRejects, TensorDataBeyondTheEndOfFile) {
  Bytes b;
  b.header(1, 0).tensor("t", {4}, kF32, 32).pad_to(32).zeros(48);  // needs 32 + 16 = 48 bytes
  EXPECT_NO_THROW((void)parse(b));
  Bytes short_by_one;
  short_by_one.header(1, 0).tensor("t", {4}, kF32, 32).pad_to(32).zeros(47);
  expect_format_error([&] { (void)parse(short_by_one); }, {"'t'", "out of range", "end of file"});
}

TEST(GgufReaderRejects, OffsetThatWouldOverflow) {
  Bytes b;
  b.header(1, 0).tensor("t", {4}, kF32, UINT64_MAX - 31).pad_to(32).zeros(16);
  expect_format_error([&] { (void)parse(b); }, {"'t'", "out of range"});
}

TEST(GgufReaderRejects, AbsurdKeyValueCount) {
  Bytes b;
  b.header(0, uint64_t{1} << 60);
  expect_format_error([&] { (void)parse(b); }, {"absurd", "key/value count", "truncated"});
}

TEST(GgufReaderRejects, AbsurdTensorCount) {
  Bytes b;
  b.header(UINT64_MAX, 0);
  expect_format_error([&] { (void)parse(b); }, {"absurd", "tensor count"});
}

TEST(GgufReaderRejects, AbsurdStringLength) {
  Bytes b;
  b.header(0, 1).u64(uint64_t{1} << 62).raw("key", 3).zeros(16);
  expect_format_error([&] { (void)parse(b); }, {"truncated", "end of file", "key", "offset 24"});
}

TEST(GgufReaderRejects, AbsurdArrayCount) {
  Bytes b;
  b.header(0, 1).str("a").u32(static_cast<uint32_t>(ValueType::kArray));
  b.u32(static_cast<uint32_t>(ValueType::kUint32)).u64(uint64_t{1} << 40).u32(1);
  expect_format_error([&] { (void)parse(b); }, {"'a'", "absurd", "array length"});
}

TEST(GgufReaderRejects, TooManyDimensions) {
  Bytes b;
  b.header(1, 0).tensor("t", {1, 1, 1, 1, 1}, kF32, 0).pad_to(32).zeros(4);
  expect_format_error([&] { (void)parse(b); }, {"'t'", "5 dimensions", "n_dims"});
}

TEST(GgufReaderRejects, ZeroOrNegativeDimension) {
  for (uint64_t bad : {uint64_t{0}, UINT64_MAX, uint64_t{1} << 63}) {
    Bytes b;
    b.header(1, 0).tensor("t", {4, bad}, kF32, 0).pad_to(32).zeros(16);
    expect_format_error([&] { (void)parse(b); }, {"'t'", "dimension 1", "positive"});
  }
}

TEST(GgufReaderRejects, ElementCountOverflow) {
  Bytes b;
  b.header(1, 0).tensor("t", {uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0).pad_to(32);
  expect_format_error([&] { (void)parse(b); }, {"'t'", "overflow"});
  Bytes bytes_overflow;  // 2^61 elements fit in int64, but not 2^61 * 8 bytes in uint64
  bytes_overflow.header(1, 0).tensor("t", {uint64_t{1} << 61}, 28 /* F64 */, 0).pad_to(32);
  expect_format_error([&] { (void)parse(bytes_overflow); }, {"'t'", "overflow"});
}

TEST(GgufReaderRejects, UnknownTensorType) {
  for (uint32_t id : {4u, 5u, 31u, 1000u}) {  // 4 and 5 were Q4_2/Q4_3, long removed
    Bytes b;
    b.header(1, 0).tensor("t", {4}, id, 0).pad_to(32).zeros(16);
    expect_format_error([&] { (void)parse(b); },
                        {"'t'", "unknown tensor type", std::to_string(id)});
  }
}

TEST(GgufReaderRejects, UnknownValueType) {
  Bytes b;
  b.header(0, 1).str("k").u32(13).u32(0);
  expect_format_error([&] { (void)parse(b); }, {"'k'", "unknown value type 13"});
  Bytes in_array;
  in_array.header(0, 1).str("k").u32(static_cast<uint32_t>(ValueType::kArray)).u32(99).u64(0);
  expect_format_error([&] { (void)parse(in_array); }, {"'k'", "unknown value type 99"});
}

TEST(GgufReaderRejects, DuplicateTensorNames) {
  Bytes b;
  b.header(2, 0).tensor("t", {4}, kF32, 0).tensor("t", {4}, kF32, 32).pad_to(32).zeros(48);
  expect_format_error([&] { (void)parse(b); }, {"duplicate tensor", "'t'"});
}

TEST(GgufReaderRejects, DuplicateKeys) {
  Bytes b;
  b.header(0, 2).kv_u32("k", 1).kv_string("k", "again");
  expect_format_error([&] { (void)parse(b); }, {"duplicate key", "'k'"});
}

TEST(GgufReaderRejects, RowNotAMultipleOfTheBlockSize) {
  Bytes b;
  b.header(1, 0).tensor("q", {33, 2}, kQ4_0, 0).pad_to(32).zeros(64);
  expect_format_error([&] { (void)parse(b); }, {"'q'", "block size 32", "Q4_0"});
}

// gpt-oss stores its experts as 3-D MXFP4 tensors: 17-byte blocks, rows in whole blocks, and a
// file that ends inside the last expert is refused rather than read past.
TEST(GgufReader, ReadsMxfp4ExpertTensorsAndRejectsBadOnes) {
  Bytes b;
  b.header(1, 0).tensor("blk.0.ffn_up_exps.weight", {64, 3, 2}, kMxfp4, 0).pad_to(32).zeros(204);
  const File file = parse(b);
  EXPECT_EQ(file.tensors()[0].n_elements(), 384);
  EXPECT_EQ(file.tensors()[0].n_bytes, 204u);  // 12 blocks of 17 bytes

  Bytes short_by_one;
  short_by_one.header(1, 0).tensor("e", {64, 3, 2}, kMxfp4, 0).pad_to(32).zeros(203);
  expect_format_error([&] { (void)parse(short_by_one); }, {"'e'", "out of range", "end of file"});
  Bytes bad_row;
  bad_row.header(1, 0).tensor("e", {48, 3, 2}, kMxfp4, 0).pad_to(32).zeros(204);
  expect_format_error([&] { (void)parse(bad_row); }, {"'e'", "block size 32", "MXFP4"});
}

TEST(GgufReaderRejects, MisalignedTensorOffset) {
  Bytes b;
  b.header(1, 0).tensor("t", {4}, kF32, 16).pad_to(32).zeros(32);
  expect_format_error([&] { (void)parse(b); }, {"'t'", "misaligned", "alignment 32"});
}

TEST(GgufReaderRejects, BadAlignmentValues) {
  for (uint32_t alignment : {0u, 3u, 48u}) {
    Bytes b;
    b.header(0, 1).kv_u32("general.alignment", alignment);
    expect_format_error([&] { (void)parse(b); }, {"alignment", std::to_string(alignment)});
  }
  Bytes wrong_type;
  wrong_type.header(0, 1).kv_string("general.alignment", "32");
  expect_format_error([&] { (void)parse(wrong_type); }, {"alignment", "string", "u32"});
}

TEST(GgufReaderRejects, OffsetMisalignedForACustomAlignment) {
  Bytes b;
  b.header(1, 1).kv_u32("general.alignment", 64).tensor("t", {4}, kF32, 32).pad_to(64).zeros(64);
  expect_format_error([&] { (void)parse(b); }, {"misaligned", "alignment 64"});
}

// n nested arrays around an empty array of u8.
Bytes nested_arrays(int depth) {
  Bytes b;
  b.header(0, 1).str("deep").u32(static_cast<uint32_t>(ValueType::kArray));
  for (int i = 1; i < depth; ++i) b.u32(static_cast<uint32_t>(ValueType::kArray)).u64(1);
  b.u32(static_cast<uint32_t>(ValueType::kUint8)).u64(0);
  return b;
}

TEST(GgufReaderRejects, ArraysNestedTooDeeply) {
  const Bytes depth8 = nested_arrays(8);
  const File ok = parse(depth8);
  const Array* level = ok.get_array("deep");
  for (int i = 1; i < 8; ++i) level = level->elements.at(0).as_array();
  EXPECT_EQ(level->element_type, ValueType::kUint8);
  expect_format_error([&] { (void)parse(nested_arrays(9)); }, {"'deep'", "nested", "8"});
  // Far deeper than any stack could take if we recursed without a limit.
  expect_format_error([&] { (void)parse(nested_arrays(100000)); }, {"nested"});
}

TEST(GgufReaderRejects, CorruptFileOnDiskNamesThePath) {
  bottega::testing::TempDir dir;
  const auto path = dir / "corrupt.gguf";
  std::vector<uint8_t> bytes = valid_file().bytes();
  bytes[4] = 9;  // version
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  expect_format_error([&] { (void)File::open(path); }, {path.string(), "version 9"});
}

TEST(GgufReaderRejects, EmptyFileOnDisk) {
  bottega::testing::TempDir dir;
  const auto path = dir / "empty.gguf";
  std::ofstream(path, std::ios::binary).flush();
  expect_format_error([&] { (void)File::open(path); }, {path.string(), "truncated"});
}

TEST(GgufReader, MissingFileIsAnErrorButNotAFormatError) {
  bottega::testing::TempDir dir;
  try {
    (void)File::open(dir / "missing.gguf");
    ADD_FAILURE() << "no error";
  } catch (const FormatError&) {
    ADD_FAILURE() << "a missing file is not a format problem";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.gguf"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos);
  }
  EXPECT_THROW((void)File::open(dir.path()), Error);  // a directory
}

}  // namespace
}  // namespace bottega::gguf
