// Writer tests: everything goes writer -> file -> reader and must come back identical.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include "gguf/gguf.h"
#include "gguf_test_helpers.h"
#include "testutil/testutil.h"

namespace bottega::gguf {
namespace {

using testing::same_value;
namespace fs = std::filesystem;

template <typename T>
Value scalar(T v) {
  return Value{v};
}

Value array(ValueType type, std::vector<Value> elements) {
  return Value{Array{type, std::move(elements)}};
}

// Arbitrary but reproducible bytes for a tensor of the given size.
std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(i * 31 + seed);
  return bytes;
}

File write_and_open(const Writer& writer, const bottega::testing::TempDir& dir) {
  const fs::path path = dir / "out.gguf";
  writer.write(path);
  return File::open(path);
}

void expect_round_trip(const std::vector<KeyValue>& expected, const File& file) {
  ASSERT_EQ(file.metadata().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(file.metadata()[i].key, expected[i].key);
    EXPECT_TRUE(same_value(file.metadata()[i].value, expected[i].value)) << expected[i].key;
  }
}

TEST(GgufWriter, RoundTripsEveryScalarType) {
  const std::vector<KeyValue> kvs = {
      {"u8", scalar<uint8_t>(255)},
      {"i8", scalar<int8_t>(-128)},
      {"u16", scalar<uint16_t>(65535)},
      {"i16", scalar<int16_t>(-32768)},
      {"u32", Value::u32(4000000000u)},
      {"i32", Value::i32(-2000000000)},
      {"f32", Value::f32(-1.5e-7f)},
      {"f32.nan", Value::f32(std::numeric_limits<float>::quiet_NaN())},
      {"bool.true", Value::boolean(true)},
      {"bool.false", Value::boolean(false)},
      {"string", Value::string("héllo, wörld ✓")},
      {"string.empty", Value::string("")},
      {"string.nul", Value::string(std::string("a\0b", 3))},
      {"u64", Value::u64(std::numeric_limits<uint64_t>::max())},
      {"i64", scalar<int64_t>(std::numeric_limits<int64_t>::min())},
      {"f64", scalar<double>(3.141592653589793)},
  };
  Writer writer;
  for (const KeyValue& kv : kvs) writer.set(kv.key, kv.value);
  bottega::testing::TempDir dir;
  const File file = write_and_open(writer, dir);
  EXPECT_EQ(file.version(), 3u);
  EXPECT_TRUE(file.tensors().empty());
  expect_round_trip(kvs, file);
  for (uint32_t id = 0; id <= 12; ++id) {
    if (id == 9) continue;  // arrays have their own test
    const auto type = static_cast<ValueType>(id);
    EXPECT_TRUE(std::any_of(kvs.begin(), kvs.end(), [type](const KeyValue& kv) {
      return kv.value.type() == type;
    })) << value_type_name(type);
  }
  EXPECT_EQ(file.get_int("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_THROW((void)file.get_int("u64"), FormatError);  // above the int64 range
  EXPECT_EQ(file.get_float("i8"), -128.0);
}

TEST(GgufWriter, RoundTripsArrays) {
  const std::vector<KeyValue> kvs = {
      {"strings", Value::strings({"a", "", "longer than the small string buffer", "\xff\xfe"})},
      {"strings.empty", Value::strings({})},
      {"f32s", Value::f32s({0.0f, -1.0f, 1e30f})},
      {"i32s", Value::i32s({-1, 0, std::numeric_limits<int32_t>::max()})},
      {"u8s", array(ValueType::kUint8, {scalar<uint8_t>(1), scalar<uint8_t>(2)})},
      {"i8s", array(ValueType::kInt8, {scalar<int8_t>(-1)})},
      {"u16s", array(ValueType::kUint16, {scalar<uint16_t>(7)})},
      {"i16s", array(ValueType::kInt16, {scalar<int16_t>(-7)})},
      {"u32s", array(ValueType::kUint32, {Value::u32(9)})},
      {"bools", array(ValueType::kBool, {Value::boolean(true), Value::boolean(false)})},
      {"u64s", array(ValueType::kUint64, {Value::u64(1), Value::u64(2)})},
      {"i64s", array(ValueType::kInt64, {scalar<int64_t>(-3)})},
      {"f64s", array(ValueType::kFloat64, {scalar<double>(0.25)})},
      {"empty.u8", array(ValueType::kUint8, {})},
      {"empty.arrays", array(ValueType::kArray, {})},
      {"nested",
       array(ValueType::kArray, {Value::i32s({1, 2, 3}), Value::i32s({}), Value::i32s({4})})},
      {"nested.strings",
       array(ValueType::kArray, {Value::strings({"x", ""}), Value::strings({"merges"})})},
      {"nested.mixed",  // the inner arrays may each have their own element type
       array(ValueType::kArray, {Value::f32s({1.0f}), Value::strings({"s"})})},
      {"nested.deep",
       array(ValueType::kArray, {array(ValueType::kArray, {array(ValueType::kArray, {})})})},
  };
  Writer writer;
  for (const KeyValue& kv : kvs) writer.set(kv.key, kv.value);
  bottega::testing::TempDir dir;
  const File file = write_and_open(writer, dir);
  expect_round_trip(kvs, file);
  EXPECT_EQ(*file.get_array("strings")->elements[2].as_string(),
            "longer than the small string buffer");
}

TEST(GgufWriter, RoundTripsALargeVocabulary) {
  std::vector<std::string> tokens(150000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = "tok" + std::to_string(i * 7919);
  std::vector<float> scores(tokens.size());
  std::iota(scores.begin(), scores.end(), -1000.0f);
  Writer writer;
  writer.set("tokenizer.ggml.tokens", Value::strings(tokens));
  writer.set("tokenizer.ggml.scores", Value::f32s(scores));
  bottega::testing::TempDir dir;
  writer.write(dir / "vocab.gguf");
  const auto start = std::chrono::steady_clock::now();
  const File file = File::open(dir / "vocab.gguf");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const Array* read = file.get_array("tokenizer.ggml.tokens");
  ASSERT_EQ(read->elements.size(), tokens.size());
  for (size_t i = 0; i < tokens.size(); i += 997)
    EXPECT_EQ(*read->elements[i].as_string(), tokens[i]);
  EXPECT_EQ(file.get_array("tokenizer.ggml.scores")->elements.back().as_float(), scores.back());
  // Generous: sanitizer builds are several times slower than the tens of ms of a release build.
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 2000);
}

struct TensorCase {
  std::string name;
  TensorType type;
  std::vector<int64_t> shape;
};

void check_tensors_round_trip(uint64_t alignment) {
  const std::vector<TensorCase> cases = {
      {"f32.odd", TensorType::F32, {3}},         {"f32.matrix", TensorType::F32, {5, 7}},
      {"f32.4d", TensorType::F32, {1, 1, 1, 1}}, {"f16", TensorType::F16, {3, 5}},
      {"bf16", TensorType::BF16, {1, 3}},        {"q4_0", TensorType::Q4_0, {64, 3}},
      {"q8_0", TensorType::Q8_0, {32, 2, 3}},    {"q4_k", TensorType::Q4_K, {256, 3}},
      {"q6_k", TensorType::Q6_K, {512}},         {"i8", TensorType::I8, {7}},
      {"scalar", TensorType::F32, {}},
  };
  Writer writer;
  if (alignment != 32) writer.set_alignment(alignment);
  writer.set("general.architecture", Value::string("test"));
  std::vector<std::vector<uint8_t>> data;
  for (size_t i = 0; i < cases.size(); ++i) {
    const TypeTraits& traits = type_traits(cases[i].type);
    int64_t rows = 1;
    for (size_t d = 1; d < cases[i].shape.size(); ++d) rows *= cases[i].shape[d];
    const int64_t row = cases[i].shape.empty() ? 1 : cases[i].shape[0];
    data.push_back(pattern(static_cast<size_t>(row / traits.block_size) * traits.block_bytes *
                               static_cast<size_t>(rows),
                           static_cast<uint8_t>(i)));
    // Alternate owned and viewed data; the views point into `data`, alive until write().
    if (i % 2 == 0) {
      writer.add_tensor(cases[i].name, cases[i].type, cases[i].shape, data.back());
    } else {
      writer.add_tensor_view(cases[i].name, cases[i].type, cases[i].shape, data.back());
    }
  }
  bottega::testing::TempDir dir;
  const File file = write_and_open(writer, dir);
  EXPECT_EQ(file.alignment(), alignment);
  EXPECT_EQ(file.data_offset() % alignment, 0u);
  EXPECT_EQ(file.file_size() % alignment, 0u);
  ASSERT_EQ(file.tensors().size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const TensorInfo& info = file.tensors()[i];
    EXPECT_EQ(info.name, cases[i].name);
    EXPECT_EQ(info.type, cases[i].type);
    EXPECT_EQ(info.shape, cases[i].shape);
    EXPECT_EQ(info.offset % alignment, 0u) << info.name;
    EXPECT_EQ(info.n_bytes, data[i].size());
    const std::span<const uint8_t> read = file.tensor_data(info);
    EXPECT_TRUE(std::equal(read.begin(), read.end(), data[i].begin(), data[i].end())) << info.name;
  }
  // Padding between the header and the data, and between tensors, is zero.
  const std::string bytes = bottega::testing::read_file(dir / "out.gguf");
  const TensorInfo& first = file.tensors()[0];
  const TensorInfo& second = file.tensors()[1];
  for (uint64_t at = file.data_offset() + first.offset + first.n_bytes;
       at < file.data_offset() + second.offset; ++at) {
    EXPECT_EQ(bytes[at], 0) << at;
  }
}

TEST(GgufWriter, RoundTripsTensorsAtAlignment32) {
  check_tensors_round_trip(32);
}
TEST(GgufWriter, RoundTripsTensorsAtAlignment64) {
  check_tensors_round_trip(64);
}
TEST(GgufWriter, RoundTripsTensorsAtAlignment4096) {
  check_tensors_round_trip(4096);
}

TEST(GgufWriter, WritesTheAlignmentKeyOnlyWhenNotTheDefault) {
  bottega::testing::TempDir dir;
  Writer writer;
  writer.set("a", Value::u32(1));
  EXPECT_EQ(write_and_open(writer, dir).find("general.alignment"), nullptr);
  writer.set_alignment(64);
  const File with_64 = write_and_open(writer, dir);
  EXPECT_EQ(with_64.alignment(), 64u);
  ASSERT_NE(with_64.find("general.alignment"), nullptr);
  EXPECT_EQ(with_64.find("general.alignment")->type(), ValueType::kUint32);
  EXPECT_EQ(with_64.get_int("general.alignment"), 64);
  writer.set_alignment(32);
  EXPECT_EQ(write_and_open(writer, dir).find("general.alignment"), nullptr);
  writer.set("general.alignment", Value::u64(128));  // any integer; stored as u32
  const File with_128 = write_and_open(writer, dir);
  EXPECT_EQ(with_128.alignment(), 128u);
  EXPECT_EQ(with_128.find("general.alignment")->type(), ValueType::kUint32);
}

TEST(GgufWriter, RejectsBadAlignments) {
  Writer writer;
  for (uint64_t bad : {uint64_t{0}, uint64_t{3}, uint64_t{96}, uint64_t{1} << 33}) {
    EXPECT_THROW(writer.set_alignment(bad), Error) << bad;
  }
  EXPECT_THROW(writer.set("general.alignment", Value::string("64")), Error);
  EXPECT_THROW(writer.set("general.alignment", Value::i32(-64)), Error);
}

TEST(GgufWriter, SetReplacesAndKeepsFirstOrder) {
  Writer writer;
  writer.set("first", Value::u32(1));
  writer.set("second", Value::u32(2));
  writer.set("first", Value::string("replaced"));
  bottega::testing::TempDir dir;
  const File file = write_and_open(writer, dir);
  ASSERT_EQ(file.metadata().size(), 2u);
  EXPECT_EQ(file.metadata()[0].key, "first");
  EXPECT_EQ(file.get_string("first"), "replaced");
}

TEST(GgufWriter, CopiesMetadataFromARealFile) {
  const File source = File::open(bottega::testing::shared_file("models/aidreams260K.gguf"));
  Writer writer;
  writer.copy_metadata(source);
  for (const TensorInfo& info : source.tensors()) {
    writer.add_tensor_view(info.name, info.type, info.shape, source.tensor_data(info));
  }
  bottega::testing::TempDir dir;
  const File copy = write_and_open(writer, dir);
  expect_round_trip(source.metadata(), copy);
  // Same layout as the reference converter produced, so the files are byte-identical.
  EXPECT_EQ(bottega::testing::read_file(dir / "out.gguf"),
            bottega::testing::read_file(bottega::testing::shared_file("models/aidreams260K.gguf")));
}

TEST(GgufWriter, CopiedAlignmentAlsoSetsTheLayout) {
  bottega::testing::TempDir dir;
  Writer first;
  first.set_alignment(256);
  first.set("x", Value::u32(1));
  first.write(dir / "first.gguf");
  const File source = File::open(dir / "first.gguf");

  Writer second;
  second.copy_metadata(source);
  second.add_tensor("t", TensorType::F32, {3}, pattern(12, 1));
  const File copy = write_and_open(second, dir);
  EXPECT_EQ(copy.alignment(), 256u);
  EXPECT_EQ(copy.data_offset() % 256, 0u);
  EXPECT_EQ(copy.get_int("x"), 1);
}

TEST(GgufWriter, RejectsDataOfTheWrongSize) {
  Writer writer;
  try {
    writer.add_tensor("t", TensorType::F32, {4, 2}, pattern(31, 0));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'t'"), std::string::npos) << message;
    EXPECT_NE(message.find("31 bytes"), std::string::npos) << message;
    EXPECT_NE(message.find("32"), std::string::npos) << message;
  }
  EXPECT_THROW(writer.add_tensor_view("t", TensorType::Q4_0, {32}, pattern(17, 0)), Error);
}

TEST(GgufWriter, RejectsBadShapesTypesAndNames) {
  Writer writer;
  EXPECT_THROW(writer.add_tensor("t", TensorType::Q4_0, {33}, pattern(18, 0)), Error);
  EXPECT_THROW(writer.add_tensor("t", TensorType::F32, {0}, {}), Error);
  EXPECT_THROW(writer.add_tensor("t", TensorType::F32, {1, 1, 1, 1, 1}, pattern(4, 0)), Error);
  EXPECT_THROW(writer.add_tensor("t", static_cast<TensorType>(4), {1}, pattern(4, 0)), Error);
  writer.add_tensor("t", TensorType::F32, {1}, pattern(4, 0));
  EXPECT_THROW(writer.add_tensor("t", TensorType::F32, {1}, pattern(4, 0)), Error);
}

TEST(GgufWriter, RejectsMalformedArrays) {
  Writer writer;
  EXPECT_THROW(writer.set("mixed", array(ValueType::kUint32, {Value::u32(1), Value::i32(2)})),
               Error);
  Value deep = Value::i32s({});
  for (int i = 1; i < 8; ++i) deep = array(ValueType::kArray, {deep});
  EXPECT_NO_THROW(writer.set("deep8", deep));
  EXPECT_THROW(writer.set("deep9", array(ValueType::kArray, {deep})), Error);
}

TEST(GgufWriter, ReplacesAnExistingFile) {
  bottega::testing::TempDir dir;
  Writer writer;
  writer.set("v", Value::u32(1));
  writer.write(dir / "out.gguf");
  writer.set("v", Value::u32(2));
  writer.write(dir / "out.gguf");
  EXPECT_EQ(File::open(dir / "out.gguf").get_int("v"), 2);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(GgufWriter, FailureNamesThePathAndTheReason) {
  bottega::testing::TempDir dir;
  Writer writer;
  writer.set("v", Value::u32(1));
  const fs::path missing = dir / "no-such-dir" / "out.gguf";
  try {
    writer.write(missing);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
    EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
  }
}

TEST(GgufWriter, FailedRenameLeavesNoTemporaryFile) {
  bottega::testing::TempDir dir;
  fs::create_directory(dir / "target");
  fs::create_directory(dir / "target" / "occupied");  // a non-empty directory cannot be replaced
  Writer writer;
  writer.add_tensor("t", TensorType::F32, {2}, pattern(8, 0));
  try {
    writer.write(dir / "target");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target"), std::string::npos) << e.what();
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"target"});
}

}  // namespace
}  // namespace bottega::gguf
