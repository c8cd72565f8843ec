#include "model/weights.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "core/error.h"

namespace bottega {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

// GGUF drops trailing dimensions of size 1, so [64] and [64, 1] are the same shape.
bool same_shape(std::vector<int64_t> a, std::vector<int64_t> b) {
  while (a.size() > 1 && a.back() == 1) a.pop_back();
  while (b.size() > 1 && b.back() == 1) b.pop_back();
  return a == b;
}

}  // namespace

void bind_weights(const gguf::File& file, const std::vector<WeightSpec>& specs) {
  for (const WeightSpec& spec : specs) {
    const gguf::TensorInfo* info = file.find_tensor(spec.name);
    if (info == nullptr) {
      if (!spec.required) continue;
      throw Error(str(file.name(), ": tensor '", spec.name, "' is missing; the file is incomplete ",
                      "or was written for another architecture"));
    }
    if (!same_shape(info->shape, spec.shape)) {
      throw Error(str(file.name(), ": tensor '", spec.name, "' has shape ", shape_text(info->shape),
                      " but the model's hyper-parameters require ", shape_text(spec.shape)));
    }
    if (!is_computable(info->type)) {
      throw Error(str(file.name(), ": tensor '", spec.name, "' has type ", type_name(info->type),
                      ", which bottega cannot compute with yet; convert the model with "
                      "`bottega quantize` to a supported type (F16, BF16, Q8_0, Q4_0, Q4_K, ...)"));
    }
    const auto data = file.tensor_data(*info);
    spec.target->type = info->type;
    spec.target->n_in = info->shape[0];
    spec.target->n_out = info->n_elements() / info->shape[0];
    spec.target->data = data.data();
  }
}

int64_t require_positive(const gguf::File& file, const std::string& key) {
  const std::optional<int64_t> value = file.get_int(key);
  if (!value) throw Error(str(file.name(), ": metadata key '", key, "' is missing"));
  if (*value <= 0)
    throw Error(
        str(file.name(), ": metadata key '", key, "' is ", *value, ", expected a positive number"));
  return *value;
}

}  // namespace bottega
