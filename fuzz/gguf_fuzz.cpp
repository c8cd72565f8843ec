// libFuzzer target for the GGUF reader: any input must either parse or be rejected with an Error,
// never crash, read out of bounds or allocate without limit. On success every value and every
// tensor byte is touched, so that a span the parser got wrong shows up under ASan.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "gguf/gguf.h"

namespace {

using bottega::gguf::Array;
using bottega::gguf::File;
using bottega::gguf::TensorInfo;
using bottega::gguf::Value;

// Folds a value into `sum` through every accessor, recursing into arrays.
void touch(const Value& value, uint64_t& sum) {
  sum += static_cast<uint64_t>(value.type());
  if (auto v = value.as_int()) sum += static_cast<uint64_t>(*v);
  if (auto v = value.as_float()) sum += static_cast<uint64_t>(*v == *v);  // NaN-safe
  if (auto v = value.as_bool()) sum += *v ? 1 : 0;
  if (const std::string* s = value.as_string()) {
    for (char c : *s) sum += static_cast<unsigned char>(c);
  }
  if (const Array* array = value.as_array()) {
    for (const Value& element : array->elements) {
      // The parser must never produce an array whose elements disagree with its element type.
      if (element.type() != array->element_type) std::abort();
      touch(element, sum);
    }
  }
}

void touch_tensor(const File& file, const TensorInfo& info, uint64_t& sum) {
  if (file.find_tensor(info.name) != &info) std::abort();  // names are unique
  if (info.offset % file.alignment() != 0) std::abort();
  const std::span<const uint8_t> data = file.tensor_data(info);
  if (data.size() != info.n_bytes) std::abort();
  for (uint8_t byte : data) sum += byte;
  sum += static_cast<uint64_t>(info.n_elements());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const File file = File::parse({data, size}, "fuzz");
    if (file.data_offset() % file.alignment() != 0) std::abort();
    uint64_t sum = 0;
    for (const auto& kv : file.metadata()) {
      if (file.find(kv.key) != &kv.value) std::abort();  // keys are unique
      touch(kv.value, sum);
    }
    for (const TensorInfo& info : file.tensors()) touch_tensor(file, info, sum);
    // Keeps the reads above from being optimised away.
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const bottega::Error&) {
    // Rejecting the input is the expected outcome for almost all of them.
  }
  return 0;
}
