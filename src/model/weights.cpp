#include "model/weights.h"

#include <algorithm>
#include <exception>
#include <map>
#include <sstream>
#include <thread>
#include <utility>

#include "core/error.h"
#include "core/thread_pool.h"

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

std::vector<std::unique_ptr<uint8_t[]>> interleave_for_cpu(
    const gguf::File& file, const std::vector<kernels::WeightMatrix*>& matrices) {
  // First decide what to convert (each tensor once), then convert on every core: conversion and
  // the page faults of the new buffers dominate load time.
  struct Job {
    kernels::WeightMatrix* target;
    kernels::WeightMatrix stored;
    uint8_t* buffer;
  };
  std::vector<std::unique_ptr<uint8_t[]>> buffers;
  std::vector<Job> jobs;
  std::map<const uint8_t*, size_t> job_of_tensor;  // shared tensors (a tied head) convert once
  std::vector<std::pair<kernels::WeightMatrix*, size_t>> sharers;
  for (kernels::WeightMatrix* w : matrices) {
    if (w->data == nullptr) continue;
    if (const auto it = job_of_tensor.find(w->data); it != job_of_tensor.end()) {
      sharers.emplace_back(w, it->second);
      continue;
    }
    if (!kernels::prefers_interleaved(*w)) continue;
    buffers.emplace_back(new uint8_t[kernels::interleaved_bytes(*w)]);
    job_of_tensor.emplace(w->data, jobs.size());
    jobs.push_back({w, *w, buffers.back().get()});
  }
  const auto n_threads = static_cast<size_t>(std::max(1, default_thread_count()));
  std::vector<std::exception_ptr> errors(n_threads);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (size_t i = t; i < jobs.size(); i += n_threads) {
          const Job& job = jobs[i];
          *job.target = kernels::interleave(job.stored, job.buffer);
          file.release(
              {job.stored.data, job.stored.row_stride() * static_cast<size_t>(job.stored.n_out)});
        }
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  for (const auto& [w, job] : sharers) *w = *jobs[job].target;
  return buffers;
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
