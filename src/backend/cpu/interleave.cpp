#include "backend/cpu/interleave.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <map>
#include <thread>
#include <utility>

#include "core/thread_pool.h"
#include "kernels/cpu/matmul.h"

namespace bottega::backend::cpu {
namespace {

constexpr size_t kAlignment = 64;  // each matrix starts on a cache line

// Copies a tensor a few MB at a time, releasing each part's pages of the mapping once copied, so
// a large tensor (a tied F16 head) is not resident twice while it is copied.
void copy_releasing(const gguf::File* file, const uint8_t* from, size_t bytes, uint8_t* to) {
  constexpr size_t kPart = size_t{4} << 20;
  for (size_t offset = 0; offset < bytes; offset += kPart) {
    const size_t n = std::min(kPart, bytes - offset);
    std::memcpy(to + offset, from + offset, n);
    if (file != nullptr) file->release({from + offset, n});
  }
}

}  // namespace

HostMemory copy_for_cpu(const gguf::File* file, const std::vector<WeightMatrix*>& matrices,
                        bool f16_as_bf16) {
  // First decide what to convert (each tensor once), then convert on every core: conversion and
  // the page faults of the new buffers dominate load time.
  struct Job {
    WeightMatrix* target;
    WeightMatrix stored;
    size_t stored_bytes;  // of the tensor in the file
    bool interleave;      // else copied as stored
    bool to_bf16;         // F16 rounded to BF16 as it is interleaved
    size_t offset;        // into the one region every matrix is copied to
  };
  std::vector<Job> jobs;
  size_t total = 0;
  std::map<const uint8_t*, size_t> job_of_tensor;  // shared tensors (a tied head) convert once
  std::vector<std::pair<WeightMatrix*, size_t>> sharers;
  for (WeightMatrix* w : matrices) {
    if (w->data == nullptr) continue;
    if (const auto it = job_of_tensor.find(w->data); it != job_of_tensor.end()) {
      sharers.emplace_back(w, it->second);
      continue;
    }
    const size_t stored_bytes = w->row_stride() * static_cast<size_t>(w->n_out);
    const bool interleave = kernels::prefers_interleaved(*w);
    const bool to_bf16 =
        f16_as_bf16 && interleave && w->type == TensorType::F16 && kernels::bf16_dot_products();
    const size_t bytes = interleave ? kernels::interleaved_bytes(*w) : stored_bytes;
    job_of_tensor.emplace(w->data, jobs.size());
    jobs.push_back({w, *w, stored_bytes, interleave, to_bf16, total});
    total += (bytes + kAlignment - 1) / kAlignment * kAlignment;
  }
  HostMemory memory(total);
  const auto n_threads = static_cast<size_t>(std::max(1, default_thread_count()));
  std::vector<std::exception_ptr> errors(n_threads);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (size_t i = t; i < jobs.size(); i += n_threads) {
          const Job& job = jobs[i];
          uint8_t* buffer = memory.data() + job.offset;
          if (job.interleave) {
            *job.target = job.to_bf16 ? kernels::interleave_as_bf16(job.stored, buffer)
                                      : kernels::interleave(job.stored, buffer);
            if (file != nullptr) file->release({job.stored.data, job.stored_bytes});
          } else {
            copy_releasing(file, job.stored.data, job.stored_bytes, buffer);
            job.target->data = buffer;
          }
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
  return memory;
}

}  // namespace bottega::backend::cpu
